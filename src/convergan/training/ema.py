"""Exponential moving average of the generator, defined by a half-life in samples.

As in StyleGAN2-ADA: ``β = 0.5 ** (batch / half_life)``, so the averaging horizon does not
depend on the batch size; with ramp-up the half-life is at most ``rampup × samples seen`` so
early, bad generators are forgotten quickly. Buffers (e.g. batch-norm statistics of G) are
not averaged; sampling uses the live generator's buffers, as StyleGAN2 copies them.
"""

from __future__ import annotations

from torch import Tensor


class GeneratorEMA:
    def __init__(self, initial: Tensor, half_life_samples: float, rampup: float | None = None):
        if half_life_samples <= 0:
            raise ValueError(f"EMA half-life must be > 0, got {half_life_samples}")
        self.average = initial.detach().clone()
        self.half_life_samples = half_life_samples
        self.rampup = rampup

    def beta(self, batch_size: int, samples_seen: int) -> float:
        half_life = self.half_life_samples
        if self.rampup is not None:
            half_life = min(half_life, samples_seen * self.rampup)
        if half_life <= 0:
            return 0.0
        return 0.5 ** (batch_size / half_life)

    def update(self, parameters: Tensor, batch_size: int, samples_seen: int) -> None:
        """``average ← β·average + (1 − β)·parameters``."""
        beta = self.beta(batch_size, samples_seen)
        self.average.mul_(beta).add_(parameters.detach(), alpha=1.0 - beta)

    def state_dict(self) -> dict:
        return {"average": self.average}

    def load_state_dict(self, state: dict) -> None:
        self.average.copy_(state["average"])
