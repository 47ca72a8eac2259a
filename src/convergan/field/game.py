"""The gradient vector field of a game under a method: pure maths on flat parameters.

``v(θ, ψ) = (−∇_θ L_G(θ, ψ), −∇_ψ L_D(θ, ψ))``; consensus, part of the maths, is a transform
of it (``w = v − γ·v′ᵀv``). Each evaluation also returns, as auxiliary output, every player's
named loss terms; what is done with them (reports, divergence flags) is the business of the
:class:`~convergan.field.observed.Observed` wrapper, not of the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, get_args

import torch
from torch import Tensor, nn

from convergan.field.layout import DISCRIMINATOR, GENERATOR, ParameterLayout, State
from convergan.methods.batch import Batch
from convergan.methods.method import Method, is_zero_gain

DifferentiationRoute = Literal["functional", "eager"]  # torch.func or torch.autograd
Terms = dict[str, Tensor]


class Field(Protocol):
    """What a scheme needs from a field."""

    def __call__(self, x: State) -> State: ...

    def player(self, i: int, x: State) -> Tensor: ...

    def with_regularization_gain(self, gain: float | Tensor) -> Field: ...


@dataclass(frozen=True)
class GameField:
    """The field of ``method`` on ``generator``/``discriminator`` over ``batch``.

    Args:
        batch: a fixed :class:`Batch` (quadrature nodes, an evaluation batch), or a sampler
            called for a fresh one at every evaluation (training: each D step of AltGD sees
            new data).
        route: ``"functional"`` (``torch.func``; the analysis differentiates it again with
            ``jacfwd``/``jvp``, under ``vmap`` too) or ``"eager"`` (``torch.autograd``;
            training's route, with bf16 autocast; an evaluation costs what a functional one
            does: benchmarks/bench_small_costs.py). An eager field evaluated at a state that
            requires grad keeps its graph, so reverse mode can differentiate it again: the
            exact analysis does, since the first ``torch.func`` gradient of a process imports
            ``torch._dynamo`` (its cost: "Speed of dirac analyze" in
            docs/results/benchmarks.md).
        regularization_gain: 0 or k under lazy regularization, else 1.
        step: the 0-based training step, where the method's scheduled numbers (γ, σ) are
            read (logs say ``step + 1``).
        autocast_device: bf16 autocast of the losses on this device type (eager route).
        layouts: the players' parameter layouts (:class:`ParameterLayout`), built once and
            shared by the fields :meth:`at_step` and :meth:`with_regularization_gain` derive.
    """

    generator: nn.Module
    discriminator: nn.Module
    method: Method
    batch: Batch | Callable[[], Batch]
    route: DifferentiationRoute = "functional"
    regularization_gain: float | Tensor = 1.0
    step: int = 0
    autocast_device: str | None = None
    layouts: tuple[ParameterLayout, ParameterLayout] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.route not in get_args(DifferentiationRoute):
            raise ValueError(f"route must be 'functional' or 'eager', not {self.route!r}")
        if self.layouts is None:
            layouts = (ParameterLayout(self.generator), ParameterLayout(self.discriminator))
            object.__setattr__(self, "layouts", layouts)

    @property
    def sizes(self) -> tuple[int, int]:
        return (self.layouts[GENERATOR].size, self.layouts[DISCRIMINATOR].size)

    def draw_batch(self) -> Batch:
        return self.batch if isinstance(self.batch, Batch) else self.batch()

    def at_step(self, step: int) -> GameField:
        """The same field at training step ``step`` (the layouts are shared, not rebuilt): the
        method's parts read their scheduled numbers there."""
        return replace(self, step=step)

    def with_regularization_gain(self, gain: float | Tensor) -> GameField:
        return replace(self, regularization_gain=gain)

    # -- the two losses as functions of the flat parameters --------------------------------
    def player_loss(
        self, i: int, theta: Tensor, psi: Tensor, batch: Batch | None = None
    ) -> tuple[Tensor, Terms]:
        """Player ``i``'s loss and its named terms at flat parameters ``(theta, psi)``."""
        batch = self.draw_batch() if batch is None else batch
        generator, discriminator = self._bound(theta, psi, batch)
        if i == GENERATOR:
            loss = self.method.generator_loss(generator, discriminator, batch, step=self.step)
        else:
            loss = self.method.discriminator_loss(
                generator, discriminator, batch, **self._discriminator_options()
            )
        return loss.total, loss.terms

    def player_losses(
        self, theta: Tensor, psi: Tensor, batch: Batch
    ) -> tuple[tuple[Tensor, Terms], tuple[Tensor, Terms]]:
        """Both players' losses and terms at ``(theta, psi)`` from one generator forward and
        one D pass on the generated samples (:meth:`Method.losses
        <convergan.methods.Method.losses>`): :meth:`player_loss`'s values, one shared graph."""
        generator, discriminator = self._bound(theta, psi, batch)
        losses = self.method.losses(
            generator, discriminator, batch, **self._discriminator_options()
        )
        return tuple((loss.total, loss.terms) for loss in losses)

    def _discriminator_options(self) -> dict:
        """How this field evaluates D's loss: its regularization gain, its step (scheduled
        parts read their value there) and whether the players are bound functionally."""
        return {
            "regularization_gain": self.regularization_gain,
            "step": self.step,
            "functional": self.route == "functional",
        }

    def _bound(self, theta: Tensor, psi: Tensor, batch: Batch) -> tuple:
        """The two players as modules on the flat parameters ``theta`` and ``psi``."""
        generator_layout, discriminator_layout = self.layouts
        return (
            generator_layout.bind(theta, batch.labels),
            discriminator_layout.bind(psi, batch.labels),
        )

    def _directions_and_terms(
        self, x: State, batch: Batch, create_graph: bool = False
    ) -> tuple[State, tuple[Terms, Terms]]:
        """Both players' ``−∇_{x_i} L_i`` and terms on the eager route, the two losses sharing
        one generator forward and D's pass on the generated samples (:meth:`player_losses`):
        two backwards of one graph, and for a caller that differentiates through the field
        (the analysis' kept graph) one G subgraph instead of two under every product."""
        if differentiated(x):
            create_graph = True
            params = tuple(partial_input(x_j) for x_j in x)
        else:
            params = tuple(x_j.detach().requires_grad_(True) for x_j in x)
        device = self.autocast_device
        with torch.autocast(device or "cpu", dtype=torch.bfloat16, enabled=device is not None):
            losses = self.player_losses(*params, batch)
        directions = []
        for i, (loss, _) in enumerate(losses):
            last = i == len(losses) - 1
            (grad,) = torch.autograd.grad(
                loss.float(), params[i], retain_graph=create_graph or not last,
                create_graph=create_graph,
            )  # fmt: skip
            directions.append(-grad)
        return tuple(directions), tuple(terms for _, terms in losses)

    def _direction_and_terms(
        self, i: int, x: State, batch: Batch, create_graph: bool = False
    ) -> tuple[Tensor, Terms]:
        """``−∇_{x_i}`` of player ``i``'s loss by the field's route, and the loss's terms."""
        if self.route == "functional":

            def loss(theta: Tensor, psi: Tensor):
                return self.player_loss(i, theta, psi, batch)

            grad, terms = torch.func.grad(loss, argnums=i, has_aux=True)(*x)
            return -grad, terms
        # Eager: only player i's parameters require grad, so e.g. G's forward in a D step
        # builds no graph. A state that already requires grad is being differentiated through
        # (the analysis' Jacobians by reverse mode): the gradient keeps its graph.
        if differentiated(x):
            create_graph = True
            x = tuple(partial_input(x_j) if j == i else x_j for j, x_j in enumerate(x))
        else:
            x = tuple(x_j.detach().requires_grad_(j == i) for j, x_j in enumerate(x))
        device = self.autocast_device
        with torch.autocast(device or "cpu", dtype=torch.bfloat16, enabled=device is not None):
            loss, terms = self.player_loss(i, *x, batch)
        (grad,) = torch.autograd.grad(loss.float(), x[i], create_graph=create_graph)
        return -grad, terms

    # -- the field, with the loss terms as auxiliary output --------------------------------
    @property
    def coupled(self) -> bool:
        """Whether one player's field needs the other's (consensus at a nonzero gain)."""
        return self.method.consensus is not None and not is_zero_gain(self.regularization_gain)

    def evaluate(self, x: State) -> tuple[State, tuple[Terms, Terms]]:
        """The field at ``x`` on one batch, and each player's loss terms."""
        batch = self.draw_batch()
        if self.coupled:
            return self._consensus_field(x, batch)
        if self.route == "eager":
            return self._directions_and_terms(x, batch)
        pairs = [self._direction_and_terms(i, x, batch) for i in (GENERATOR, DISCRIMINATOR)]
        return tuple(d for d, _ in pairs), tuple(t for _, t in pairs)

    def evaluate_player(self, i: int, x: State) -> tuple[Tensor, Terms]:
        """Player ``i``'s field at ``x`` and its loss terms."""
        if self.coupled:
            v, terms = self.evaluate(x)
            return v[i], terms[i]
        return self._direction_and_terms(i, x, self.draw_batch())

    def __call__(self, x: State) -> State:
        return self.evaluate(x)[0]

    def differentiable(self, x: State) -> State:
        """The field at ``x`` with its autograd graph kept, for ``x`` that requires grad:
        plain ``torch.autograd`` with ``create_graph`` (whatever the route), so that one
        backward through the result is one vector-Jacobian product ``Jᵀw``. This is the
        analysis' graph, built once per point: no ``torch.func`` transforms are nested in it,
        which keeps each backward as lean as a hand-written ``create_graph`` gradient."""
        if not differentiated(x):
            raise ValueError("differentiable(x) needs a state that requires grad")
        # The eager field keeps its graph for a state it is differentiated through.
        return replace(self, route="eager", autocast_device=None)(x)

    def player(self, i: int, x: State) -> Tensor:
        return self.evaluate_player(i, x)[0]

    def _consensus_field(self, x: State, batch: Batch) -> tuple[State, tuple[Terms, Terms]]:
        """``v − gain·γ·v′ᵀv``; ``v′ᵀv = ∇(½‖v‖²)`` is one vector-Jacobian product through the
        field (``torch.func.vjp``), or in eager mode the gradient of ``½‖v‖²`` with ``v``
        built with ``create_graph`` (kept when the state is differentiated through)."""
        players = (GENERATOR, DISCRIMINATOR)
        if self.route == "functional":

            def field_with_terms(*p: Tensor):
                pairs = [self._direction_and_terms(i, p, batch) for i in players]
                return tuple(d for d, _ in pairs), tuple(t for _, t in pairs)

            v, pullback, terms = torch.func.vjp(field_with_terms, *x, has_aux=True)
            jacobian_transpose_v = pullback(v)
        else:
            # Differentiated through (see _direction_and_terms): keep the state's graph.
            keep = differentiated(x)
            params = tuple(
                partial_input(x_j) if keep else x_j.detach().requires_grad_(True) for x_j in x
            )
            v, terms = self._directions_and_terms(params, batch, create_graph=True)
            half_squared_norm = 0.5 * sum((v_i * v_i).sum() for v_i in v)
            jacobian_transpose_v = torch.autograd.grad(half_squared_norm, params, create_graph=keep)
            v = v if keep else tuple(v_i.detach() for v_i in v)
        w = self.method.consensus.transform(
            v, jacobian_transpose_v, self.regularization_gain, self.step
        )
        return w, terms


def differentiated(x: State) -> bool:
    """Whether an eager field's caller differentiates through the field (its state requires
    grad), so that the field's value must keep its graph."""
    return torch.is_grad_enabled() and any(x_j.requires_grad for x_j in x)


def partial_input(x_j: Tensor) -> Tensor:
    """``x_j`` as a node of its own, so that ``autograd.grad(·, node)`` is the *partial*
    derivative: in AltGD's D step the generator's new parameters depend on the old ψ, and a
    gradient with respect to ψ itself would follow that path too (``torch.func.grad``'s
    arguments are independent by construction)."""
    return x_j.clone() if x_j.requires_grad else x_j.detach().requires_grad_(True)


def game_field(
    game, method: Method, step: int = 0, route: DifferentiationRoute = "functional"
) -> GameField:
    """The exact field of ``method`` on an analysable ``game`` (expectations by quadrature)."""
    return GameField(
        game.generator,
        game.discriminator,
        method,
        game.expectation_batch(method),
        route=route,
        step=step,
    )
