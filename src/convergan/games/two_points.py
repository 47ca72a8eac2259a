"""The two-point game: a small game, analysed exactly, on which RpGAN and the standard loss differ.

Data on two points, ``p_D = ½δ₋c + ½δ₊c``. The generator moves and scales two atoms,
``G_θ(z) = θ₁ + θ₂·z`` with ``z = ±1`` (equal mass), so ``p_θ = ½δ_{θ₁−θ₂} + ½δ_{θ₁+θ₂}``.
The discriminator has a linear and a quadratic feature, ``D_ψ(x) = ψ₁·x + ψ₂·x²/2``. The
equilibrium linearised here is ``θ* = (0, c)``, ``ψ* = (0, 0)`` (``θ₂ = −c``, the atoms
swapped, is the other one).

**Why the losses differ here and not on the Dirac-GAN.** Write D's features
``φ(x) = ∇_ψ D = (x, x²/2)``. At an equilibrium where D vanishes on the data, the field
Jacobian (D high on real data, ``v = (−∇_θ L_G, −∇_ψ L_D)``) of a loss with ``f′(0) = a``,
``f″(0) = b`` (paper's notation, a = 1/2, b = −1/4 for the GAN) is::

    [[0,          a·Bᵀ    ],         B = ∂_θ E_z φ(G_θ(z)) = [[1, 0], [0, c]]
     [−a·B,  2b·K − R     ]]         R = the penalties' ψψ-Hessian

with ``K = E_{p_D} φφᵀ`` for a separable loss (Mescheder et al., 2018, §3) but
``K = Cov_{p_D} φ`` for RpGAN, whose loss only sees ``D(G(z)) − D(x)``: the mean of the
features cancels. On the Dirac-GAN (data at 0, ``φ = x``) both are 0, which is why the fields
agree there. Here ``E φφᵀ = diag(c², c⁴/4)`` and ``Cov φ = diag(c², 0)``, because ``x²/2 =
c²/2`` on both data points: the standard loss damps the scale block ``(θ₂, ψ₂)`` by
``2|b|·c⁴/4``, RpGAN does not damp it at all. R1 and R2 are each ``(γ/2)E(ψ₁ + ψ₂x)²`` at the
equilibrium, ``R = γ·diag(1, c²)``, and their weights add, as on the Dirac-GAN. The closed
forms are :func:`convergan.theory.two_point_jacobian`; the analysis differentiates the method
code through these modules and never uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from convergan.games.dirac import DEFAULT_QUADRATURE_NODES, gauss_hermite
from convergan.games.game import Game
from convergan.methods.batch import Batch
from convergan.methods.method import Method

DEFAULT_SPREAD = 1.0  # the data points ±c


class LocationScaleGenerator(nn.Module):
    """``G_θ(z) = θ₁ + θ₂·z``: the atoms ``θ₁ ± θ₂`` for ``z = ±1``."""

    def __init__(self, location: float = 0.0, scale: float = DEFAULT_SPREAD) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(location), float(scale)]))

    def forward(self, z: Tensor) -> Tensor:
        return self.theta[0] + self.theta[1] * z


class QuadraticDiscriminator(nn.Module):
    """``D_ψ(x) = ψ₁·x + ψ₂·x²/2`` (summed over the last axis, which has size 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.zeros(2))

    def forward(self, x: Tensor) -> Tensor:
        return (self.psi[0] * x + self.psi[1] * x**2 / 2).sum(dim=-1)


@dataclass
class TwoPointGame(Game):
    """The two-point game. Construct with :func:`two_point_game`."""

    spread: float = DEFAULT_SPREAD
    quadrature_nodes: int = DEFAULT_QUADRATURE_NODES

    def expectation_batch(self, method: Method) -> Batch:
        """The two data points and the two latents, each of weight ½, every real one paired
        with every generated one (they are independent). With instance noise each point is
        spread over Gauss–Hermite nodes. There are no interpolation coefficients: penalties at
        interpolates have no exact form here and are refused."""
        dtype = self.generator.theta.dtype
        points = torch.tensor([[-self.spread], [self.spread]], dtype=dtype)
        latents = torch.tensor([[-1.0], [1.0]], dtype=dtype)
        half = torch.full((2,), 0.5, dtype=dtype)
        if method.noise is None:
            return Batch(
                real=points, latent=latents, real_weight=half, fake_weight=half, pairing="all"
            )
        nodes, weights = gauss_hermite(self.quadrature_nodes, dtype)
        n = nodes.shape[0]
        noise = nodes.repeat(2)[:, None]  # every node for each point
        weight = (half[:, None] * weights[None, :]).reshape(2 * n)
        return Batch(
            real=points.repeat_interleave(n, dim=0),
            latent=latents.repeat_interleave(n, dim=0),
            real_noise=noise,
            fake_noise=noise,
            real_weight=weight,
            fake_weight=weight,
            pairing="all",
        )

    def equilibrium(self) -> tuple[Tensor, Tensor]:
        dtype = self.generator.theta.dtype
        return torch.tensor([0.0, self.spread], dtype=dtype), torch.zeros(2, dtype=dtype)


def two_point_game(
    spread: float = DEFAULT_SPREAD, dtype: torch.dtype = torch.float64
) -> TwoPointGame:
    """The two-point game in float64, players at the equilibrium ``θ = (0, c)``, ``ψ = 0``."""
    return TwoPointGame(
        generator=LocationScaleGenerator(0.0, spread).to(dtype),
        discriminator=QuadraticDiscriminator().to(dtype),
        name="two-points",
        spread=spread,
    )
