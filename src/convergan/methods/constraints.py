"""Parameter constraints, applied as a projection after the player's update."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class WeightClip:
    """WGAN weight clipping: project every discriminator weight onto ``[−c, c]``."""

    clip: float = 0.01

    def __post_init__(self) -> None:
        if self.clip <= 0:
            raise ValueError(f"weight clipping: clip must be > 0, got {self.clip}")

    def __call__(self, parameters: Tensor) -> Tensor:
        return parameters.clamp(-self.clip, self.clip)
