"""The gradient vector field of a game under a method, on flat per-player parameters.

``v(θ, ψ) = (−∇_θ L_G(θ, ψ), −∇_ψ L_D(θ, ψ))``: each player descends its own loss; consensus
is then applied as a transform, ``w = v − γ·v′ᵀv``.

There is **one** field class, :class:`GameField`, used by the analysis and by the trainer.
What differs between them is plugged in:

* the **batch**: a fixed :class:`~convergan.methods.Batch` (quadrature nodes on the Dirac-GAN,
  a fixed evaluation batch for spectra) or a sampler called at every evaluation (a fresh
  minibatch per evaluation in training, so each D step of AltGD sees new data);
* the **differentiation route**: ``"functional"`` (``torch.func``, which the analysis
  differentiates again with ``jacfwd``/``jvp``) or ``"eager"`` (``torch.autograd``, measured
  faster for training: 13% on a DCGAN D step, 2.2× for consensus);
* the **mover**: :class:`GradientStep` (``x + h·d``, the analysis) or :class:`OptimizerStep`
  (an optimizer's pure update, training). Weight clipping is applied after either.

A state is a tuple ``(generator_params, discriminator_params)`` of flat tensors. Schemes talk
to a field only through :class:`Field`'s methods, so the same scheme code runs on the autodiff
field of real modules and on a linearised field ``z ↦ J z``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn
from torch.func import functional_call

from convergan.methods.batch import Batch
from convergan.methods.method import Method, is_zero_gain

State = tuple[Tensor, ...]
Route = Literal["functional", "eager"]
GENERATOR, DISCRIMINATOR = 0, 1
PLAYER_NAMES = {GENERATOR: "generator", DISCRIMINATOR: "discriminator"}


class Field(Protocol):
    """What a scheme needs from a field."""

    def __call__(self, x: State) -> State: ...

    def player(self, i: int, x: State) -> Tensor: ...

    def init_move(self, i: int, x_i: Tensor) -> Any:
        """The mover's initial state for player ``i`` (``None`` for plain gradient steps)."""
        ...

    def move(self, i: int, x_i: Tensor, direction: Tensor, lr, move_state) -> tuple[Tensor, Any]:
        """Player ``i``'s parameters after a step along ``direction`` (the field's sign), and
        the mover's new state."""
        ...

    def with_regularization_gain(self, gain: float | Tensor) -> Field: ...


# ------------------------------------------------------------------------------ movers


class GradientStep:
    """``x_i + lr·direction``: the update the analysis linearises."""

    def init(self, i: int, x_i: Tensor) -> None:
        return None

    def __call__(self, i: int, x_i: Tensor, direction: Tensor, lr, state) -> tuple[Tensor, None]:
        return x_i + lr * direction, None


@dataclass(frozen=True)
class OptimizerStep:
    """One optimizer step per move (:mod:`convergan.optimizers`), an optimizer per player.

    The gradient an optimizer sees is ``−direction``; its state comes in and goes out through
    the scheme state.
    """

    optimizers: tuple[Any, Any]

    def init(self, i: int, x_i: Tensor) -> dict:
        return self.optimizers[i].init(x_i.detach())

    def __call__(self, i: int, x_i: Tensor, direction: Tensor, lr, state) -> tuple[Tensor, dict]:
        return self.optimizers[i].update(x_i.detach(), -direction.detach(), float(lr), state)


GRADIENT_STEP = GradientStep()


# ------------------------------------------------------------------------------ divergence


class DivergenceError(RuntimeError):
    """A NaN or infinity appeared; the message names the step and the quantity."""


class DivergenceGuard:
    """Collects "is finite" flags during a training step and checks them *once*.

    Checking every loss term, gradient and parameter vector as it is computed would stall a
    GPU on a host synchronisation each time; here each quantity adds one flag tensor, and
    :meth:`check` reads them all with a single synchronisation at the end of the step, then
    names the first quantity that went bad.
    """

    def __init__(self) -> None:
        self._flags: list[Tensor] = []
        self._names: list[str] = []

    def watch(self, what: str, value: Tensor) -> None:
        # One pass: a sum is NaN or infinite iff some entry is (or, for finite entries, iff it
        # overflows, which at float32's 3e38 is divergence too). isfinite().all() would read
        # the tensor three times; on a DCGAN step that cost ~9% of the step.
        self._flags.append(value.detach().sum().float())
        self._names.append(what)

    def check(self, step: int) -> None:
        """Raise :class:`DivergenceError` naming ``step`` (1-based, as in logs)."""
        if not self._flags:
            return
        sums, names = torch.stack(self._flags), self._names
        self._flags, self._names = [], []
        finite = torch.isfinite(sums)
        if bool(finite.all()):
            return
        first = int((~finite).nonzero()[0])
        kind = "NaN" if torch.isnan(sums[first]) else "Inf"
        raise DivergenceError(f"training diverged at step {step}: {kind} in {names[first]}")


def flatten(x: State) -> Tensor:
    """Concatenate the players' parameters (broadcasting any leading batch axes)."""
    batch = torch.broadcast_shapes(*(x_i.shape[:-1] for x_i in x))
    return torch.cat([x_i.expand(*batch, x_i.shape[-1]) for x_i in x], dim=-1)


