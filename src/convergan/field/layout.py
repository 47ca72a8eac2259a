"""States and the flat parameter layout: players, flat vectors and their module views."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.func import functional_call

State = tuple[Tensor, ...]
GENERATOR, DISCRIMINATOR = 0, 1
PLAYER_NAMES = {GENERATOR: "generator", DISCRIMINATOR: "discriminator"}


def flatten(x: State) -> Tensor:
    """Concatenate the players' parameters (broadcasting any leading batch axes)."""
    batch = _broadcast_shapes([x_i.shape[:-1] for x_i in x])
    return torch.cat([x_i.expand(*batch, x_i.shape[-1]) for x_i in x], dim=-1)


def _broadcast_shapes(shapes: list[torch.Size]) -> tuple[int, ...]:
    """NumPy broadcasting of ``shapes``. Not ``torch.broadcast_shapes``: its first call imports
    sympy through ``torch._refs`` (its cost: "Speed of dirac analyze" in
    docs/results/benchmarks.md)."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    result = []
    for sizes in zip(*padded):
        other = {n for n in sizes if n != 1}
        if len(other) > 1:
            raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} do not broadcast")
        result.append(other.pop() if other else 1)
    return tuple(result)


def unflatten(z: Tensor, sizes: tuple[int, ...]) -> State:
    return tuple(torch.split(z, list(sizes), dim=-1))


class ParameterLayout:
    """Maps one flat vector to a module's named parameters (and back).

    Parameters are stored in the order of ``module.parameters()``, each in its own contiguous
    layout (channels-last storage of conv weights made the DCGAN step slower: "The training
    step: R1 and lazy R1" in docs/results/benchmarks.md).
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        named = list(module.named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.size = sum(self.sizes)

    def flat(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """``{name: tensor}`` views of ``flat`` shaped as the module's parameters."""
        chunks = torch.split(flat, self.sizes)
        return {n: c.reshape(s) for n, c, s in zip(self.names, chunks, self.shapes)}

    def bind(self, flat: Tensor, labels: Tensor | None = None):
        """The module as a function of its input, with parameters taken from ``flat`` (and,
        for conditional models, the batch's class labels bound as ``labels=``)."""
        params = self.unflatten(flat)
        kwargs = {} if labels is None else {"labels": labels}
        return lambda inputs: functional_call(self.module, params, (inputs,), kwargs)

    def assign(self, flat: Tensor) -> None:
        """Copy ``flat`` into the module's own parameters (for sampling and export)."""
        with torch.no_grad():
            for p, value in zip(self.module.parameters(), self.unflatten(flat).values()):
                p.copy_(value)
