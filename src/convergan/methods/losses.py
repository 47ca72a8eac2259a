"""Adversarial losses, each written once as three elementwise functions.

Sign convention (the common one, not the paper's): the discriminator D is *high on
real data*. With this convention the paper's objective
``L(θ,ψ) = E_z f(D_ψ(G_θ(z))) + E_x f(−D_ψ(x))`` corresponds to ``ψ → −ψ``; eigenvalues and
spectral radii do not depend on the choice.

A loss is split into the three terms every GAN objective is made of::

    L_D = E_real[ real_term(D(x)) ] + E_fake[ fake_term(D(G(z))) ]
    L_G = E_fake[ generator_term(D(G(z))) ]

Each player *minimises* its own loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F


@dataclass(frozen=True)
class GANLoss:
    """Base class: subclasses define the three elementwise terms."""

    name: str = "loss"

    def real_term(self, d_real: Tensor) -> Tensor:
        raise NotImplementedError

    def fake_term(self, d_fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_term(self, d_fake: Tensor) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class StandardLoss(GANLoss):
    """Saturating GAN of Goodfellow et al. (2014): G minimises ``log(1 − sigmoid(D(G(z))))``.

    ``real_term = softplus(−d)``, ``fake_term = softplus(d)``, ``generator_term = −softplus(d)``.
    In the paper's notation this is f(t) = −log(1 + e^{−t}), f′(0) = 1/2, f″(0) = −1/4.
    """

    name: str = "saturating"

    def real_term(self, d_real: Tensor) -> Tensor:
        return F.softplus(-d_real)

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return F.softplus(d_fake)

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return -F.softplus(d_fake)


@dataclass(frozen=True)
class NonSaturatingLoss(StandardLoss):
    """Non-saturating GAN: G minimises ``−log sigmoid(D(G(z))) = softplus(−D(G(z)))``."""

    name: str = "nonsaturating"

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return F.softplus(-d_fake)


@dataclass(frozen=True)
class WassersteinLoss(GANLoss):
    """WGAN (Arjovsky et al., 2017): the critic maximises ``E D(x) − E D(G(z))``."""

    name: str = "wgan"

    def real_term(self, d_real: Tensor) -> Tensor:
        return -d_real

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return d_fake

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return -d_fake


@dataclass(frozen=True)
class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye, 2017; Miyato et al., 2018) with the Wasserstein generator term."""

    name: str = "hinge"

    def real_term(self, d_real: Tensor) -> Tensor:
        return torch.relu(1.0 - d_real)

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return torch.relu(1.0 + d_fake)

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return -d_fake


@dataclass(frozen=True)
class LeastSquaresLoss(GANLoss):
    """Least-squares GAN with the 0-1-1 coding: ``½(D(x) − 1)² + ½D(G(z))²`` for D and
    ``½(D(G(z)) − 1)²`` for G."""

    name: str = "least-squares"

    def real_term(self, d_real: Tensor) -> Tensor:
        return 0.5 * (d_real - 1.0) ** 2

    def fake_term(self, d_fake: Tensor) -> Tensor:
        return 0.5 * d_fake**2

    def generator_term(self, d_fake: Tensor) -> Tensor:
        return 0.5 * (d_fake - 1.0) ** 2