def unflatten(z: Tensor, sizes: tuple[int, ...]) -> State:
    return tuple(torch.split(z, list(sizes), dim=-1))


class ParameterLayout:
    """Maps one flat vector to a module's named parameters (and back).

    Parameters are stored in the order of ``module.parameters()``, each in its own contiguous
    layout. (Channels-last storage of conv weights was tried: 3-7% slower for a DCGAN-28 R1
    iteration on CPU, measured interleaved on a quiet machine, so it is not used.)
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


@dataclass(frozen=True)
class GameField:
    """The field of ``method`` on ``generator``/``discriminator`` over ``batch``.

    Args:
        batch: a fixed :class:`Batch`, or a callable drawing a fresh one per evaluation.
        route: ``"functional"`` (``torch.func``; differentiable again) or ``"eager"``.
        mover: how ``move`` steps: :data:`GRADIENT_STEP` or an :class:`OptimizerStep`.
        regularization_gain: 0 or k under lazy regularization, else 1.
        step: the 0-based training step (instance-noise annealing; logs say ``step + 1``).
        reporter: receives ``("generator/adversarial", value)``-style records, or ``None``.
        guard: a :class:`DivergenceGuard` that watches losses, fields and parameters.
        average_across_processes: all-reduce of a player's field under data parallelism.
        autocast_device: bf16 autocast of the losses on this device type (eager route).
    """

    generator: nn.Module
    discriminator: nn.Module
    method: Method
    batch: Batch | Callable[[], Batch]
    route: Route = "functional"
    mover: Any = field(default=GRADIENT_STEP)
    regularization_gain: float | Tensor = 1.0
    step: int = 0
    reporter: Callable[[str, Tensor], None] | None = None
    guard: DivergenceGuard | None = None
    average_across_processes: Callable[[Tensor], Tensor] | None = None
    autocast_device: str | None = None

    def __post_init__(self) -> None:
        if self.route not in ("functional", "eager"):
            raise ValueError(f"route must be 'functional' or 'eager', not {self.route!r}")
        object.__setattr__(self, "_g", ParameterLayout(self.generator))
        object.__setattr__(self, "_d", ParameterLayout(self.discriminator))

    @property
    def sizes(self) -> tuple[int, int]:
        return (self._g.size, self._d.size)

    def draw_batch(self) -> Batch:
        return self.batch if isinstance(self.batch, Batch) else self.batch()

    # -- the two losses as functions of the flat parameters --------------------------------
    def player_loss(
        self, i: int, theta: Tensor, psi: Tensor, batch: Batch | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Player ``i``'s loss and its named terms at flat parameters ``(theta, psi)``."""
        batch = self.draw_batch() if batch is None else batch
        generator, discriminator = (
            self._g.bind(theta, batch.labels),
            self._d.bind(psi, batch.labels),
        )
        if i == GENERATOR:
            loss = self.method.generator_loss(generator, discriminator, batch, step=self.step)
        else:
            loss = self.method.discriminator_loss(
                generator,
                discriminator,
                batch,
                regularization_gain=self.regularization_gain,
                step=self.step,
                functional=self.route == "functional",
            )
        return loss.total, loss.terms

    def _descent_direction(
        self, i: int, x: State, batch: Batch, create_graph: bool = False
    ) -> Tensor:
        """``−∇_{x_i}`` of player ``i``'s loss, by the field's route; its terms are reported."""
        direction, terms = self._direction_and_terms(i, x, batch, create_graph)
        self.report_terms(i, terms)
        return direction

    def _direction_and_terms(
        self, i: int, x: State, batch: Batch, create_graph: bool = False
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if self.route == "functional":

            def loss(theta: Tensor, psi: Tensor):
                return self.player_loss(i, theta, psi, batch)

            grad, terms = torch.func.grad(loss, argnums=i, has_aux=True)(*x)
            return -grad, terms
        # Eager: only player i's parameters require grad, so e.g. G's forward in a D step
        # builds no graph.
        if not x[i].requires_grad:
            x = tuple(x_j.detach().requires_grad_(j == i) for j, x_j in enumerate(x))
        device = self.autocast_device
        with torch.autocast(device or "cpu", dtype=torch.bfloat16, enabled=device is not None):
            loss, terms = self.player_loss(i, *x, batch)
        (grad,) = torch.autograd.grad(loss.float(), x[i], create_graph=create_graph)
        return -grad, terms

    def report_terms(self, i: int, terms: dict[str, Tensor]) -> None:
        """Hand player ``i``'s loss terms to the reporter and the guard as ``"<player>/<term>"``."""
        for name, value in terms.items():
            key = f"{PLAYER_NAMES[i]}/{name}"
            if self.guard is not None:
                self.guard.watch(f"the loss term {key}", value.detach())
            if self.reporter is not None:
                self.reporter(key, value.detach())

    def gradient_field(self, x: State, batch: Batch | None = None) -> State:
        """``v`` before field transforms."""
        batch = self.draw_batch() if batch is None else batch
        return tuple(self._descent_direction(i, x, batch) for i in (GENERATOR, DISCRIMINATOR))

    # -- the Field protocol ----------------------------------------------------------------
    def __call__(self, x: State) -> State:
        batch = self.draw_batch()
        if self._consensus_active:
            v = self._consensus_field(x, batch)
        else:
            v = self.gradient_field(x, batch)
        return tuple(self._finish(i, v_i) for i, v_i in enumerate(v))

    def player(self, i: int, x: State) -> Tensor:
        if self._consensus_active:
            return self(x)[i]  # consensus couples the players' fields
        return self._finish(i, self._descent_direction(i, x, self.draw_batch()))

    @property
    def _consensus_active(self) -> bool:
        return self.method.consensus is not None and not is_zero_gain(self.regularization_gain)

    def _consensus_field(self, x: State, batch: Batch) -> State:
        """``v − gain·γ·v′ᵀv``; ``v′ᵀv = ∇(½‖v‖²)`` is one vector-Jacobian product through the
        field (``torch.func.vjp``), or in eager mode the gradient of ``½‖v‖²`` with ``v``
        built with ``create_graph``."""
        if self.route == "functional":

            def field_with_terms(*p: Tensor):
                pairs = [self._direction_and_terms(i, p, batch) for i in (GENERATOR, DISCRIMINATOR)]
                return tuple(d for d, _ in pairs), [t for _, t in pairs]

            v, pullback, terms = torch.func.vjp(field_with_terms, *x, has_aux=True)
            jacobian_transpose_v = pullback(v)
            for i, player_terms in enumerate(terms):
                self.report_terms(i, player_terms)
        else:
            params = tuple(x_j.detach().requires_grad_(True) for x_j in x)
            v = tuple(
                self._descent_direction(i, params, batch, create_graph=True)
                for i in (GENERATOR, DISCRIMINATOR)
            )
            half_squared_norm = 0.5 * sum((v_i * v_i).sum() for v_i in v)
            jacobian_transpose_v = torch.autograd.grad(half_squared_norm, params)
            v = tuple(v_i.detach() for v_i in v)
        return self.method.consensus.transform(v, jacobian_transpose_v, self.regularization_gain)

    def _finish(self, i: int, direction: Tensor) -> Tensor:
        """Average across processes, then watch and report player ``i``'s field."""
        if self.average_across_processes is not None:
            direction = self.average_across_processes(direction)
        if self.guard is not None:
            self.guard.watch(f"the {PLAYER_NAMES[i]}'s gradient", direction.detach())
        if self.reporter is not None:
            self.reporter(f"{PLAYER_NAMES[i]}/gradient_norm", torch.linalg.vector_norm(direction))
        return direction

    def project(self, i: int, x_i: Tensor) -> Tensor:
        return apply_constraint(self.method, i, x_i)

    def init_move(self, i: int, x_i: Tensor) -> Any:
        return self.mover.init(i, x_i)

    def move(self, i: int, x_i: Tensor, direction: Tensor, lr, move_state=None):
        """A projected step ``P(mover(x_i, direction, lr))`` and the mover's new state."""
        moved, move_state = self.mover(i, x_i, direction, lr, move_state)
        moved = self.project(i, moved)
        if self.guard is not None:
            self.guard.watch(f"the {PLAYER_NAMES[i]}'s parameters", moved)
        return moved, move_state

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
    gain ``g``.

    ``jacobians`` maps each gain a scheme may ask for (see ``Scheme.regularization_gains``)
    to a dense tensor of shape ``(..., n, n)`` (batched: states have shape ``(..., n_i)`` per
    player), or to a function ``z ↦ J_g z`` (matrix-free, for real networks). Running a
    scheme on this field yields its update Jacobian applied to the starting state, since a
    scheme is linear in a linear field. ``preconditioner`` optionally scales each player's
    step by a frozen diagonal (an optimizer's effective per-parameter rates).
    """

    jacobians: dict[float, Tensor | Callable[[Tensor], Tensor]]
    sizes: tuple[int, ...]
    regularization_gain: float = 1.0
    preconditioner: tuple[Tensor, ...] | None = None

    def __call__(self, x: State) -> State:
        z = flatten(x)
        jacobian = self.jacobians[self.regularization_gain]
        if callable(jacobian):
            return unflatten(jacobian(z), self.sizes)
        return unflatten(torch.einsum("...ij,...j->...i", jacobian, z), self.sizes)

    def player(self, i: int, x: State) -> Tensor:
        return self(x)[i]

    def init_move(self, i: int, x_i: Tensor) -> None:
        return None

    def move(self, i: int, x_i: Tensor, direction: Tensor, lr, move_state=None):
        # Constraints are inactive at an interior equilibrium.
        if self.preconditioner is not None:
            direction = self.preconditioner[i].to(direction) * direction
        return x_i + lr * direction, None

    def with_regularization_gain(self, gain: float) -> LinearField:
        gain = float(gain)
        if gain not in self.jacobians:
            raise KeyError(f"no Jacobian for regularization gain {gain}")
        return replace(self, regularization_gain=gain)
