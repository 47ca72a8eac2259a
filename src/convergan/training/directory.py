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
                           (convergan.training.lock)
    cell.json, error.txt   a sweep's record of the cell (convergan.studies.cells)
    verdict/               the verdict's saved parts (convergan.runs.verdict_store)

**The only door to a run**: training writes through it; ``resume``, ``eval``, ``sample``,
``spectrum``, ``path-angle``, ``verdict``, sweeps and reports read through it, and no other
module names a file of the layout (a test reads the sources for such names). The modules
that own a file's *format* (the cell record, the verdict's parts, the metrics log) take its
path from here. A training-loop monitor's folder (:mod:`convergan.training.monitor_folder`)
holds a run's logs only and is read through this class too. Opening one imports no torch
(a sweep's controller and ``report`` read runs through it); what loads tensors imports torch
on first use. ``run.json`` is written when training starts, so no reader loads a dataset to
learn the players' shape (runs older than ``run.json`` fall back to the problem, which reads
the data once).

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
from typing import TYPE_CHECKING

from convergan.files import write_text
from convergan.training.lock import RunLock
from convergan.training.metrics_log import MetricsLog, last_step, metrics_by_step

if TYPE_CHECKING:  # torch only where tensors are loaded (see the module's docstring)
    from torch import Tensor

    from convergan.checkpoint import CheckpointManager
    from convergan.models.players import Players
    from convergan.problems import DataInfo

CONFIG_FILE, INFO_FILE, OUTCOME_FILE = "config.yaml", "run.json", "outcome.json"
METRICS_FILE, TENSORBOARD, SAMPLES = "metrics.jsonl", "tensorboard", "samples"
CHECKPOINTS, VERDICT_FOLDER = "checkpoints", "verdict"
CELL_FILE, CELL_ERROR_FILE = "cell.json", "error.txt"
# What every training checkpoint holds (TrainingState.checkpoint) and its readers take: a file
# without them under a checkpoint's name is foreign, skipped as a corrupt one is.
CHECKPOINT_KEYS = ("step", "samples_seen", "theta", "psi", "has_scheme_state", "ema", "sampler",
                   "rng")  # fmt: skip
OUTCOMES = ("done", "diverged")
LOG_ENTRIES = (METRICS_FILE, TENSORBOARD, SAMPLES)
RUN_FILE_NAMES = (CONFIG_FILE, INFO_FILE, OUTCOME_FILE, METRICS_FILE, TENSORBOARD, SAMPLES,
                  CHECKPOINTS, VERDICT_FOLDER, CELL_FILE, CELL_ERROR_FILE)  # fmt: skip
