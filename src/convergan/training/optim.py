"""From the optimizer configs to the players' optimizers.

The optimizers themselves are pure update rules (:mod:`convergan.optimizers`); their states
travel in the scheme state. Learning rates are the scheme's (``optim.g.lr`` and ``optim.d.lr``),
handed to the optimizer on every move.
"""

from __future__ import annotations

from convergan.config.schema import OptimizerConfig
from convergan.schedules import on_steps


def build_optimizer(config: OptimizerConfig, samples_per_step: int | None = None):
    """The registered optimizer ``config.name`` with its options (Adam's ``betas``, ``eps``,
    ``weight_decay``; the rate is the scheme's): the instance the config holds, or with
    ``samples_per_step`` (a run's global batch) its scheduled options as functions of the
    training step (:func:`convergan.schedules.on_steps`)."""
    options = config.build()
    return options if samples_per_step is None else on_steps(options, samples_per_step)
