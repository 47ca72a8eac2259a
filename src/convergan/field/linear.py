"""The linearised field ``z ↦ J z``: schemes run on it give update-operator Jacobians."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from convergan.field.layout import State, flatten, unflatten


@dataclass(frozen=True)
class LinearField:
    """The linear field ``z ↦ J_g z``, where ``J_g`` is the field's Jacobian at regularization
    gain ``g``.

    ``jacobians`` maps each gain a scheme may ask for (see ``Scheme.regularization_gains``)
    to a dense tensor of shape ``(..., n, n)`` (batched: states have shape ``(..., n_i)`` per
    player), or to a function ``z ↦ J_g z`` (matrix-free, for real networks). Running a
    scheme on this field with gradient steps yields its update Jacobian applied to the
    starting state, since a scheme is linear in a linear field. A frozen diagonal
    preconditioner (an optimizer's effective per-parameter rates) belongs to the mover:
    ``GradientStep(preconditioner=...)``.
    """

    jacobians: dict[float, Tensor | Callable[[Tensor], Tensor]]
    sizes: tuple[int, ...]
    regularization_gain: float = 1.0

    def __call__(self, x: State) -> State:
        z = flatten(x)
        jacobian = self.jacobians[self.regularization_gain]
        if callable(jacobian):
            return unflatten(jacobian(z), self.sizes)
        return unflatten(torch.einsum("...ij,...j->...i", jacobian, z), self.sizes)

    def player(self, i: int, x: State) -> Tensor:
        return self(x)[i]

    def with_regularization_gain(self, gain: float) -> LinearField:
        gain = float(gain)
        if gain not in self.jacobians:
            raise KeyError(f"no Jacobian for regularization gain {gain}")
        return replace(self, regularization_gain=gain)
