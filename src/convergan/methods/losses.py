"""Adversarial losses: the interface every loss has, and the separable losses.

Sign convention (the common one, not the paper's): the discriminator D is *high on
real data*. With this convention the paper's objective
``L(θ,ψ) = E_z f(D_ψ(G_θ(z))) + E_x f(−D_ψ(x))`` corresponds to ``ψ → −ψ``; eigenvalues and
spectral radii do not depend on the choice.

**The interface** (:class:`AdversarialLoss`): a loss maps the discriminator's outputs on the
real and the generated samples of a :class:`~convergan.methods.batch.Batch` to each player's
scalar loss, ``discriminator_objective(d_real, d_fake, batch)`` and
``generator_objective(d_real, d_fake, batch)``; each player *minimises* its own. A loss that
sees real and fake outputs together (RpGAN, RaGAN: :mod:`convergan.methods.relativistic`)
implements these two directly; ``generator_sees_real`` says whether the generator's loss
reads ``D(x)`` (if not, the generator step never evaluates D on real data and gets
``d_real=None``).

**Separable losses** (:class:`GANLoss`) are a sum of a real term and a fake term, written
once as three elementwise functions::

    L_D = E_real[ real_term(D(x)) ] + E_fake[ fake_term(D(G(z))) ]
    L_G = E_fake[ generator_term(D(G(z))) ]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from convergan.methods.batch import Batch, pairs, weighted_mean


@dataclass(frozen=True)
class AdversarialLoss:
    """What every loss is: each player's scalar loss from D's outputs on a batch.

    ``d_real`` and ``d_fake`` are D's outputs on ``batch.real`` and on the generated samples
    (row ``i`` belongs to row ``i`` of the batch); expectations are weighted means with the
    batch's weights (:func:`~convergan.methods.batch.weighted_mean`, and
    :func:`~convergan.methods.batch.pairs` for losses of real-fake pairs).
    """

    name: str = "loss"
    generator_sees_real: ClassVar[bool] = False

    def discriminator_objective(self, d_real: Tensor, d_fake: Tensor, batch: Batch) -> Tensor:
        raise NotImplementedError

    def generator_objective(self, d_real: Tensor | None, d_fake: Tensor, batch: Batch) -> Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class GANLoss(AdversarialLoss):
    """A separable loss: subclasses define the three elementwise terms."""

    def discriminator_objective(self, d_real: Tensor, d_fake: Tensor, batch: Batch) -> Tensor:
        return weighted_mean(self.real_term(d_real), batch.real_weight) + weighted_mean(
            self.fake_term(d_fake), batch.fake_weight
        )

    def generator_objective(self, d_real: Tensor | None, d_fake: Tensor, batch: Batch) -> Tensor:
        return weighted_mean(self.generator_term(d_fake), batch.fake_weight)

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


@dataclass(frozen=True)
class PairedLoss(AdversarialLoss):
    """A loss of real-fake pairs: subclasses define two elementwise functions of a pair::

        L_D = E_pairs[ discriminator_term(D(x), D(G(z))) ]
        L_G = E_pairs[ generator_term(D(x), D(G(z))) ]

    The pairs are the batch's (:func:`~convergan.methods.batch.pairs`): row ``i`` of the real
    batch with row ``i`` of the generated batch in training, every real sample with every
    generated one where the batch holds quadrature nodes. A plugin registers its own paired
    loss in :data:`~convergan.registry.LOSSES` exactly like a separable one.
    """

    generator_sees_real: ClassVar[bool] = True

    def discriminator_term(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        raise NotImplementedError

    def generator_term(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        raise NotImplementedError

    def discriminator_objective(self, d_real: Tensor, d_fake: Tensor, batch: Batch) -> Tensor:
        real, fake, weight = pairs(d_real, d_fake, batch)
        return weighted_mean(self.discriminator_term(real, fake), weight)

    def generator_objective(self, d_real: Tensor | None, d_fake: Tensor, batch: Batch) -> Tensor:
        real, fake, weight = pairs(d_real, d_fake, batch)
        return weighted_mean(self.generator_term(real, fake), weight)
