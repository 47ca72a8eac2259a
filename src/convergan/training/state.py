"""What changes during training and goes into a checkpoint: :class:`TrainingState`.

The flat parameters of both players, the scheme's and the optimizers' states, the EMA, the
data stream's position, the RNG and where the next convergence-diagnostics look measures its
displacement from. :meth:`TrainingState.checkpoint` gives the saved mapping (CPU tensors) and
:meth:`TrainingState.load` puts one back, so a resumed run continues bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from convergan.checkpoint import rng_state, set_rng_state
from convergan.field import State


@dataclass
class TrainingState:
    """Everything that changes during training and goes into a checkpoint."""

    step: int
    x: State  # (generator, discriminator) flat parameters
    scheme_state: object | None  # SchemeState: the scheme's tensors and the optimizers' states
    ema: object
    sampler: object
    samples_seen: int = 0
    world_size: int = 1
    # (step, flat parameters) of the last convergence-diagnostics look (or of the start): what
    # the next look's displacement is measured from (convergan.training.diagnostics).
    diagnostics_from: tuple[int, Tensor] | None = None

    def checkpoint(self) -> dict:
        return {
            "step": self.step,
            "world_size": self.world_size,
            "samples_seen": self.samples_seen,
            "theta": self.x[0].detach().cpu(),
            "psi": self.x[1].detach().cpu(),
            "has_scheme_state": self.scheme_state is not None,
            "scheme_state": _to_device(_scheme_state_dict(self.scheme_state), "cpu"),
            "ema": _to_device(self.ema.state_dict(), "cpu"),
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(),
            "diagnostics_from": self._diagnostics_from_dict(),
        }

    def _diagnostics_from_dict(self) -> dict | None:
        """The last look's step, and its parameters unless they are this state's own (a
        checkpoint at a diagnostics step, the default, stores no second copy)."""
        if self.diagnostics_from is None:
            return None
        step, x = self.diagnostics_from
        return {"step": step, "x": None if step == self.step else x.detach().cpu()}

    def load(self, saved: dict, device) -> None:
        self.ema.load_state_dict(saved["ema"])
        try:  # identical on every process; any process count with the same global batch
            self.sampler.load_state_dict(saved["sampler"])
        except ValueError as error:
            from convergan.config import ConfigError

            raise ConfigError(
                f"data.batch_size: cannot continue the data stream ({error}); keep "
                "data.batch_size x processes equal to the checkpoint's global batch"
            ) from None
        set_rng_state(saved["rng"])
        self.step, self.samples_seen = int(saved["step"]), int(saved["samples_seen"])
        self.x = (saved["theta"].to(device), saved["psi"].to(device))
        self.scheme_state = None
        if saved["has_scheme_state"]:
            from convergan.schemes import SchemeState

            state = _to_device(saved["scheme_state"], device)
            self.scheme_state = SchemeState(tuple(state["own"]), tuple(state["moves"]))
        look = saved.get("diagnostics_from")  # absent from checkpoints of older versions
        self.diagnostics_from = None
        if look is not None:
            x = torch.cat(self.x) if look["x"] is None else look["x"].to(device)
            self.diagnostics_from = (int(look["step"]), x)


def _scheme_state_dict(state) -> dict | None:
    """A :class:`~convergan.schemes.SchemeState` as checkpointable containers: the scheme's
    own tensors and each player's optimizer state (a dict of tensors and a step count)."""
    if state is None:
        return None
    return {"own": list(state.own), "moves": list(state.moves)}


def _to_device(value, device):
    """``value`` (nested dicts, lists, tuples, tensors) with every tensor on ``device``."""
    if isinstance(value, Tensor):
        return value.detach().to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value
