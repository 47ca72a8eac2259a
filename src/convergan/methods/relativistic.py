"""Relativistic losses: the discriminator judges a real sample *relative to* generated ones.

Sign convention as in :mod:`convergan.methods.losses` (D high on real data); each player
minimises its loss.

**RpGAN**, the relativistic pairing GAN (Jolicoeur-Martineau, 2019, "RSGAN"; Sun et al., 2020;
the loss of R3GAN, Huang et al., NeurIPS 2024): over pairs of a real sample ``x`` and a
generated sample ``G(z)``::

    L_D = E_{x,z} softplus(−(D(x) − D(G(z))))
    L_G = E_{x,z} softplus(−(D(G(z)) − D(x)))

The pairs are the batch's (:func:`~convergan.methods.batch.pairs`: row ``i`` with row ``i`` in
training). On the Dirac-GAN ``D(G(z)) − D(x) = ψθ``, so RpGAN's field there equals the
non-saturating GAN's; where D has a nonzero mean on the data the two differ (the two-point
game, :mod:`convergan.games.two_points`).

**RaGAN**, the relativistic average GAN (Jolicoeur-Martineau, 2019): each sample is judged
against the *average* output on the other distribution,
``m_real = E_x D(x)``, ``m_fake = E_z D(G(z))``::

    L_D = E_x f₁(D(x) − m_fake) + E_z f₂(D(G(z)) − m_real)
    L_G = E_z f₁(D(G(z)) − m_real) + E_x f₂(D(x) − m_fake)

with ``f₁(y) = softplus(−y)``, ``f₂(y) = softplus(y)`` (``ragan``), ``f₁(y) = (y − 1)²``,
``f₂(y) = (y + 1)²`` (``ragan-least-squares``) or ``f₁(y) = max(0, 1 − y)``,
``f₂(y) = max(0, 1 + y)`` (``ragan-hinge``), the paper's RaSGAN, RaLSGAN and RaHingeGAN.
The averages are weighted means over the batch D sees, so under data parallelism each process
averages over its own slice (like batch statistics); only the pairing losses are unchanged by
splitting the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from convergan.methods.batch import Batch, weighted_mean
from convergan.methods.losses import AdversarialLoss, PairedLoss


@dataclass(frozen=True)
class RelativisticPairingLoss(PairedLoss):
    """RpGAN: D minimises ``softplus(D(G(z)) − D(x))``, G ``softplus(D(x) − D(G(z)))``, per
    real-fake pair."""

    name: str = "rpgan"

    def discriminator_term(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(d_fake - d_real)

    def generator_term(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(d_real - d_fake)


@dataclass(frozen=True)
class RelativisticAverageLoss(AdversarialLoss):
    """RaGAN with ``f₁(y) = softplus(−y)``, ``f₂(y) = softplus(y)`` (RaSGAN); subclasses change
    ``f1`` and ``f2``."""

    name: str = "ragan"
    generator_sees_real: ClassVar[bool] = True

    def f1(self, y: Tensor) -> Tensor:
        return F.softplus(-y)

    def f2(self, y: Tensor) -> Tensor:
        return F.softplus(y)

    def _relative(self, d_real: Tensor, d_fake: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """``D(x) − m_fake`` and ``D(G(z)) − m_real``."""
        return (
            d_real - weighted_mean(d_fake, batch.fake_weight),
            d_fake - weighted_mean(d_real, batch.real_weight),
        )

    def discriminator_objective(self, d_real: Tensor, d_fake: Tensor, batch: Batch) -> Tensor:
        real, fake = self._relative(d_real, d_fake, batch)
        return weighted_mean(self.f1(real), batch.real_weight) + weighted_mean(
            self.f2(fake), batch.fake_weight
        )

    def generator_objective(self, d_real: Tensor | None, d_fake: Tensor, batch: Batch) -> Tensor:
        real, fake = self._relative(d_real, d_fake, batch)
        return weighted_mean(self.f1(fake), batch.fake_weight) + weighted_mean(
            self.f2(real), batch.real_weight
        )


@dataclass(frozen=True)
class RelativisticAverageLeastSquaresLoss(RelativisticAverageLoss):
    """RaLSGAN: ``f₁(y) = (y − 1)²``, ``f₂(y) = (y + 1)²``."""

    name: str = "ragan-least-squares"

    def f1(self, y: Tensor) -> Tensor:
        return (y - 1.0) ** 2

    def f2(self, y: Tensor) -> Tensor:
        return (y + 1.0) ** 2


@dataclass(frozen=True)
class RelativisticAverageHingeLoss(RelativisticAverageLoss):
    """RaHingeGAN: ``f₁(y) = max(0, 1 − y)``, ``f₂(y) = max(0, 1 + y)``."""

    name: str = "ragan-hinge"

    def f1(self, y: Tensor) -> Tensor:
        return torch.relu(1.0 - y)

    def f2(self, y: Tensor) -> Tensor:
        return torch.relu(1.0 + y)
