"""Building what a training run runs on, from its config: the problem and its data stream,
the players on the device, the parts in force at each step (schedules), the batch sampler,
the training state at step 0 and the observed field the scheme steps on.

The order is the run's seed order: the same config builds the same players, stream and
sampler on every process and in every attempt, so a resumed run continues an uninterrupted
one bit for bit (the RNG state itself is restored from the checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from convergan.config.schema import Config
from convergan.field import DivergenceGuard, GameField, Observed, ParameterLayout
from convergan.models.players import Players, make_players
from convergan.problems import Problem, make_problem
from convergan.training.batches import BatchSampler
from convergan.training.ema import GeneratorEMA
from convergan.training.in_force import PartsInForce
from convergan.training.memory import check_metric_memory, check_model_memory
from convergan.training.report import Reporter
from convergan.training.state import TrainingState


def training_field(generator, discriminator, method, sampler, **settings) -> GameField:
    """The field the trainer steps on: the analysis's :class:`GameField` with a fresh minibatch
    from ``sampler`` at every evaluation and the eager route (``settings``: step,
    autocast_device)."""
    return GameField(generator, discriminator, method, sampler, route="eager", **settings)


@dataclass
class Assembly:
    """Everything the training loop runs on."""

    problem: Problem
    players: Players
    generator: nn.Module  # the players', on the device
    discriminator: nn.Module
    parts: PartsInForce  # the method, rates, optimizers and EMA half-life of each step
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
    option = f"eval.{problem.samples_key}"
    metrics = problem.requested_metrics(config.eval.metrics)
    check_metric_memory(metrics, problem.evaluation_samples(), info.shape, config, option)
    players = make_players(config, info.shape, info.num_classes, info.float64)
    generator = players.generator.to(dist.device)
    discriminator = players.discriminator.to(dist.device)
    # The method, rates, optimizers and EMA half-life in force at each step (schedules).
    parts = PartsInForce(config, dist.world_size)
    first = parts.first
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    sampler = BatchSampler(
        stream,
        players.latent_dim,
        config.data.batch_size,
        first.method,  # which draws a batch needs (noise, interpolates): every step's
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
        ema=GeneratorEMA(x[0], first.ema_half_life, config.ema.rampup, buffers_of=generator),
        sampler=sampler,
    )
    reporter, guard = Reporter(), DivergenceGuard()
    autocast_device = dist.device.type if config.distributed.amp else None
    field = Observed(
        training_field(
            generator, discriminator, first.method, sampler, autocast_device=autocast_device
        ),
        reporter=reporter,
        guard=guard,
        average=dist.average,
    )
    return Assembly(
        problem, players, generator, discriminator, parts, state, reporter, guard, field
    )
