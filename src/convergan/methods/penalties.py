"""Gradient penalties on the discriminator, all one definition.

``GradientPenalty(gamma, target, at)`` is::

    (γ/2) · E_{x ~ p_at} ( ‖∇_x D(x)‖ − target )²

* R1 (Mescheder et al., 2018): ``at="real"``, ``target=0`` → (γ/2) E_{p_D} ‖∇D‖².
* R2: ``at="fake"``, ``target=0`` → (γ/2) E_{p_θ} ‖∇D‖².
* WGAN-GP (Gulrajani et al., 2017): ``at="interpolates"``, ``target=g₀`` (default 1).
  WGAN-GP papers write λ·E(‖∇D‖ − 1)²; that is γ = 2λ here.
* Zero-centred GP at interpolates (Roth et al., 2017 / Thanh-Tung et al.): ``at="interpolates"``,
  ``target=0``.

Every penalty's γ defaults to 1, the Dirac-GAN scale (R1 with γ = 1 critically damps the
saturating Dirac-GAN); presets read that default from here (:mod:`convergan.methods.spec`).
Training configs set γ explicitly (R1 γ = 10, WGAN-GP γ = 20).

γ convention: StyleGAN2-ADA ``r1_gamma`` = γ; StudioGAN ``r1_lambda`` = γ; GAN_stability
``reg_param`` = γ/2 (its ``reg_param: 10`` is γ = 20).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from convergan.methods.batch import weighted_mean
from convergan.methods.lean_backward import lean_double_backward
from convergan.schedules import value_at

Discriminator = Callable[[Tensor], Tensor]
PenaltyPoints = Literal["real", "fake", "interpolates"]


def output_and_input_gradient(
    discriminator: Discriminator, x: Tensor, functional: bool = False
) -> tuple[Tensor, Tensor]:
    """``D(x)`` and the per-sample ``∇_x D(x)`` from *one* forward pass, the gradient
    differentiable with respect to D's parameters.

    Sharing the forward pass is what makes a penalised D step cheap: the loss term on
    ``D(x)`` and the penalty on ``∇_x D(x)`` then need one backward pass together. The field
    says which differentiation route it runs (:mod:`convergan.field`): under ``torch.func``
    transforms (``functional=True``) the input gradient is ``torch.func.vjp``; in eager code
    it is ``autograd.grad(create_graph=True)``. Samples must not interact inside D (no batch
    norm), as for every gradient penalty.
    """
    if functional:
        output, pullback = torch.func.vjp(discriminator, x)
        (grad,) = pullback(torch.ones_like(output))
        return output, grad
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    if _lean_pays(x):
        with lean_double_backward():
            # D sees a view of the leaf x: what a leaf's gradient is needed for cannot be read
            # during autograd.grad, and the final backward needs none for x (see _will_run).
            output = discriminator(x.view_as(x))
    else:
        output = discriminator(x)
    (grad,) = torch.autograd.grad(output.sum(), x, create_graph=True)
    return output, grad


def _lean_pays(x: Tensor) -> bool:
    """Whether D's double backward takes :mod:`convergan.methods.lean_backward`'s formulas:
    for images on the CPU, where it was measured (benchmarks/bench_r3gan_step.py); not under
    autocast."""
    return x.device.type == "cpu" and x.dim() == 4 and not torch.is_autocast_enabled("cpu")


def input_gradient(discriminator: Discriminator, x: Tensor, functional: bool = False) -> Tensor:
    """Per-sample ``∇_x D(x)``, differentiable with respect to D's parameters."""
    return output_and_input_gradient(discriminator, x, functional)[1]


def _squared_norms_minus(grad: Tensor, target: float | Tensor) -> Tensor:
    flat = grad.reshape(grad.shape[0], -1)
    if isinstance(target, (int, float)) and target == 0:
        # Zero-centred: the squared norm is smooth, avoid the sqrt.
        return (flat * flat).sum(dim=1)
    return (torch.linalg.vector_norm(flat, dim=1) - target) ** 2


