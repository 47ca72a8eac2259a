"""The Dirac-GAN (Mescheder, Geiger & Nowozin, 2018, §2.2), built from two tiny modules.

Generator ``p_θ = δ_θ``, discriminator ``D_ψ(x) = ψ·x``, data ``p_D = δ_0``. The unique
equilibrium is ``(θ, ψ) = (0, 0)``. The players also come in ``dim`` dimensions (data at the
origin of R^d, ``θ, ψ ∈ R^d``, ``D_ψ(x) = ψᵀx``): the trainable ``dirac-<d>d`` problems.
Nothing about the field is hand-derived here: the analysis differentiates the method code
through these modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from convergan.games.game import Game
from convergan.methods.batch import Batch
from convergan.methods.method import Method

# Enough Gauss–Hermite nodes for ~1e-10 accuracy of the sigmoid-based fields at |ψ|σ ≤ 3
# (the integrands are analytic but have poles near the real axis when |ψ|σ is large); the
# Jacobian at the equilibrium only needs degree-2 exactness, which any rule with 2+ nodes has.
DEFAULT_QUADRATURE_NODES = 160


class DiracGenerator(nn.Module):
    """``G_θ(z) = θ`` for every latent ``z``: the distribution ``δ_θ`` on the real line (on
    R^dim: every coordinate starts at ``theta``)."""

    def __init__(self, theta: float = 0.0, dim: int = 1, latent_dim: int = 1) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.full((dim,), float(theta)))
        self.latent_dim = latent_dim  # what it is fed, and ignores

    def forward(self, z: Tensor) -> Tensor:
        return self.theta.expand(z.shape[0], self.theta.shape[0])


class DiracDiscriminator(nn.Module):
    """The linear discriminator ``D_ψ(x) = ψ·x`` (``ψᵀx`` on R^dim)."""

    def __init__(self, psi: float = 0.0, dim: int = 1) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.full((dim,), float(psi)))

    def forward(self, x: Tensor) -> Tensor:
        return (x * self.psi).sum(dim=-1)


def gauss_hermite(nodes: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Nodes and weights with ``Σ w_i f(x_i) ≈ E f(ε)``, ``ε ~ N(0, 1)``; exact for polynomials
    of degree ``< 2·nodes``."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    return torch.tensor(x, dtype=dtype), torch.tensor(w / w.sum(), dtype=dtype)


@dataclass
class DiracGAN(Game):
    """The Dirac-GAN game. Construct with :func:`dirac_gan`."""

    quadrature_nodes: int = DEFAULT_QUADRATURE_NODES

    def expectation_batch(self, method: Method) -> Batch:
        dtype = self.generator.theta.dtype
        if method.noise is None:
            # δ distributions: one sample each is the exact expectation.
            zeros = torch.zeros(1, 1, dtype=dtype)
            return Batch(real=zeros, latent=zeros, interpolation=torch.full((1,), 0.5, dtype=dtype))
        # Gaussian instance noise: expectations by Gauss–Hermite quadrature, independently
        # for the real and the generated sample.
        nodes, weights = gauss_hermite(self.quadrature_nodes, dtype)
        n = nodes.shape[0]
        zeros = torch.zeros(n, 1, dtype=dtype)
        return Batch(
            real=zeros,
            latent=zeros,
            real_noise=nodes[:, None],
            fake_noise=nodes[:, None],
            real_weight=weights,
            fake_weight=weights,
            # Real and generated noise are independent: a paired loss's expectation runs over
            # every (real node, fake node) pair.
            pairing="all",
            # D is linear, so its input gradient (hence any interpolate penalty) does not
            # depend on where between real and fake it is evaluated.
            interpolation=torch.full((n,), 0.5, dtype=dtype),
        )

    def equilibrium(self) -> tuple[Tensor, Tensor]:
        dtype = self.generator.theta.dtype
        return torch.zeros(1, dtype=dtype), torch.zeros(1, dtype=dtype)


def dirac_gan(
    theta: float = 0.0,
    psi: float = 0.0,
    dtype: torch.dtype = torch.float64,
    quadrature_nodes: int = DEFAULT_QUADRATURE_NODES,
) -> DiracGAN:
    """The Dirac-GAN in float64 (exact analysis) with players at ``(theta, psi)``."""
    return DiracGAN(
        generator=DiracGenerator(theta).to(dtype),
        discriminator=DiracDiscriminator(psi).to(dtype),
        name="dirac",
        quadrature_nodes=quadrature_nodes,
    )
