"""From the optimizer configs to the players' optimizers.

The optimizers themselves are pure update rules (:mod:`convergan.optimizers`); their states
travel in the scheme state. Learning rates are the scheme's (``optim.g.lr`` and ``optim.d.lr``,
as in force at the step when they follow schedules: :mod:`convergan.training.in_force`),
handed to the optimizer on every move.
"""

from __future__ import annotations

from convergan.config.schema import OptimizerConfig


def build_optimizer(config: OptimizerConfig):
    """The registered optimizer ``config.name`` with its options (Adam's ``betas``, ``eps``,
    ``weight_decay``; the rate is the scheme's): the instance the config holds."""
    return config.build()
