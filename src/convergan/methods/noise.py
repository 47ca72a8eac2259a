"""Instance noise (Sønderby et al., 2016; Arjovsky & Bottou, 2017).

Both real and generated samples are perturbed by ``N(0, σ²)`` before D sees them. The
standard-normal draws come from the :class:`~convergan.methods.batch.Batch`: random in
training, Gauss–Hermite nodes in the exact analysis, so this code is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from convergan.schedules import value_at


@dataclass(frozen=True)
class InstanceNoise:
    """Add ``σ·ε`` to every sample D sees.

    ``σ`` is a number or a function of the training step (an annealed σ: a schedule of the
    method spec, :func:`~convergan.schedules.on_steps`), read at the step of each call.
    """

    sigma: float | Tensor | Callable[[int], float] = (
        1.0  # the Dirac-GAN scale; the ``instance-noise`` preset's default
    )

    def __post_init__(self) -> None:
        if isinstance(self.sigma, (int, float)) and self.sigma < 0:
            raise ValueError(f"instance noise: sigma must be >= 0, got {self.sigma}")

    def __call__(self, x: Tensor, standard_noise: Tensor | None, step: int = 0) -> Tensor:
        """``x + σ·ε`` with σ at the 0-based training ``step``."""
        if standard_noise is None:
            raise ValueError("instance noise: the batch carries no noise draws")
        return x + value_at(self.sigma, step) * standard_noise
