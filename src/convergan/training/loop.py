"""The training loop: one scheme step per iteration, everything else in hooks.

The loop is the analysis's scheme, run on the analysis's :class:`~convergan.field.GameField`
with a fresh minibatch per evaluation and the eager differentiation route, observed (reports,
divergence flags, the all-reduce), and moved by the players' optimizers. :func:`assemble`
builds what it runs on, in the run's seed order (the same config builds the same players,
stream and sampler on every process and in every attempt). The directory, checkpoints,
logging, evaluation and the callbacks sit in :class:`~convergan.training.run.Run` and never
inside the step. The run's parts (:class:`~convergan.training.in_force.RunParts`: method,
scheme, optimizers, EMA half-life, each with its schedules inside) are built and used in this
module only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from convergan.config.schema import Config
from convergan.field import (
    GENERATOR,
    DivergenceGuard,
    GameField,
    Guarded,
    Observed,
    ParameterLayout,
)
from convergan.models.players import Players, make_players
from convergan.problems import Problem, make_problem
from convergan.training import distributed
from convergan.training.batches import BatchSampler
from convergan.training.callbacks import Callback, Checkpointing, Evaluation
from convergan.training.diagnostics import FieldDiagnostics
from convergan.training.ema import GeneratorEMA
from convergan.training.in_force import RunParts
from convergan.training.memory import (
    check_batch_memory,
    check_metric_memory,
    check_model_memory,
)
from convergan.training.progress import WallTimeEstimate
from convergan.training.report import Reporter
from convergan.training.run import Run
from convergan.training.state import TrainingState

__all__ = ["TrainResult", "train", "training_field"]


def training_field(generator, discriminator, method, sampler, **settings) -> GameField:
    """The field the trainer steps on: the analysis's :class:`GameField` with a fresh minibatch
    from ``sampler`` at every evaluation and the eager route (``settings``: step,
    autocast_device)."""
    return GameField(generator, discriminator, method, sampler, route="eager", **settings)


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    last_metrics: dict[str, float]
    is_main_process: bool = True
    device: str = "cpu"  # the device it trained on ("cpu", "cuda:0"), device=auto resolved


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
            step, parts = state.step, built.parts
            state.scheme_state = parts.scheme.init(
                built.field.at_step(step), Guarded(parts.mover.at_step(step), built.guard), state.x
            )
        _run_steps(config, dist, run, built)
    finally:
        run.close()
    return TrainResult(
        run.directory.path, state.step, run.last_metrics, dist.is_main, str(dist.device)
    )


def _run_steps(config: Config, dist, run: Run, built: Assembly) -> None:
    """The loop itself: one scheme step, one divergence check, the EMA, then the hooks."""
    parts, field, guard = built.parts, built.field, built.guard
    reporter, state = built.reporter, built.state
    total, deadline = config.train.steps, _deadline(config.train.time_budget_minutes)
    samples_per_step = config.data.batch_size * dist.world_size
    scheme, mover = parts.scheme, parts.mover
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
            # Every part reads its scheduled numbers at ``step``.
            state.x, state.scheme_state = scheme.step(
                field.at_step(step),
                Guarded(mover.at_step(step), guard),
                state.x,
                state.scheme_state,
                step,
            )
            guard.check(step + 1)  # one host synchronisation per step
            state.step, state.samples_seen = step + 1, state.samples_seen + samples_per_step
            if config.ema.enabled:
                state.ema.update(state.x[GENERATOR], samples_per_step, state.samples_seen, step)
            out_of_time = dist.any(deadline is not None and time.monotonic() > deadline)
            final = out_of_time or step + 1 == total
            run.after_step(state, reporter, scheduled=parts.logged(step), bar=bar, final=final)
            estimate.after_step(state.step)
            if out_of_time:
                break


@dataclass
class Assembly:
    """Everything the training loop runs on."""

    problem: Problem
    players: Players
    generator: nn.Module  # the players', on the device
    discriminator: nn.Module
    parts: RunParts  # the method, scheme, optimizers and EMA half-life, schedules inside
    state: TrainingState  # at step 0 (a resume loads its checkpoint into it)
    reporter: Reporter
    guard: DivergenceGuard
    field: Observed  # the training field, observed by the reporter and the guard


def assemble(config: Config, dist) -> Assembly:
    """The run's parts on ``dist``'s device; one-line errors when the model or the metrics'
    samples do not fit in memory, before anything large is allocated."""
    torch.manual_seed(config.seed)
    problem = make_problem(config)
    # Every process draws the same global batch and keeps its own slice (see BatchSampler), so
    # N processes see exactly the data of one process with an N-times larger batch.
    global_batch = config.data.batch_size * dist.world_size
    stream = problem.real_stream(global_batch, config.seed * 1000, config.data.num_workers)
    info = problem.info()
    check_model_memory(config, info.shape, info.num_classes)  # one line, before allocating
    check_batch_memory(config, info.shape, global_batch)
    option = f"eval.{problem.samples_key}"
    metrics = problem.requested_metrics(config.eval.metrics)
    check_metric_memory(metrics, problem.evaluation_samples(), info.shape, config, option)
    players = make_players(config, info.shape, info.num_classes, info.float64)
    generator = players.generator.to(dist.device)
    discriminator = players.discriminator.to(dist.device)
    # The method, scheme, optimizers and EMA half-life, built once; each scheduled number is
    # read by its part at the step it runs.
    parts = RunParts.of(config, dist.world_size)
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    sampler = BatchSampler(
        stream,
        players.latent_dim,
        config.data.batch_size,
        parts.method,  # which draws a batch needs (noise, interpolates)
        seed=config.seed * 1000 + 500,  # the same on every process: see BatchSampler
        device=dist.device,
        conditional=config.model.conditional,
        rank=dist.rank,
        world_size=dist.world_size,
    )
    state = TrainingState(
        step=0,
        x=x,
        scheme_state=None,
        ema=GeneratorEMA(x[0], parts.ema_half_life, config.ema.rampup, buffers_of=generator),
        sampler=sampler,
    )
    reporter, guard = Reporter(), DivergenceGuard()
    autocast_device = dist.device.type if config.distributed.amp else None
    field = Observed(
        training_field(
            generator, discriminator, parts.method, sampler, autocast_device=autocast_device
        ),
        reporter=reporter,
        guard=guard,
        average=dist.average,
    )
    return Assembly(
        problem, players, generator, discriminator, parts, state, reporter, guard, field
    )


def _deadline(minutes: float | None) -> float | None:
    return None if minutes is None else time.monotonic() + 60.0 * minutes
