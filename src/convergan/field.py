"""The gradient vector field of a game under a method, on flat per-player parameters.

``v(θ, ψ) = (−∇_θ L_G(θ, ψ), −∇_ψ L_D(θ, ψ))``: each player descends its own loss. The field
is obtained by differentiating :class:`~convergan.methods.Method` code with ``torch.func``;
consensus is then applied as a transform, ``w = v − γ·v′ᵀv``.

A state is a tuple ``(generator_params, discriminator_params)`` of flat tensors. Schemes talk
to a field only through :class:`Field`'s three methods, so the same scheme code runs on the
autodiff field of real modules and on a linearised field ``z ↦ J z``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from torch import Tensor, nn
from torch.func import functional_call

from convergan.methods.batch import Batch
from convergan.methods.method import Method, is_zero_gain

State = tuple[Tensor, ...]
GENERATOR, DISCRIMINATOR = 0, 1
PLAYER_NAMES = {GENERATOR: "generator", DISCRIMINATOR: "discriminator"}


class Field(Protocol):
    """What a scheme needs from a field."""

    def __call__(self, x: State) -> State: ...

    def player(self, i: int, x: State) -> Tensor: ...

    def move(self, i: int, x_i: Tensor, direction: Tensor, lr) -> Tensor:
        """Player ``i``'s parameters after a step along ``direction`` (the field's sign)."""
        ...

    def with_regularization_gain(self, gain: float | Tensor) -> Field: ...


def flatten(x: State) -> Tensor:
    """Concatenate the players' parameters (broadcasting any leading batch axes)."""
    batch = torch.broadcast_shapes(*(x_i.shape[:-1] for x_i in x))
    return torch.cat([x_i.expand(*batch, x_i.shape[-1]) for x_i in x], dim=-1)


def unflatten(z: Tensor, sizes: tuple[int, ...]) -> State:
    return tuple(torch.split(z, list(sizes), dim=-1))


