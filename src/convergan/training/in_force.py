"""The run's parts, built once, with the config's schedules inside them.

The method (γ, σ), the scheme (the learning rates), the optimizers (Adam's β's) and the EMA
(its half-life) are built once from the config. A number that follows a schedule
(:mod:`convergan.schedules`) stays inside its part as a function of the 0-based training step,
which the part reads at the step it runs (:func:`~convergan.schedules.value_at`), as optax keeps
a schedule inside its transform; the step reaches each part with the work it does (the field's
step, the scheme's ``t``, the mover's :meth:`~convergan.field.OptimizerStep.at_step`, the EMA's
update). A run without schedules builds the parts it always did and reads constants. The values
depend on the step alone, so a resumed run uses exactly those of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from convergan.config.schema import Config, scheduled_values
from convergan.field import OptimizerStep
from convergan.methods.method import Method
from convergan.schedules import StepSchedule, StepValue, on_steps, value_at
from convergan.schemes import Scheme
from convergan.training.optim import build_optimizer


def build_scheme(config: Config, samples_per_step: int | None = None) -> Scheme:
    """The config's scheme, with the optimizers' learning rates as the players' rates: numbers
    (of a config resolved at a step, :func:`~convergan.config.config_at`), or with
    ``samples_per_step`` (the run's global batch) the rates as the training steps follow them."""
    rates = (config.optim.g.lr, config.optim.d.lr)
    if samples_per_step is not None:
        rates = on_steps(rates, samples_per_step)
    return config.scheme.build(lr_g=rates[0], lr_d=rates[1])


def build_mover(optim, method: Method, samples_per_step: int | None = None) -> OptimizerStep:
    """The players' optimizers with ``optim``'s hyperparameters (functions of the training step
    where they follow schedules, given ``samples_per_step``), then the method's constraint
    (WGAN weight clipping, a projection)."""
    optimizers = (
        build_optimizer(optim.g, samples_per_step),
        build_optimizer(optim.d, samples_per_step),
    )
    return OptimizerStep(optimizers, clip=method.clip)


@dataclass(frozen=True)
class RunParts:
    """What every training step runs with, built once (:meth:`of`)."""

    method: Method
    scheme: Scheme
    mover: OptimizerStep
    ema_half_life: StepValue
    schedules: dict[str, StepSchedule]  # by dotted config key: what is logged

    @classmethod
    def of(cls, config: Config, world_size: int = 1) -> RunParts:
        samples_per_step = config.data.batch_size * world_size
        method = config.method.build(samples_per_step)
        return cls(
            method,
            build_scheme(config, samples_per_step),
            build_mover(config.optim, method, samples_per_step),
            on_steps(config.ema.half_life_samples, samples_per_step),
            on_steps(scheduled_values(config), samples_per_step),
        )

    def logged(self, step: int) -> dict[str, float]:
        """The scheduled values of the 0-based ``step`` as ``schedule/<dotted key>`` scalars."""
        return scheduled_scalars(self.schedules, step)


def scheduled_scalars(schedules: Mapping[str, StepValue], step: int) -> dict[str, float]:
    """The values at the 0-based ``step`` of numbers that follow the step, by dotted key, as
    the logged ``schedule/<dotted key>`` scalars (``schedule/method.gamma``): the trainer's
    log and the training-loop monitor's (:class:`convergan.api.Monitor`) name them so."""
    return {f"schedule/{k}": float(value_at(s, step)) for k, s in schedules.items()}
