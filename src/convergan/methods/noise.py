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
    """Add ``σ·ε`` to every sample D sees.

    ``σ`` is the value in force: an annealed σ is a schedule of the method spec, resolved at
    each training step (:mod:`convergan.schedules`), so this part never reads the step.
    """

    sigma: float | Tensor = 1.0  # the Dirac-GAN scale; the ``instance-noise`` preset's default

    def __post_init__(self) -> None:
        if isinstance(self.sigma, (int, float)) and self.sigma < 0:
            raise ValueError(f"instance noise: sigma must be >= 0, got {self.sigma}")

    def __call__(self, x: Tensor, standard_noise: Tensor | None, step: int = 0) -> Tensor:
        """``x + σ·ε``; ``step`` is what the method passes and is not read (see above)."""
        if standard_noise is None:
            raise ValueError("instance noise: the batch carries no noise draws")
        return x + self.sigma * standard_noise
