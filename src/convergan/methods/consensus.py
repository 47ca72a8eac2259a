"""Consensus optimization (Mescheder, Nowozin & Geiger, 2017), a transform of the field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from convergan.schedules import value_at


@dataclass(frozen=True)
class Consensus:
    """Replace the gradient field ``v`` by ``v − γ·∇(½‖v‖²) = v − γ·v′ᵀv``.

    The correction needs the field's own Jacobian, so :mod:`convergan.field` applies it where
    the field is assembled; a player's loss never sees it.
    """

    gamma: float | Tensor | Callable[[int], float] = 1.0  # or a function of the step

    def __post_init__(self) -> None:
        if isinstance(self.gamma, (int, float)) and self.gamma < 0:
            raise ValueError(f"consensus: gamma must be >= 0, got {self.gamma}")

    def transform(self, field, field_jacobian_transpose_times_field, gain=1.0, step: int = 0):
        """``w_i = v_i − gain·γ·(v′ᵀv)_i`` for every player, given ``v`` and ``v′ᵀv``
        (computed by ``torch.func.vjp`` in the analysis, by autograd in training), with γ at
        the 0-based training ``step``."""
        scale = gain * value_at(self.gamma, step)
        return tuple(
            v_i - scale * c_i for v_i, c_i in zip(field, field_jacobian_transpose_times_field)
        )
