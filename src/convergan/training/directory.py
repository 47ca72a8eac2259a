"""A run directory as an object: every command that opens a run goes through it.

Layout of ``out_dir``::

    config.yaml            the resolved config (re-read by ``convergan resume``)
    run.json               what the run was built from: the data's sample shape and classes
    outcome.json           how training ended: {"status": "done" | "diverged", "error": ...};
                           absent while a run trains (or was killed)
    checkpoints/           step-XXXXXXXX.pt, atomic, last N kept (+ every keep_every)
    metrics.jsonl          one JSON object per log/eval (see convergan.training.metrics_log)
    tensorboard/           TensorBoard event files with the same scalars
    samples/               step-XXXXXXXX.png: fixed-noise samples
    .lock                  held (flock) by the process that writes the run; names it

Training writes through it; ``resume``, ``eval``, ``sample``, ``spectrum``, ``path-angle``,
sweeps and reports read through it. ``run.json`` is written when training starts, so no reader
loads a dataset to learn the players' shape (runs older than ``run.json`` fall back to the
problem, which reads the data once).

**One rule for checkpoints**: a corrupt, truncated or unsafe file is skipped with a warning
when the newest checkpoint is asked for (the previous one is used); asked for by step, it is a
one-line :class:`~convergan.checkpoint.CheckpointError`. A checkpoint whose tensors do not fit
the config's players (another architecture) is a one-line ``CheckpointError`` too.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor, nn

from convergan.checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from convergan.field import ParameterLayout
from convergan.files import write_text
from convergan.models.players import Players, make_players
from convergan.problems import DataInfo, make_problem
from convergan.training.ema import generator_weights
from convergan.training.lock import RunLock
from convergan.training.metrics_log import METRICS_FILE, MetricsLog, metrics_by_step

CONFIG_FILE, INFO_FILE, CHECKPOINTS = "config.yaml", "run.json", "checkpoints"
OUTCOME_FILE = "outcome.json"
OUTCOMES = ("done", "diverged")
LOG_ENTRIES = (METRICS_FILE, "tensorboard", "samples")


class RunDirectory:
    """The folder of one run. ``config`` may be given (a run being created); otherwise it is
    read from ``config.yaml`` on first use."""

    def __init__(self, path: str | Path, config=None) -> None:
        self.path = Path(path)
        self._config = config
        self._loaded: tuple[int, dict] | None = None  # the checkpoint latest_step just read
        self.lock = RunLock(self.path)

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        """An existing run; one-line ``FileNotFoundError`` when ``path`` is not one."""
        run = cls(path)
        if not (run.path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{run.path} is not a run directory (no {CONFIG_FILE})")
        return run

    # -- config and data ---------------------------------------------------------------
    @property
    def config(self):
        if self._config is None:
            from convergan.config import load_config

            self._config = load_config(self.path / CONFIG_FILE)
        return self._config

    def write_config(self, config) -> None:
        from convergan.config import save_config

        self._config = config
        save_config(config, self.path / CONFIG_FILE)

    def record_info(self, info: DataInfo) -> None:
        """Write ``run.json`` atomically (temp file, rename)."""
        write_text(self.path / INFO_FILE, json.dumps(info.to_dict(), indent=1) + "\n")

    def record_outcome(self, status: str, error: str | None = None) -> None:
        """How training ended (``done`` or ``diverged``, with the error), atomically: what a
        report of the run says of it, as a sweep's ``cell.json`` does for its cells."""
        record = {"status": status, "error": error, "step": self.latest_step()}
        write_text(self.path / OUTCOME_FILE, json.dumps(record, indent=1) + "\n")

    def clear_outcome(self) -> None:
        """Training (re)starts: the run has no outcome until it ends."""
        (self.path / OUTCOME_FILE).unlink(missing_ok=True)

    def outcome(self) -> dict | None:
        """``{"status", "error", "step"}`` of a run whose training ended; ``None`` while it
        trains, after a kill, for runs older than ``outcome.json`` or a damaged file."""
        try:
            record = json.loads((self.path / OUTCOME_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("status") not in OUTCOMES:
            return None
        return record

    @cached_property
    def info(self) -> DataInfo:
        """The data shape and classes recorded at training time."""
        path = self.path / INFO_FILE
        if path.is_file():
            try:
                return DataInfo.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError):
                pass  # damaged: ask the problem, as for runs from before run.json
        return make_problem(self.config).info()

    def players(self, state: dict | None = None) -> Players:
        """The config's players; with a checkpoint ``state``, holding its weights and buffers."""
        info = self.info
        players = make_players(self.config, info.shape, info.num_classes, info.float64)
        if state is not None:
            assign_players(players, state)
        return players

    # -- checkpoints -------------------------------------------------------------------
    @cached_property
    def checkpoints(self) -> CheckpointManager:
        train = self.config.train
        return CheckpointManager(self.path / CHECKPOINTS, train.keep_last, train.keep_every)

    def steps(self) -> list[int]:
        """The steps of the checkpoint files, oldest first (valid or not)."""
        return [
            CheckpointManager.step_of(p) for p in CheckpointManager(self.path / CHECKPOINTS).list()
        ]

    def latest_step(self, loadable: bool = False) -> int | None:
        """The newest checkpoint's step; ``loadable``: the newest that loads, skipping a
        corrupt or truncated newest file with a warning (the rule of :meth:`load`), so every
        command that starts from "the latest checkpoint" starts from the same one."""
        steps = self.steps()
        if not loadable or not steps:
            return steps[-1] if steps else None
        manager = CheckpointManager(self.path / CHECKPOINTS)
        for step in reversed(steps):
            try:
                self._loaded = (step, load_checkpoint(manager.path_for(step), "cpu"))
                return step
            except CheckpointError as error:
                warnings.warn(
                    f"skipping unreadable checkpoint: {error}", RuntimeWarning, stacklevel=2
                )
        raise CheckpointError(
            f"no loadable checkpoint in {manager.directory} ({len(steps)} corrupt)"
        )

    def load(self, step: int | None = None, map_location="cpu") -> tuple[int, dict]:
        """``(step, state)``: the newest loadable checkpoint, or the one of ``step``."""
        manager = CheckpointManager(self.path / CHECKPOINTS)
        loaded, self._loaded = self._loaded, None
        if loaded is not None and loaded[0] == step and str(map_location) == "cpu":
            return loaded  # read by latest_step(loadable=True) just before
        if step is None:
            if manager.latest() is None:
                raise FileNotFoundError(f"{self.path} has no checkpoints")
            return manager.load_latest(map_location)
        steps = self.steps()
        if step not in steps:
            shown = ", ".join(map(str, steps[-8:])) or "none"
            raise CheckpointError(f"{self.path} has no checkpoint for step {step} (has {shown})")
        return step, load_checkpoint(manager.path_for(step), map_location)

    def generator_params(self, state: dict, use_ema: bool = True) -> Tensor:
        """The checkpoint's generator parameters: the EMA's when kept and asked for."""
        return generator_weights(self.config, state["theta"], state["ema"]["average"], use_ema)

    def generator_buffers(self, state: dict, use_ema: bool = True) -> dict | None:
        """The EMA's averaged buffers (BatchNorm statistics) when the EMA generator is used and
        the checkpoint has them; ``None`` means the module's own (the saved live) buffers."""
        if not (use_ema and self.config.ema.enabled):
            return None
        return state["ema"].get("buffers") or None

    # -- logs --------------------------------------------------------------------------
    def metrics(self) -> list[dict]:
        """``metrics.jsonl`` as one row per step (see :mod:`~convergan.training.metrics_log`)."""
        return metrics_by_step(self.path / METRICS_FILE)

    def open_log(self, resumed_at: int | None = None) -> MetricsLog:
        return MetricsLog(self.path, resumed_at=resumed_at)

    def clear_logs(self) -> None:
        """Remove the logs of an earlier attempt that stopped before its first checkpoint."""
        leftovers = [self.path / name for name in LOG_ENTRIES if (self.path / name).exists()]
        if leftovers:
            print(
                f"note: {self.path} holds logs of a run without checkpoints; starting afresh",
                file=sys.stderr,
            )
        for path in leftovers:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def module_buffers(module: nn.Module) -> dict[str, Tensor]:
    """The module's buffers (BatchNorm statistics, ...) for a checkpoint."""
    return {name: b.detach().cpu().clone() for name, b in module.named_buffers()}


def load_module_buffers(module: nn.Module, saved: dict | None) -> None:
    if not saved:
        return
    with torch.no_grad():
        for name, b in module.named_buffers():
            if name in saved:
                b.copy_(saved[name])


def check_fits(players: Players, state: dict) -> None:
    """One line when a checkpoint's flat parameters do not fit the players."""
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
    check_fits(players, state)
    ParameterLayout(players.generator).assign(state["theta"])
    ParameterLayout(players.discriminator).assign(state["psi"])
    load_module_buffers(players.generator, state.get("generator_buffers"))
    load_module_buffers(players.discriminator, state.get("discriminator_buffers"))
