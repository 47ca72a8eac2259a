"""From the optimizer configs to the players' optimizers, and learning-rate schedules.

The optimizers themselves are pure update rules (:mod:`convergan.optimizers`); their states
travel in the scheme state. Learning rates are the scheme's (``optim.g.lr`` and ``optim.d.lr``
times :func:`lr_factor`), handed to the optimizer on every move.
"""

from __future__ import annotations

import dataclasses
import math

from convergan.config.schema import OptimizerConfig
from convergan.registry import OPTIMIZERS


def build_optimizer(config: OptimizerConfig):
    """The registered optimizer ``config.name`` with the config's hyperparameters that it
    takes (e.g. Adam takes ``betas``, ``eps``, ``weight_decay``; the rate is the scheme's)."""
    cls = OPTIMIZERS[config.name]
    takes = {f.name for f in dataclasses.fields(cls)}
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return cls(**{k: v for k, v in values.items() if k in takes})


def lr_factor(schedule: str, warmup_steps: int, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rates at ``step`` (0-based).

    ``constant``: 1; ``linear``: 1 → 0 over the run; ``cosine``: ½(1 + cos(π·t/T)). A linear
    warm-up from 0 over ``warmup_steps`` multiplies any of them.
    """
    progress = min(1.0, step / max(1, total_steps))
    if schedule == "constant":
        factor = 1.0
    elif schedule == "linear":
        factor = 1.0 - progress
    elif schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    if warmup_steps > 0 and step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor


def lr_scale_after(config, steps_done: int) -> float:
    """The learning-rate factor in force at a run's state after ``steps_done`` steps: that of
    the step which produced it (what ``lr/scale`` logs at that step; the first step's for the
    initial state), so the end of a decaying schedule is not read as the rate 0 it reaches."""
    o = config.optim
    return lr_factor(o.schedule, o.warmup_steps, max(steps_done - 1, 0), config.train.steps)


def with_lr_scale(config, factor: float):
    """``config`` with both players' learning rates multiplied by ``factor``."""
    g, d = config.optim.g, config.optim.d
    optim = dataclasses.replace(
        config.optim,
        g=dataclasses.replace(g, lr=g.lr * factor),
        d=dataclasses.replace(d, lr=d.lr * factor),
    )
    return dataclasses.replace(config, optim=optim)
