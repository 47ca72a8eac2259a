"""Exponential moving average of the generator, defined by a half-life in samples.

As in StyleGAN2-ADA: ``β = 0.5 ** (batch / half_life)``, so the averaging horizon does not
depend on the batch size; with ramp-up the half-life is at most ``rampup × samples seen`` so
early, bad generators are forgotten quickly. The half-life may follow a schedule
(``ema.half_life_samples``, R3GAN ramps it from 0): the EMA then holds it as a function of the
training step (:func:`convergan.schedules.on_steps`) and reads it at the step of each
:meth:`GeneratorEMA.update`; a half-life of 0 makes the average the generator itself (β = 0).

**Buffers.** Given ``buffers_of`` (the generator module), the EMA also keeps the module's
registered buffers. Floating-point buffers (BatchNorm's running mean and variance, ...) are
averaged with the same β as the parameters, ``b̄ ← β·b̄ + (1 − β)·b``, because statistics that
belong to the averaged weights are closer to the average of the statistics than to the live
network's latest ones; StyleGAN2-ADA copies them instead, which is the same at β = 0. Integer
buffers (BatchNorm's ``num_batches_tracked``) are counters, not statistics, and are copied.
Sampling from the EMA generator binds these averaged buffers (see
:func:`convergan.training.generate.generate`).
"""

from __future__ import annotations

from torch import Tensor, nn

from convergan.schedules import StepValue, value_at


def generator_weights(config, raw: Tensor, ema_average: Tensor, use_ema: bool = True) -> Tensor:
    """The one rule for "EMA or raw generator": the EMA when the run keeps one and it is asked
    for, else the raw weights. Training samples and evaluations, ``convergan sample`` and
    ``convergan eval`` all go through it."""
    return ema_average if use_ema and config.ema.enabled else raw


class GeneratorEMA:
    def __init__(
        self,
        initial: Tensor,
        half_life_samples: StepValue,
        rampup: float | None = None,
        *,
        buffers_of: nn.Module | None = None,
    ):
        if isinstance(half_life_samples, (int, float)) and half_life_samples < 0:
            raise ValueError(f"EMA half-life must be >= 0, got {half_life_samples}")
        self.average = initial.detach().clone()
        self.half_life_samples = half_life_samples
        self.rampup = rampup
        self.module = buffers_of
        self.buffers: dict[str, Tensor] = {}
        if buffers_of is not None:
            self.buffers = {n: b.detach().clone() for n, b in buffers_of.named_buffers()}

    def beta(self, batch_size: int, samples_seen: int, step: int = 0) -> float:
        """``0.5 ** (batch / half-life)``, the half-life as in force at the 0-based training
        ``step``."""
        half_life = value_at(self.half_life_samples, step)
        if self.rampup is not None:
            half_life = min(half_life, samples_seen * self.rampup)
        if half_life <= 0:
            return 0.0
        return 0.5 ** (batch_size / half_life)

    def update(
        self,
        parameters: Tensor,
        batch_size: int,
        samples_seen: int,
        step: int = 0,
    ) -> None:
        """``average ← β·average + (1 − β)·parameters``, and the same for float buffers, after
        the update of the 0-based training ``step``."""
        beta = self.beta(batch_size, samples_seen, step)
        self.average.mul_(beta).add_(parameters.detach(), alpha=1.0 - beta)
        if self.module is not None:
            for name, live in self.module.named_buffers():
                kept = self.buffers[name]
                if kept.is_floating_point():
                    kept.mul_(beta).add_(live.detach(), alpha=1.0 - beta)
                else:
                    kept.copy_(live)

    def state_dict(self) -> dict:
        return {"average": self.average, "buffers": dict(self.buffers)}

    def load_state_dict(self, state: dict) -> None:
        self.average.copy_(state["average"])
        for name, saved in (state.get("buffers") or {}).items():
            if name in self.buffers:
                self.buffers[name].copy_(saved)
