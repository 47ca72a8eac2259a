"""A run being trained: its directory, its players and everything around the training step.

Only the main process writes, and only while it holds the directory's lock
(:mod:`convergan.training.lock`): a second ``train`` into the same ``out_dir`` or a ``resume`` of
a run that is still training is refused with one line naming the holder. The folder itself is
a :class:`~convergan.training.directory.RunDirectory`.

**Resume rules.** The keys in :data:`FIXED_ON_RESUME` shape the saved tensors or the data
stream, so ``resume`` refuses to change them (one line listing them); ``data.batch_size`` may
change only together with the number of processes, keeping the global batch. Rows of
``metrics.jsonl`` (and TensorBoard events) after the checkpoint's step, written by the attempt
that crashed, are dropped when the run resumes (under the lock), so every step is logged once.
The reporter's values since the last log are part of the checkpoint, so the first log after a
resume averages the same steps as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from convergan.checkpoint import rng_state, set_rng_state
from convergan.config.schema import Config
from convergan.field import GENERATOR, DivergenceError, State
from convergan.models.players import Players
from convergan.problems import Problem
from convergan.training.batches import sample_latents
from convergan.training.callbacks import Callback, StepEvent
from convergan.training.directory import (
    RunDirectory,
    check_fits,
    load_module_buffers,
    module_buffers,
)
from convergan.training.ema import generator_weights
from convergan.training.generate import BoundModule, generate

FIXED_NOISE_SEED = 2018
FIXED_ON_RESUME = (
    "model",
    "data.name",
    "scheme.name",
    "scheme.g_steps",
    "scheme.d_steps",
    "optim.g.name",
    "optim.d.name",
    "ema.enabled",
)
"""Config keys (and sections) a ``resume`` may not change: the saved players, optimizer and
scheme states and the data stream depend on them."""


def fixed_labels(n: int, num_classes: int | None) -> Tensor | None:
    """Class labels for conditional sample grids: one class per row."""
    if not num_classes:
        return None
    side = max(1, int(n**0.5))
    return (torch.arange(n) // side) % num_classes


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


class Run:
    """A run in training: the directory, the players and the callbacks after each step."""

    def __init__(
        self,
        config: Config,
        dist,
        problem: Problem,
        players: Players,
        show_progress: bool,
        callbacks: Sequence[Callback] = (),
    ):
        self.config, self.dist, self.problem, self.players = config, dist, problem, players
        self.generator, self.discriminator = players.generator, players.discriminator
        self.directory = RunDirectory(config.out_dir, config)
        self.show_progress = show_progress and dist.is_main
        self.callbacks = list(callbacks)
        self.last_metrics: dict[str, float] = {}
        self._log = None
        self._carried_reports: dict | None = None  # the reporter's values saved at the checkpoint
        self.evaluator = None
        if dist.is_main:
            metrics = problem.requested_metrics(config.eval.metrics)
            self.evaluator = problem.evaluator(metrics, dist.device)

    @property
    def checkpoints(self):
        return self.directory.checkpoints

    # -- set-up ----------------------------------------------------------------------------
    def start(self) -> None:
        directory = self.directory
        if self.dist.is_main:
            directory.lock.acquire()  # creates the folder; one line if another run holds it
            if directory.latest_step() is not None:
                directory.lock.release()
                raise FileExistsError(
                    f"{directory.path} already holds a run; use "
                    f"`convergan resume {directory.path}` or choose another out_dir"
                )
            directory.clear_logs()
            directory.clear_outcome()
            directory.write_config(self.config)
            directory.record_info(self.problem_info)
        self._open_log()

    @property
    def problem_info(self):
        return self.problem.info()  # the data's, not the players' (unconditional: no classes)

    def restore(self, state: TrainingState) -> None:
        """Load the latest checkpoint into ``state`` and reopen the logs (dropping rows that a
        crashed attempt wrote after the checkpoint)."""
        directory = self.directory
        if self.dist.is_main:
            directory.lock.acquire()
        try:
            step, saved = directory.checkpoints.load_latest()
            check_resume_config(
                directory.path / "config.yaml",
                self.config,
                saved.get("world_size"),
                self.dist.world_size,
            )
            check_fits(self.players, saved)
            state.load(saved, self.dist.device)
            load_module_buffers(self.generator, saved.get("generator_buffers"))
            load_module_buffers(self.discriminator, saved.get("discriminator_buffers"))
            self._carried_reports = saved.get("reporter")
        except BaseException:
            directory.lock.release()
            raise
        if self.dist.is_main:
            directory.clear_outcome()
            directory.write_config(self.config)  # records new overrides
            directory.record_info(self.problem_info)
        self._open_log(resumed_at=step)

    def _open_log(self, resumed_at: int | None = None) -> None:
        if self.dist.is_main:
            self._log = self.directory.open_log(resumed_at)

    def close(self) -> None:
        """Close the logs and release the run directory (idempotent)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self.directory.lock.release()

    # -- around every step -----------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, start: int, total: int):
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=start,
            disable=not self.show_progress,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
        )
        try:
            yield bar
        except DivergenceError as error:
            # Say which checkpoint survives: none, when the run diverged before its first.
            error.last_checkpoint_step = self.directory.latest_step() if self.dist.is_main else None
            if self.dist.is_main:
                self.directory.record_outcome("diverged", str(error))
            raise
        else:
            if self.dist.is_main:
                self.directory.record_outcome("done")
        finally:
            bar.close()
            self.close()

    def after_step(
        self, state: TrainingState, reporter, *, scheduled: dict[str, float], bar, final: bool
    ) -> None:
        """The log of the reporter's values, then every callback, after ``state.step`` steps.
        ``scheduled``: the values of the config's schedules that the step just taken used
        (``schedule/<dotted key>``), logged with the reporter's."""
        step = state.step
        t = self.config.train
        bar.update(1)
        if self._carried_reports is not None:  # values reported before the checkpoint
            reporter.load_state_dict(self._carried_reports)
            self._carried_reports = None
        # A final log off the log_every grid (end of the budget) still leaves its values in
        # the checkpoint, so a later resume's first log averages what an uninterrupted run's
        # would have.
        pending = reporter.state_dict() if final and step % t.log_every else None
        if step % t.log_every == 0 or final:
            scalars = reporter.summary(average=self.dist.average)
            scalars.update(scheduled)
            scalars["progress/samples_seen"] = float(state.samples_seen)
            self._write(step, scalars, bar)
        reports = reporter.state_dict() if pending is None else pending
        event = StepEvent(step, final, state, self, reports)
        for callback in self.callbacks:
            scalars = callback(event)
            if scalars:
                self._write(step, scalars, bar)

    def _write(self, step: int, scalars: dict[str, float], bar) -> None:
        self.last_metrics.update(scalars)
        if self._log is not None:
            self._log.write(step, scalars)
        shown = {
            k.split("/")[-1]
            if k.startswith("eval/")
            else k.replace("discriminator/", "D_").replace("generator/", "G_"): v
            for k, v in self.last_metrics.items()
            if not k.startswith(("progress/", "schedule/", "eval/grad"))
        }
        bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)

    # -- what callbacks use ----------------------------------------------------------------
    def generator_params(self, x: State, ema) -> Tensor:
        return generator_weights(self.config, x[GENERATOR], ema.average)

    def evaluate(self, state: TrainingState) -> dict[str, float]:
        """The problem's metrics of the (EMA) generator at ``state``."""
        if self.evaluator is None:
            return {}
        params, device = self.generator_params(state.x, state.ema), self.dist.device

        def samples(latents: Tensor, labels: Tensor | None) -> Tensor:
            labels = None if labels is None else labels.to(device)
            return generate(self.generator, params, latents.to(device), labels=labels)

        return self.evaluator(samples, BoundModule(self.discriminator, state.x[1]))

    def fixed_samples(self, state: TrainingState) -> dict[str, Tensor]:
        """Samples from the fixed latents (seed :data:`FIXED_NOISE_SEED`, the problem's
        ``display_count``): ``""`` the EMA (or only) generator, ``"-raw"`` the raw one too
        when an EMA is kept and the problem shows images."""
        n = self.problem.display_count
        latents = sample_latents(n, self.config.model.latent_dim, FIXED_NOISE_SEED)
        labels = fixed_labels(n, self.players.num_classes)
        ema = state.ema
        ema_buffers = getattr(ema, "buffers", None) if self.config.ema.enabled else None
        versions = {"": (self.generator_params(state.x, ema), ema_buffers)}
        if self.config.ema.enabled and self.problem.show_raw_samples:
            versions["-raw"] = (state.x[GENERATOR], None)
        device = self.dist.device
        return {
            suffix: generate(
                self.generator,
                params,
                latents.to(device),
                labels=None if labels is None else labels.to(device),
                buffers=buffers,
            )
            for suffix, (params, buffers) in versions.items()
        }

    def save_checkpoint(self, state: TrainingState, reports: dict | None = None) -> None:
        """Rank 0 writes ``state``, the players' buffers and the reporter's pending values."""
        if self.dist.is_main:
            state.world_size = self.dist.world_size
            saved = state.checkpoint()
            saved["generator_buffers"] = module_buffers(self.generator)
            saved["discriminator_buffers"] = module_buffers(self.discriminator)
            if reports is not None:
                saved["reporter"] = reports
            self.checkpoints.save(state.step, saved)


def _flat_config(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat_config(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def check_resume_config(
    saved_path: Path, config: Config, saved_world_size: int | None, world_size: int
) -> None:
    """Refuse a ``resume`` whose config changes a key of :data:`FIXED_ON_RESUME` or the global
    batch (``data.batch_size`` × processes); one line listing every such key."""
    from convergan.config import ConfigError, load_config
    from convergan.config.schema import config_to_dict

    if not saved_path.is_file():
        return
    old = _flat_config(config_to_dict(load_config(saved_path)))
    new = _flat_config(config_to_dict(config))
    changed = sorted(
        key
        for key in old.keys() | new.keys()
        if any(key == fixed or key.startswith(fixed + ".") for fixed in FIXED_ON_RESUME)
        and old.get(key) != new.get(key)
    )
    if saved_world_size is not None:
        old_batch = old.get("data.batch_size", 0) * int(saved_world_size)
        if old_batch != new.get("data.batch_size", 0) * world_size:
            changed.append("data.batch_size")
    if changed:
        details = ", ".join(f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in changed)
        raise ConfigError(
            f"resume cannot change {details}: these keys are fixed for a run "
            "(data.batch_size only with the process count, keeping the global batch); "
            "start a new run with another out_dir"
        )
