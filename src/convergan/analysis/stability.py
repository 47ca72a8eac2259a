"""Stability maps: the spectral radius of a scheme's update over a (learning rate × γ) grid.

The field Jacobian is computed by autodiff once per γ (vmapped); the update Jacobians for every
(learning rate, γ) pair then come from running the scheme on the linear field, all at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from convergan.analysis.local import field_jacobian
from convergan.analysis.operators import linearized_update_jacobian, spectral_radius
from convergan.field import GameField
from convergan.methods.method import Method
from convergan.schemes import Scheme


def field_jacobians_over(
    game, method_factory: Callable[[Tensor], Method], values: Tensor, gains: tuple[float, ...]
) -> dict[float, Tensor]:
    """``v′`` at the equilibrium for every value of a method parameter: ``{gain: (k, n, n)}``."""
    x = game.equilibrium()
    batch = game.expectation_batch(method_factory(values[0]))

    def jacobian(value: Tensor, gain: float) -> Tensor:
        field = GameField(game.generator, game.discriminator, method_factory(value), batch)
        return field_jacobian(field.with_regularization_gain(gain), x)

    return {g: torch.func.vmap(lambda v, g=g: jacobian(v, g))(values) for g in gains}


@dataclass(frozen=True)
class StabilityMap:
    """``radius[i, j]`` is the spectral radius at ``lrs[i]`` (a factor on the scheme's learning
    rates) and ``gammas[j]``."""

    lrs: Tensor
    gammas: Tensor
    radius: Tensor

    @property
    def converges(self) -> Tensor:
        return self.radius < 1 - 1e-9


def stability_map(
    game,
    method_factory: Callable[[Tensor], Method],
    scheme: Scheme,
    lrs: Tensor,
    gammas: Tensor,
) -> StabilityMap:
    """Spectral radius of ``scheme.scaled(lr)`` for ``method_factory(γ)`` on a grid.

    Build ``scheme`` with learning rate 1 to read ``lrs`` as learning rates.
    """
    dtype = game.equilibrium()[0].dtype
    lrs, gammas = lrs.to(dtype), gammas.to(dtype)
    jacobians = field_jacobians_over(game, method_factory, gammas, scheme.regularization_gains)
    sizes = tuple(int(s.numel()) for s in game.equilibrium())
    scaled = scheme.scaled(lrs[:, None, None, None])
    update = linearized_update_jacobian(scaled, {g: j[None] for g, j in jacobians.items()}, sizes)
    return StabilityMap(lrs=lrs, gammas=gammas, radius=spectral_radius(update))
