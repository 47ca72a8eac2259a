"""The run's parts with the hyperparameters in force at each training step.

A config's schedules (:mod:`convergan.schedules`) are resolved once per step: the config at
step ``t`` (:func:`~convergan.config.config_at`) gives the method (γ, σ), the scheme's learning
rates, the optimizers (Adam's β's) and the EMA half-life of that step. A part whose numbers
follow no schedule is built once and reused, so a run without schedules does the work it did
before schedules existed. The values depend on the step alone, so a resumed run uses exactly
the values of an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

from convergan.config.schema import Config, config_at, scheduled_values
from convergan.field import OptimizerStep
from convergan.methods.method import Method
from convergan.schedules import resolve
from convergan.schemes import Scheme
from convergan.training.optim import build_optimizer


def build_scheme(config: Config) -> Scheme:
    """The config's scheme, with the optimizers' learning rates as the players' rates (of a
    config resolved at a step, :func:`~convergan.config.config_at`, when they are scheduled)."""
    return config.scheme.build(lr_g=config.optim.g.lr, lr_d=config.optim.d.lr)


def build_mover(optim, method: Method) -> OptimizerStep:
    """The players' optimizers with ``optim``'s hyperparameters, then the method's constraint
    (WGAN weight clipping, a projection)."""
    return OptimizerStep((build_optimizer(optim.g), build_optimizer(optim.d)), clip=method.clip)


@dataclass(frozen=True)
class StepParts:
    """What one training step runs with."""

    method: Method
    scheme: Scheme
    mover: OptimizerStep
    ema_half_life: float


class PartsInForce:
    """``at(step)``: the :class:`StepParts` of the 0-based ``step``; ``logged(step)``: the
    scheduled values of that step as ``schedule/<dotted key>`` scalars."""

    def __init__(self, config: Config, world_size: int = 1):
        self.config, self.world_size = config, world_size
        self.schedules = scheduled_values(config)
        self.samples_per_step = config.data.batch_size * world_size
        first = self._build(config_at(config, 0, world_size))
        self._method_scheduled = any(k.startswith("method.") for k in self.schedules)
        self._optim_scheduled = any(k.startswith("optim.") for k in self.schedules)
        self._first = first

    @property
    def first(self) -> StepParts:
        """The parts of step 0 (whatever is not scheduled is the same at every step)."""
        return self._first

    def at(self, step: int) -> StepParts:
        if not self.schedules:
            return self._first
        # The sections that hold schedules, resolved as config_at would (a whole config
        # costs twice as much to walk, every step).
        config, first, samples = self.config, self._first, step * self.samples_per_step
        method = first.method
        if self._method_scheduled:
            method = resolve(config.method, step, samples).build()
        scheme, mover = first.scheme, first.mover
        if self._optim_scheduled:
            optim = resolve(config.optim, step, samples)
            scheme = first.scheme.with_rates(optim.g.lr, optim.d.lr)
            mover = build_mover(optim, method)
        half_life = resolve(config.ema.half_life_samples, step, samples)
        return StepParts(method, scheme, mover, half_life)

    def logged(self, step: int) -> dict[str, float]:
        samples = step * self.samples_per_step
        return {f"schedule/{k}": s.at(step, samples) for k, s in self.schedules.items()}

    @staticmethod
    def _build(config: Config) -> StepParts:
        method = config.method.build()
        return StepParts(
            method,
            build_scheme(config),
            build_mover(config.optim, method),
            config.ema.half_life_samples,
        )