class ParameterLayout:
    """Maps one flat vector to a module's named parameters (and back)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        named = list(module.named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.size = sum(self.sizes)

    def flat(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def bind(self, flat: Tensor, labels: Tensor | None = None):
        """The module as a function of its input, with parameters taken from ``flat`` (and,
        for conditional models, the batch's class labels bound as ``labels=``)."""
        chunks = torch.split(flat, self.sizes)
        params = {n: c.reshape(s) for n, c, s in zip(self.names, chunks, self.shapes)}
        kwargs = {} if labels is None else {"labels": labels}
        return lambda inputs: functional_call(self.module, params, (inputs,), kwargs)

    def assign(self, flat: Tensor) -> None:
        """Copy ``flat`` into the module's own parameters (for sampling and export)."""
        with torch.no_grad():
            for p, c in zip(self.module.parameters(), torch.split(flat, self.sizes)):
                p.copy_(c.reshape(p.shape))


@dataclass(frozen=True)
class GameField:
    """The autodiff field of ``method`` on ``generator``/``discriminator`` over ``batch``."""

    generator: nn.Module
    discriminator: nn.Module
    method: Method
    batch: Batch
    regularization_gain: float | Tensor = 1.0
    step: int = 0
    # Receives ("generator/adversarial", value)-style records in training; None in analysis.
    reporter: Callable[[str, Tensor], None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_g", ParameterLayout(self.generator))
        object.__setattr__(self, "_d", ParameterLayout(self.discriminator))

    @property
    def sizes(self) -> tuple[int, int]:
        return (self._g.size, self._d.size)

    # -- the two losses as functions of the flat parameters --------------------------------
    def player_loss(self, i: int, theta: Tensor, psi: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Player ``i``'s loss and its named terms at flat parameters ``(theta, psi)``."""
        labels = self.batch.labels
        generator, discriminator = self._g.bind(theta, labels), self._d.bind(psi, labels)
        if i == GENERATOR:
            loss = self.method.generator_loss(generator, discriminator, self.batch, step=self.step)
        else:
            loss = self.method.discriminator_loss(
                generator,
                discriminator,
                self.batch,
                regularization_gain=self.regularization_gain,
                step=self.step,
            )
        return loss.total, loss.terms

    def _descent_direction(self, i: int, x: State) -> Tensor:
        def loss(theta: Tensor, psi: Tensor):
            return self.player_loss(i, theta, psi)

        grad, terms = torch.func.grad(loss, argnums=i, has_aux=True)(*x)
        self.report_terms(i, terms)
        return -grad

    def report_terms(self, i: int, terms: dict[str, Tensor]) -> None:
        """Hand player ``i``'s loss terms to the reporter as ``"<player>/<term>"``."""
        if self.reporter is not None:
            for name, value in terms.items():
                self.reporter(f"{PLAYER_NAMES[i]}/{name}", value.detach())

    def gradient_field(self, x: State) -> State:
        """``v`` before field transforms."""
        return (self._descent_direction(GENERATOR, x), self._descent_direction(DISCRIMINATOR, x))

    # -- the Field protocol ----------------------------------------------------------------
    def __call__(self, x: State) -> State:
        v = self.gradient_field(x)
        consensus = self.method.consensus
        if consensus is None or is_zero_gain(self.regularization_gain):
            return v
        # ∇(½‖v‖²) = v′ᵀ v, one vector-Jacobian product through the field.
        _, pullback = torch.func.vjp(replace(self, reporter=None).gradient_field, x)
        (vjp,) = pullback(v)
        return consensus.transform(v, vjp, self.regularization_gain)

    def player(self, i: int, x: State) -> Tensor:
        if self.method.consensus is not None:
            return self(x)[i]  # consensus couples the players' fields
        return self._descent_direction(i, x)

    def project(self, i: int, x_i: Tensor) -> Tensor:
        return apply_constraint(self.method, i, x_i)

    def move(self, i: int, x_i: Tensor, direction: Tensor, lr) -> Tensor:
        """A projected gradient step ``P(x_i + lr·direction)``."""
        return self.project(i, x_i + lr * direction)

    def with_regularization_gain(self, gain: float | Tensor) -> GameField:
        return replace(self, regularization_gain=gain)


def apply_constraint(method: Method, i: int, x_i: Tensor) -> Tensor:
    """The method's constraint on player ``i`` (WGAN weight clipping of D), a projection."""
    if i == DISCRIMINATOR and method.clip is not None:
        return method.clip(x_i)
    return x_i


def game_field(game, method: Method, step: int = 0) -> GameField:
    """The exact field of ``method`` on an analysable ``game`` (expectations by quadrature)."""
    return GameField(
        game.generator, game.discriminator, method, game.expectation_batch(method), step=step
    )


@dataclass(frozen=True)
class LinearField:
    """The linear field ``z ↦ J_g z``, where ``J_g`` is the field's Jacobian at regularization
    gain ``g``, with batch dimensions.

    ``jacobians`` maps each gain a scheme may ask for (see ``Scheme.regularization_gains``)
    to a tensor of shape ``(..., n, n)``; states have shape ``(..., n_i)`` per player. Running
    a scheme on this field from the identity yields the scheme's update Jacobian exactly,
    since a scheme is linear in a linear field.
    """

    jacobians: dict[float, Tensor]
    sizes: tuple[int, ...]
    regularization_gain: float = 1.0

    def __call__(self, x: State) -> State:
        z = flatten(x)
        jacobian = self.jacobians[self.regularization_gain]
        return unflatten(torch.einsum("...ij,...j->...i", jacobian, z), self.sizes)

    def player(self, i: int, x: State) -> Tensor:
        return self(x)[i]

    def move(self, i: int, x_i: Tensor, direction: Tensor, lr) -> Tensor:
        return x_i + lr * direction  # constraints are inactive at an interior equilibrium

    def with_regularization_gain(self, gain: float) -> LinearField:
        if gain not in self.jacobians:
            raise KeyError(f"no Jacobian precomputed for regularization gain {gain}")
        return replace(self, regularization_gain=gain)
