"""A game: two players (``nn.Module``s) and the distributions they are trained on."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from convergan.methods.batch import Batch
from convergan.methods.method import Method


@dataclass
class Game:
    """Base class of games that can be analysed exactly.

    Subclasses provide the players and :meth:`expectation_batch`, a batch whose weighted
    means are the exact expectations of the game (quadrature where there is noise).
    """

    generator: nn.Module
    discriminator: nn.Module
    name: str = "game"

    def expectation_batch(self, method: Method) -> Batch:
        raise NotImplementedError

    def equilibrium(self) -> tuple[Tensor, Tensor]:
        """The equilibrium the analysis linearises around (flat parameters per player)."""
        raise NotImplementedError

    def state(self) -> tuple[Tensor, Tensor]:
        """The players' current parameters, flattened (generator, discriminator)."""
        from convergan.field import ParameterLayout

        return tuple(ParameterLayout(m).flat() for m in (self.generator, self.discriminator))
