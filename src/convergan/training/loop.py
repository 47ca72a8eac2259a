"""The training loop: one scheme step per iteration, everything else in hooks.

The loop is the analysis's scheme, run on the analysis's :class:`~convergan.field.GameField`
with a fresh minibatch per evaluation and the eager differentiation route, observed (reports,
divergence flags, the all-reduce), and moved by the players' optimizers. What it runs on is
built by :func:`~convergan.training.assembly.assemble`; the directory, checkpoints, logging,
evaluation and the callbacks sit in :class:`~convergan.training.run.Run` and never inside the
step. The parts in force at each step (:class:`~convergan.training.in_force.PartsInForce`,
built by the assembly) are asked for here only: once for the scheme's initial state and once
per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from convergan.config.schema import Config
from convergan.field import GENERATOR, Guarded
from convergan.training import distributed
from convergan.training.assembly import Assembly, assemble, training_field
from convergan.training.callbacks import Callback, Checkpointing, Evaluation
from convergan.training.diagnostics import FieldDiagnostics
from convergan.training.in_force import build_scheme
from convergan.training.progress import WallTimeEstimate
from convergan.training.run import Run

__all__ = ["TrainResult", "build_scheme", "train", "training_field"]


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    last_metrics: dict[str, float]
    is_main_process: bool = True


def train(
    config: Config,
    *,
    resume: bool = False,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``config`` (or continue the run in ``config.out_dir`` when ``resume``).

    After every step the run logs its reporter's values, then calls the trainer's evaluation
    and convergence diagnostics (:mod:`convergan.training.diagnostics`), ``callbacks`` (e.g.
    :mod:`convergan.runs.callbacks`' sample figures and spectra) and the checkpointing, in
    that order. :func:`convergan.runs.train` passes the standard callbacks.
    """
    dist = distributed.setup(config.device, config.distributed.backend)
    show_progress = config.train.progress if progress is None else progress
    try:
        return _train(config, dist, resume, show_progress, callbacks)
    finally:
        distributed.teardown()


def _train(config: Config, dist, resume: bool, show_progress: bool, callbacks) -> TrainResult:
    built = assemble(config, dist)
    state = built.state
    diagnostics = FieldDiagnostics()
    callbacks = [Evaluation(), diagnostics, *callbacks, Checkpointing()]
    run = Run(config, dist, built.problem, built.players, show_progress, callbacks)
    if resume:
        run.restore(state)
    else:
        run.start()
    diagnostics.begin(state)  # where the first look's displacement is measured from
    try:  # from here the run holds its directory's lock: release it whatever happens
        if state.scheme_state is None:
            now = built.parts.at(state.step)
            state.scheme_state = now.scheme.init(
                built.field.at_step(state.step, now.method),
                Guarded(now.mover, built.guard),
                state.x,
            )
        _run_steps(config, dist, run, built)
    finally:
        run.close()
    return TrainResult(run.directory.path, state.step, run.last_metrics, dist.is_main)


def _run_steps(config: Config, dist, run: Run, built: Assembly) -> None:
    """The loop itself: one scheme step, one divergence check, the EMA, then the hooks."""
    parts, field, guard = built.parts, built.field, built.guard
    reporter, state = built.reporter, built.state
    total, deadline = config.train.steps, _deadline(config.train.time_budget_minutes)
    samples_per_step = config.data.batch_size * dist.world_size
    with run.progress(state.step, total) as bar:
        estimate = WallTimeEstimate(
            state.step,
            total,
            on_gpu=torch.device(dist.device).type == "cuda",
            say=lambda line: bar.write(line, file=sys.stderr) if dist.is_main else None,
            loud=run.show_progress,
            budget_minutes=config.train.time_budget_minutes,
        )
        for step in range(state.step, total):
            now = parts.at(step)  # the method, rates and optimizers in force (schedules)
            state.x, state.scheme_state = now.scheme.step(
                field.at_step(step, now.method),
                Guarded(now.mover, guard),
                state.x,
                state.scheme_state,
                step,
            )
            guard.check(step + 1)  # one host synchronisation per step
            state.step, state.samples_seen = step + 1, state.samples_seen + samples_per_step
            if config.ema.enabled:
                state.ema.update(
                    state.x[GENERATOR], samples_per_step, state.samples_seen, now.ema_half_life
                )
            out_of_time = dist.any(deadline is not None and time.monotonic() > deadline)
            final = out_of_time or step + 1 == total
            run.after_step(state, reporter, scheduled=parts.logged(step), bar=bar, final=final)
            estimate.after_step(state.step)
            if out_of_time:
                break


def _deadline(minutes: float | None) -> float | None:
    return None if minutes is None else time.monotonic() + 60.0 * minutes
