"""A user's loss in one file: LSGAN with the symmetric coding of Mao et al. (2017).

D regresses real samples to +1 and generated ones to −1; G pushes its samples to 0, the
decision boundary (a = −1, b = 1, c = 0 in the paper's notation). convergan's built-in
``least-squares`` loss is the other coding (0, 1, 1). Use it from a config or the command line:

    convergan train configs/toy2d/circle.yaml plugins=[examples/plugins/lsgan.py] \\
        method.loss=lsgan method.penalties=[r1:1]
    convergan dirac analyze plugins=[examples/plugins/lsgan.py] method.loss=lsgan --lr 0.5
"""

from dataclasses import dataclass

from convergan.methods import GANLoss
from convergan.registry import LOSSES


@LOSSES.register("lsgan", description="LSGAN, symmetric coding: D real -> 1, fake -> -1; G -> 0")
@dataclass(frozen=True)
class SymmetricLeastSquaresLoss(GANLoss):
    name: str = "lsgan"

    def real_term(self, d_real):
        return 0.5 * (d_real - 1) ** 2

    def fake_term(self, d_fake):
        return 0.5 * (d_fake + 1) ** 2

    def generator_term(self, d_fake):
        return 0.5 * d_fake**2