@dataclass(frozen=True)
class GradientPenalty:
    """``(γ/2)·E_{x~p_at}(‖∇_x D(x)‖ − target)²`` added to the discriminator's loss."""

    gamma: float | Tensor | Callable[[int], float]  # the factories below hold the defaults
    target: float | Tensor | Callable[[int], float] = 0.0  # or a function of the step
    at: PenaltyPoints = "real"
    name: str = "r1"

    def __post_init__(self) -> None:
        if isinstance(self.gamma, (int, float)) and self.gamma < 0:
            raise ValueError(f"{self.name}: gamma must be >= 0, got {self.gamma}")
        if isinstance(self.target, (int, float)) and self.target < 0:
            raise ValueError(f"{self.name}: target must be >= 0, got {self.target}")
        if self.at not in ("real", "fake", "interpolates"):
            raise ValueError(f"{self.name}: at must be real, fake or interpolates, not {self.at!r}")

    def points(
        self, real: Tensor, fake: Tensor, batch_interpolation: Tensor | None, weights
    ) -> tuple[Tensor, Tensor | None]:
        real_weight, fake_weight = weights
        if self.at == "real":
            return real, real_weight
        if self.at == "fake":
            return fake, fake_weight
        n = min(real.shape[0], fake.shape[0])
        if batch_interpolation is None:
            raise ValueError(f"{self.name}: the batch has no interpolation coefficients")
        u = batch_interpolation[:n].reshape(n, *([1] * (real.dim() - 1)))
        weight = None if real_weight is None else real_weight[:n] / real_weight[:n].sum()
        return u * real[:n] + (1 - u) * fake[:n], weight

    def __call__(
        self,
        discriminator: Discriminator,
        real: Tensor,
        fake: Tensor,
        interpolation: Tensor | None = None,
        weights: tuple[Tensor | None, Tensor | None] = (None, None),
        input_gradients: dict[str, Tensor] | None = None,
        functional: bool = False,
        step: int = 0,
    ) -> Tensor:
        """The penalty at the 0-based training ``step`` (γ and the target may follow a
        schedule, :func:`~convergan.schedules.value_at`); ``input_gradients`` may hold
        ``∇_x D`` already computed at the real or fake points (keyed "real"/"fake") by
        :meth:`Method.discriminator_loss`."""
        x, weight = self.points(real, fake, interpolation, weights)
        if input_gradients is not None and self.at in input_gradients:
            grad = input_gradients[self.at]
        else:
            grad = input_gradient(discriminator, x, functional)
        gamma, target = value_at(self.gamma, step), value_at(self.target, step)
        return 0.5 * gamma * weighted_mean(_squared_norms_minus(grad, target), weight)


def r1(gamma: float | Tensor = 1.0) -> GradientPenalty:
    """R1: (γ/2)·E_{p_D}‖∇_x D(x)‖²."""
    return GradientPenalty(gamma=gamma, target=0.0, at="real", name="r1")


def r2(gamma: float | Tensor = 1.0) -> GradientPenalty:
    """R2: (γ/2)·E_{p_θ}‖∇_x D(x)‖²."""
    return GradientPenalty(gamma=gamma, target=0.0, at="fake", name="r2")


def wgan_gp(gamma: float | Tensor = 1.0, target: float | Tensor = 1.0) -> GradientPenalty:
    """WGAN-GP: (γ/2)·E_{interpolates}(‖∇_x D‖ − g₀)² (λ = 10 of the WGAN-GP paper is γ = 20)."""
    return GradientPenalty(gamma=gamma, target=target, at="interpolates", name="wgan-gp")


def zero_gp(gamma: float | Tensor = 1.0) -> GradientPenalty:
    """Zero-centred gradient penalty at interpolates: (γ/2)·E_{interpolates}‖∇_x D‖²."""
    return GradientPenalty(gamma=gamma, target=0.0, at="interpolates", name="zero-gp")
