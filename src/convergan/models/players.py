"""The two players of a run, built from its config and its data's shape."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from convergan.registry import ARCHITECTURES


@dataclass
class Players:
    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    data_shape: tuple[int, ...]
    num_classes: int | None = None  # classes of a conditional model, else None


def make_players(
    config,
    data_shape: tuple[int, ...],
    num_classes: int | None = None,
    float64: bool = False,
) -> Players:
    """The config's architecture for data of ``data_shape`` (``num_classes`` from the data,
    used when the model is conditional and ``model.num_classes`` is not set). Seeded by the
    config's seed, so every process builds identical initial players; ``float64``: the data
    is float64 (:class:`~convergan.problems.DataInfo`), so are the players."""
    m = config.model
    torch.manual_seed(config.seed)
    classes = (m.num_classes or num_classes) if m.conditional else None
    generator, discriminator = ARCHITECTURES[m.name](m, data_shape, classes)
    if float64:
        generator, discriminator = generator.double(), discriminator.double()
    return Players(generator, discriminator, m.latent_dim, data_shape, classes)
