"""Parameter constraints, applied as a projection after the player's update."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class WeightClip:
    """WGAN weight clipping: project every discriminator weight onto ``[−c, c]``."""

    # The Dirac-GAN scale and the ``wgan`` preset's default; the WGAN paper clips at c = 0.01.
    clip: float = 1.0

    def __post_init__(self) -> None:
        if self.clip <= 0:
            raise ValueError(f"weight clipping: clip must be > 0, got {self.clip}")

    def __call__(self, parameters: Tensor) -> Tensor:
        return parameters.clamp(-self.clip, self.clip)
