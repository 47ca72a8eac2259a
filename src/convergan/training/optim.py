"""From the optimizer configs to the players' optimizers.

The optimizers themselves are pure update rules (:mod:`convergan.optimizers`); their states
travel in the scheme state. Learning rates are the scheme's (``optim.g.lr`` and ``optim.d.lr``,
as in force at the step when they follow schedules: :mod:`convergan.training.in_force`),
handed to the optimizer on every move.
"""

from __future__ import annotations

import dataclasses

from convergan.config.schema import OptimizerConfig
from convergan.registry import OPTIMIZERS


def build_optimizer(config: OptimizerConfig):
    """The registered optimizer ``config.name`` with the config's hyperparameters that it
    takes (e.g. Adam takes ``betas``, ``eps``, ``weight_decay``; the rate is the scheme's)."""
    cls = OPTIMIZERS[config.name]
    takes = {f.name for f in dataclasses.fields(cls)}
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return cls(**{k: v for k, v in values.items() if k in takes})
