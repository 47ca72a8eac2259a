"""Instance noise (Sønderby et al., 2016; Arjovsky & Bottou, 2017).

Both real and generated samples are perturbed by ``N(0, σ²)`` before D sees them. The
standard-normal draws come from the :class:`~convergan.methods.batch.Batch`: random in
training, Gauss–Hermite nodes in the exact analysis, so this code is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class InstanceNoise:
    """Add ``σ(step)·ε`` to every sample D sees.

    ``σ(step) = sigma · max(0, 1 − step / anneal_steps)`` when ``anneal_steps`` is set (linear
    annealing to zero), else the constant ``sigma``.
    """

    sigma: float | Tensor = 1.0  # the Dirac-GAN scale; the ``instance-noise`` preset's default
    anneal_steps: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sigma, (int, float)) and self.sigma < 0:
            raise ValueError(f"instance noise: sigma must be >= 0, got {self.sigma}")
        if self.anneal_steps is not None and self.anneal_steps <= 0:
            raise ValueError(f"instance noise: anneal_steps must be > 0, got {self.anneal_steps}")

    def sigma_at(self, step: int) -> float | Tensor:
        if self.anneal_steps is None:
            return self.sigma
        return self.sigma * max(0.0, 1.0 - step / self.anneal_steps)

    def __call__(self, x: Tensor, standard_noise: Tensor | None, step: int = 0) -> Tensor:
        if standard_noise is None:
            raise ValueError("instance noise: the batch carries no noise draws")
        return x + self.sigma_at(step) * standard_noise
