"""Full-batch 2D problems: a fixed finite game, so that training is a deterministic map.

``<name>-fullbatch`` for every registered 2D problem (``circle-fullbatch``,
``ring8-fullbatch``, ...): N = ``data.batch_size`` real points of the 2D problem and N latents,
drawn once from the run's ``seed``, with the instance-noise draws and interpolation
coefficients a method may use, all in float64 (the players are built in float64 too). Every
training step uses the whole game, and so does every evaluation game, whatever seed or size is
asked: the diagnostics' field, ``convergan spectrum`` and the path-angle all see the game the
players are trained on, and a second evaluation game drawn with another seed is the same game
(its sampling noise is exactly 0).

Trained with plain gradient steps (``optim.*.name=sgd`` without momentum), the trainer's map
*is* the update operator ``convergan spectrum --scheme run`` linearises, in the same
arithmetic: near a local equilibrium the field norm ‖v‖ shrinks (or grows) at the operator's
spectral radius on the field, which ``convergan verdict`` measures
(``configs/toy2d/circle-fullbatch.yaml``). The metrics are those of the 2D problem, on the game
itself: W1 between its N real points and the generator at its N latents.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from convergan.methods.batch import Batch
from convergan.problems.base import DataInfo
from convergan.problems.toy2d import Toy2DProblem
from convergan.registry import PROBLEMS_2D

SUFFIX = "-fullbatch"
DTYPE = torch.float64


def fixed_game(source, samples: int, latent_dim: int, seed: int) -> Batch:
    """The game: ``samples`` points of the 2D ``source``, as many standard-normal latents, both
    instance-noise draws and interpolation coefficients, drawn in that order from one
    generator seeded with ``seed``, in float64."""
    g = torch.Generator().manual_seed(seed)
    real = source.sample(samples, g, dtype=DTYPE)
    latent = torch.randn(samples, latent_dim, generator=g, dtype=DTYPE)
    real_noise = torch.randn(real.shape, generator=g, dtype=DTYPE)
    fake_noise = torch.randn(real.shape, generator=g, dtype=DTYPE)
    interpolation = torch.rand(samples, generator=g, dtype=DTYPE)
    return Batch(real, latent, real_noise, fake_noise, interpolation=interpolation)


class FullBatchProblem(Toy2DProblem):
    """A 2D problem reduced to a fixed game of ``data.batch_size`` samples."""

    def __init__(self, config: Any, source: str) -> None:
        super().__init__(config, source)
        self.samples = int(config.data.batch_size)
        self.spectrum_samples = self.samples  # every evaluation game is the whole game
        self.game = fixed_game(self.source, self.samples, config.model.latent_dim, config.seed)

    def info(self) -> DataInfo:
        return DataInfo((2,), None, float64=True)

    def real_stream(self, global_batch: int, seed: int, num_workers: int = 0) -> FixedGameStream:
        return FixedGameStream(self.game)  # whatever size and seed are asked

    def real_samples(self, n: int, seed: int) -> Tensor:
        return self.game.real  # the data is the game's N points

    def evaluation_points(self) -> tuple[Tensor, Tensor]:
        return self.game.real, self.game.latent


class FixedGameStream:
    """The whole game at every draw: stateless, so resuming it is trivial."""

    def __init__(self, game: Batch) -> None:
        self.game = game

    def __iter__(self) -> FixedGameStream:
        return self

    def __next__(self) -> Batch:
        return self.game

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FullBatchFamily:
    """``<name>-fullbatch`` for every registered 2D problem ``<name>``."""

    def names(self) -> tuple[str, ...]:
        return tuple(name + SUFFIX for name in PROBLEMS_2D.names())

    def build(self, config: Any) -> FullBatchProblem:
        return FullBatchProblem(config, config.data.name.removesuffix(SUFFIX))


FAMILY = FullBatchFamily()  # registered (declared) in convergan.registry.PROBLEM_FAMILIES
