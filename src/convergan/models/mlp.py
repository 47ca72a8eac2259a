"""Fully connected players for the 2D problems.

Both networks are plain ``Linear → activation`` stacks: ``depth`` hidden layers of ``width``
units, then a linear output layer (so ``depth + 1`` linear layers in all; ``depth=0`` is a
single affine map, e.g. the Dirac-GAN's linear discriminator with a bias).

**No batch normalisation, on purpose.** Gradient penalties (R1, R2, WGAN-GP) penalise the
per-sample input gradient ``∇_x D(x)`` and compute it for a whole batch as
``∇_x Σ_i D(x_i)``. That trick is exact only if ``D(x_i)`` does not depend on the other
samples of the batch, which batch norm breaks. The same independence makes the exact
analysis' expectations well defined.

The default activation is Leaky ReLU with negative slope 0.2 (the usual GAN choice: no dead
units, non-zero gradient everywhere). Its second derivative is zero almost everywhere, but
R1 still has a non-zero gradient with respect to the weights, because ``∇_x D`` is a product
of weight matrices and activation slopes. Smooth activations (``"softplus"``, ``"tanh"``,
``"elu"``) are available for experiments where a smooth field matters.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "MLPDiscriminator", "MLPGenerator", "count_parameters"]

LEAKY_RELU_SLOPE = 0.2

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_RELU_SLOPE),
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
}
"""Activation name → module factory (``"leaky_relu"`` has slope 0.2)."""


def _positive_int(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int ≥ {minimum}, got {value!r}")


def _mlp(in_dim: int, out_dim: int, width: int, depth: int, activation: str) -> nn.Sequential:
    _positive_int("input dimension", in_dim)
    _positive_int("output dimension", out_dim)
    _positive_int("width", width)
    _positive_int("depth", depth, minimum=0)
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
        )
    layers: list[nn.Module] = []
    features = in_dim
    for _ in range(depth):
        layers += [nn.Linear(features, width), ACTIVATIONS[activation]()]
        features = width
    layers.append(nn.Linear(features, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """``G: R^latent_dim → R^out_dim``, an MLP with a linear (unbounded) output layer.

    The output is not squashed (no tanh) because the 2D problems live on different scales
    (``grid25`` spans ``[-4, 4]²``). The latent distribution belongs to the game, not to
    this module; ``forward(z)`` maps a ``(n, latent_dim)`` batch to ``(n, out_dim)``.
    """

    def __init__(
        self,
        latent_dim: int,
        out_dim: int = 2,
        width: int = 256,
        depth: int = 3,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_dim = out_dim
        self.net = _mlp(latent_dim, out_dim, width, depth, activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """``D: R^in_dim → R``, an MLP returning one raw logit per sample, shape ``(n,)``.

    The logit is unbounded (no sigmoid); losses apply ``softplus`` themselves. Sign convention
    of :mod:`convergan.methods.losses`: D is high on real data.
    """

    def __init__(
        self,
        in_dim: int = 2,
        width: int = 256,
        depth: int = 3,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.net = _mlp(in_dim, 1, width, depth, activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
