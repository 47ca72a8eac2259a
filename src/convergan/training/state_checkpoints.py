"""A training state to and from the run's checkpoints, with what is saved beside it.

A checkpoint holds the :class:`~convergan.training.state.TrainingState`, the players' buffers
(BatchNorm statistics) and the reporter's values pending since the last log, so the first log
after a resume averages the same steps as an uninterrupted run. Only the main process writes;
every process restores (the same file), after the resume rules
(:mod:`convergan.training.resume_rules`) and the players' sizes are checked. A reader that
only needs the players at a checkpoint (an evaluation, a spectrum) puts its weights and
buffers into them with :func:`assign_players`, under the same size check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from convergan.config.schema import Config
from convergan.models.players import Players
from convergan.training.resume_rules import check_resume_config
from convergan.training.state import TrainingState

if TYPE_CHECKING:  # the directory builds players through assign_players: no import cycle
    from convergan.training.directory import RunDirectory


class StateCheckpoints:
    """Saves and restores a run's :class:`TrainingState` in ``directory``'s checkpoints."""

    def __init__(self, directory: RunDirectory, players: Players, dist) -> None:
        self.directory, self.players, self.dist = directory, players, dist

    def save(self, state: TrainingState, reports: dict | None = None) -> None:
        """Rank 0 writes ``state``, the players' buffers and the reporter's pending values."""
        if self.dist.is_main:
            state.world_size = self.dist.world_size
            saved = state.checkpoint()
            saved["generator_buffers"] = module_buffers(self.players.generator)
            saved["discriminator_buffers"] = module_buffers(self.players.discriminator)
            if reports is not None:
                saved["reporter"] = reports
            self.directory.checkpoints.save(state.step, saved)

    def restore(self, state: TrainingState, config: Config) -> tuple[int, dict | None]:
        """Load the latest checkpoint into ``state`` and the players' buffers, once ``config``
        passes the resume rules against the saved one; returns its step and the reporter's
        values pending when it was written."""
        step, saved = self.directory.checkpoints.load_latest()
        check_resume_config(
            self.directory.saved_config(), config, saved.get("world_size"), self.dist.world_size
        )
        check_fits(self.players, saved)
        state.load(saved, self.dist.device)
        _load_players_buffers(self.players, saved)
        return step, saved.get("reporter")


def module_buffers(module: nn.Module) -> dict[str, Tensor]:
    """The module's buffers (BatchNorm statistics, ...) for a checkpoint."""
    return {name: b.detach().cpu().clone() for name, b in module.named_buffers()}


def load_module_buffers(module: nn.Module, saved: dict | None) -> None:
    """Copy the buffers :func:`module_buffers` saved into ``module`` (none saved: keep its own)."""
    if not saved:
        return
    import torch

    with torch.no_grad():
        for name, b in module.named_buffers():
            if name in saved:
                b.copy_(saved[name])


def _load_players_buffers(players: Players, saved: dict) -> None:
    load_module_buffers(players.generator, saved.get("generator_buffers"))
    load_module_buffers(players.discriminator, saved.get("discriminator_buffers"))


def check_fits(players: Players, state: dict) -> None:
    """One line when a checkpoint's flat parameters do not fit the players."""
    from convergan.checkpoint import CheckpointError
    from convergan.field import ParameterLayout

    for name, module, key in (
        ("generator", players.generator, "theta"),
        ("discriminator", players.discriminator, "psi"),
    ):
        expected, saved = ParameterLayout(module).size, state[key].numel()
        if expected != saved:
            raise CheckpointError(
                f"the checkpoint's {name} has {saved} parameters but the config's model has "
                f"{expected}: it was written by another architecture or model size"
            )


def assign_players(players: Players, state: dict) -> None:
    """Copy a checkpoint's weights and buffers into ``players`` (checked to fit)."""
    from convergan.field import ParameterLayout

    check_fits(players, state)
    ParameterLayout(players.generator).assign(state["theta"])
    ParameterLayout(players.discriminator).assign(state["psi"])
    _load_players_buffers(players, state)