"""Every name of the layout: no module but this one builds a path from them."""


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
        if not run.is_run():
            raise FileNotFoundError(f"{run.path} is not a run directory (no {CONFIG_FILE})")
        return run

    def is_run(self) -> bool:
        """Whether the folder holds a run (its ``config.yaml``): not a monitor's log folder."""
        return (self.path / CONFIG_FILE).is_file()

    # -- config and data ---------------------------------------------------------------
    @property
    def config(self):
        if self._config is None:
            from convergan.config import load_config

            self._config = load_config(self.path / CONFIG_FILE)
        return self._config

    @property
    def config_file(self) -> Path:
        """``config.yaml``, for a command that loads it with overrides (``resume``)."""
        return self.path / CONFIG_FILE

    def saved_config(self):
        """The config on disk (``None`` when there is none), whatever config this object was
        given: what a ``resume`` compares its own with."""
        if not self.is_run():
            return None
        from convergan.config import load_config

        return load_config(self.path / CONFIG_FILE)

    def config_record(self) -> dict | None:
        """``config.yaml`` as the plain mapping it holds, unvalidated (a report reads the
        configs of older versions too); ``None`` when absent or unreadable."""
        import yaml

        try:
            return yaml.safe_load((self.path / CONFIG_FILE).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return None

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
                from convergan.problems import DataInfo

                return DataInfo.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError):
                pass  # damaged: ask the problem, as for runs from before run.json
        from convergan.problems import make_problem

        return make_problem(self.config).info()

    def players(self, state: dict | None = None) -> Players:
        """The config's players; with a checkpoint ``state``, holding its weights and buffers."""
        from convergan.models.players import make_players
        from convergan.training.state_checkpoints import assign_players

        info = self.info
        players = make_players(self.config, info.shape, info.num_classes, info.float64)
        if state is not None:
            assign_players(players, state)
        return players

    # -- checkpoints -------------------------------------------------------------------
    @cached_property
    def checkpoints(self) -> CheckpointManager:
        from convergan.checkpoint import CheckpointManager

        train = self.config.train
        return CheckpointManager(
            self.path / CHECKPOINTS, train.keep_last, train.keep_every, CHECKPOINT_KEYS
        )

    def steps(self) -> list[int]:
        """The steps of the checkpoint files, oldest first (valid or not)."""
        from convergan.checkpoint import CheckpointManager

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
        from convergan.checkpoint import CheckpointError, CheckpointManager, load_checkpoint

        manager = CheckpointManager(self.path / CHECKPOINTS)
        for step in reversed(steps):
            try:
                state = load_checkpoint(manager.path_for(step), "cpu", CHECKPOINT_KEYS)
                self._loaded = (step, state)
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
        from convergan.checkpoint import CheckpointError, CheckpointManager, load_checkpoint

        manager = CheckpointManager(self.path / CHECKPOINTS, required=CHECKPOINT_KEYS)
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
        return step, load_checkpoint(manager.path_for(step), map_location, CHECKPOINT_KEYS)

    def generator_params(self, state: dict, use_ema: bool = True) -> Tensor:
        """The checkpoint's generator parameters: the EMA's when kept and asked for."""
        from convergan.training.ema import generator_weights

        return generator_weights(self.config, state["theta"], state["ema"]["average"], use_ema)

    def generator_buffers(self, state: dict, use_ema: bool = True) -> dict | None:
        """The EMA's averaged buffers (BatchNorm statistics) when the EMA generator is used and
        the checkpoint has them; ``None`` means the module's own (the saved live) buffers."""
        if not (use_ema and self.config.ema.enabled):
            return None
        return state["ema"].get("buffers") or None

    # -- logs --------------------------------------------------------------------------
    def has_metrics(self) -> bool:
        """Whether the folder holds a metrics log (a run's, or a monitor's)."""
        return (self.path / METRICS_FILE).is_file()

    def metrics(self) -> list[dict]:
        """``metrics.jsonl`` as one row per step (see :mod:`~convergan.training.metrics_log`)."""
        return metrics_by_step(self.path / METRICS_FILE)

    def logged_metrics(self) -> list[dict]:
        """:meth:`metrics`, or a one-line ``FileNotFoundError`` when there is no log."""
        if not self.has_metrics():
            raise FileNotFoundError(f"{self.path} has no {METRICS_FILE}")
        return self.metrics()

    def last_logged_step(self) -> int | None:
        """The step of the log's last valid record, read from its tail (logs grow long)."""
        return last_step(self.path / METRICS_FILE)

    def open_log(self, resumed_at: int | None = None, tensorboard: bool = True) -> MetricsLog:
        """The metrics log, appended to (``resumed_at``: records after it are dropped)."""
        return MetricsLog(
            self.path / METRICS_FILE,
            self.path / TENSORBOARD if tensorboard else None,
            resumed_at=resumed_at,
        )

    def sample_image(self, step: int, suffix: str = "") -> Path:
        """Where the fixed-noise samples of ``step`` go (``suffix``: ``-raw`` for the raw
        generator's)."""
        return self.path / SAMPLES / f"step-{step:08d}{suffix}.png"

    def sample_images(self) -> list[Path]:
        """The EMA (or only) generator's sample images, oldest first."""
        folder = self.path / SAMPLES
        return sorted(p for p in folder.glob("step-*.png") if "raw" not in p.name)

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

    # -- files other modules own the format of -----------------------------------------
    @property
    def cell_file(self) -> Path:
        """A sweep's record of the cell this run is (:mod:`convergan.studies.cells`)."""
        return self.path / CELL_FILE

    @property
    def cell_error_file(self) -> Path:
        """The traceback of a sweep's cell that failed."""
        return self.path / CELL_ERROR_FILE

    @property
    def verdict_folder(self) -> Path:
        """The verdict's saved parts (:mod:`convergan.runs.verdict_store`)."""
        return self.path / VERDICT_FOLDER
