"""Games: players plus the distributions they play on."""

from convergan.games.dirac import DiracDiscriminator, DiracGAN, DiracGenerator, dirac_gan
from convergan.games.game import Game

__all__ = ["DiracDiscriminator", "DiracGAN", "DiracGenerator", "Game", "dirac_gan"]
