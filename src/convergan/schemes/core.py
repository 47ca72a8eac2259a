"""Update schemes: how a state moves along a field.

Each scheme is a small frozen dataclass with ``init(field, mover, x) -> state`` and
``step(field, mover, x, state, t) -> (x, state)``, in the style of optax. The two things a
step composes come in separately (:mod:`convergan.field`):

* the **field**: anything with ``__call__(x)``, ``player(i, x)`` and
  ``with_regularization_gain(g)``: the autodiff field of real modules (wrapped to report and
  guard in training), the exact Dirac field, or a linearised field (which is how update
  Jacobians are computed);
* the **mover**: ``init(i, x_i)`` and ``mover(i, x_i, direction, lr, move_state)``: a
  projected gradient step in the analysis, an optimizer step in training.

**State.** A scheme's state is a :class:`SchemeState`: ``own`` (what the scheme itself keeps,
e.g. optimistic GD's previous field value; a tuple of tensors) and ``moves`` (one entry per
player: what the mover keeps, e.g. Adam's moments; ``None`` for plain gradient steps).
Nothing is mutated behind a step: all state goes in and comes out.

**Learning rates** are set here, once, by whoever builds the scheme (the trainer from its
optimizers' ``optim.g.lr`` / ``optim.d.lr``, the Dirac command line from ``--lr``): ``lr_g`` for
the generator, ``lr_d`` for the discriminator (TTUR); ``lr`` sets both. There is no default: a
scheme built without rates (a wrapper's default inner scheme, before the wrapper hands it its
own) cannot step. A rate is a number or a function of the training step (a schedule,
:func:`convergan.schedules.on_steps`); a step reads the rates in force with :meth:`Scheme.rates`
and hands them to the mover on every move.

**Period.** The *update operator* F of a scheme is one period: ``period`` calls of ``step``
from ``t = 0``, after which the scheme's behaviour as a function of ``t`` repeats. A wrapper
with its own cycle of ``c`` steps around a scheme of period ``p`` has period ``lcm(c, p)``
(:func:`combined_period`), not ``c·p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from torch import Tensor

from convergan.field import DISCRIMINATOR, GENERATOR, Field, Mover, State
from convergan.schedules import value_at

Rate = float | Tensor


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """Base class. Subclasses implement :meth:`step` (and :meth:`init` if they keep state)."""

    lr: Rate | None = None
    lr_g: Rate | None = None
    lr_d: Rate | None = None

    def __post_init__(self) -> None:
        lr = self.lr
        object.__setattr__(self, "lr_g", lr if self.lr_g is None else self.lr_g)
        object.__setattr__(self, "lr_d", lr if self.lr_d is None else self.lr_d)
        object.__setattr__(self, "lr", None)
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            # 0 is allowed: a learning-rate schedule's warm-up starts there (the player stays).
            if isinstance(value, (int, float)) and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")

    name = "scheme"
    period = 1
    regularization_gains = (1.0,)

    @property
    def lrs(self) -> tuple[Rate, Rate]:
        """The rates as set (constants in an analysis; see :meth:`rates` for a step's)."""
        return (self.lr_g, self.lr_d)

    def rates(self, t: int) -> tuple[Rate, Rate]:
        """``(lr_g, lr_d)`` in force at the training step ``t`` (a scheduled rate's value
        there, :func:`~convergan.schedules.value_at`)."""
        if self.lr_g is None or self.lr_d is None:
            raise ValueError(
                f"scheme {self.name!r} has no learning rates: give lr_g and lr_d (or lr)"
            )
        return (value_at(self.lr_g, t), value_at(self.lr_d, t))

    def scaled(self, factor: Rate) -> Scheme:
        """The same scheme with every learning rate multiplied by ``factor``."""
        return self.with_rates(self.lr_g * factor, self.lr_d * factor)

    def with_rates(self, lr_g: Rate, lr_d: Rate) -> Scheme:
        """The same scheme with these learning rates (wrappers pass them to their inner
        scheme: the one way to set a scheme's rates)."""
        return replace(self, lr_g=lr_g, lr_d=lr_d)

    def init(self, field: Field, mover: Mover, x: State) -> SchemeState:
        """The scheme's own state (:meth:`init_own`) and the mover's state of each player."""
        return SchemeState(
            self.init_own(field, x), tuple(mover.init(i, x_i) for i, x_i in enumerate(x))
        )

    def init_own(self, field: Field, x: State) -> State:
        """What the scheme itself keeps between steps (a tuple of tensors)."""
        return ()

    def step(
        self, field: Field, mover: Mover, x: State, state: SchemeState, t: int
    ) -> tuple[State, SchemeState]:
        raise NotImplementedError


class SchemeState(NamedTuple):
    """``own``: the scheme's tensors; ``moves``: the mover's state per player."""

    own: tuple = ()
    moves: tuple = ()


def move_player(
    mover: Mover, x: State, i: int, lr: Rate, v_i: Tensor, moves: tuple
) -> tuple[State, tuple]:
    """``x`` with player ``i`` moved along ``v_i`` at rate ``lr`` by ``mover`` (a projected
    gradient step in the analysis, an optimizer step in training), and the new move states."""
    x_i, move_i = mover(i, x[i], v_i, lr, moves[i])
    return _replaced(x, i, x_i), _replaced(moves, i, move_i)


def move_all(mover: Mover, x: State, lrs, v: State, moves: tuple) -> tuple[State, tuple]:
    """Every player moved along its part of ``v`` (simultaneously, from the same ``x``)."""
    moved = [mover(i, x_i, v_i, h, m) for i, (x_i, h, v_i, m) in enumerate(zip(x, lrs, v, moves))]
    return tuple(m[0] for m in moved), tuple(m[1] for m in moved)


def _replaced(values: tuple, i: int, value: Any) -> tuple:
    return (*values[:i], value, *values[i + 1 :])


def combined_period(cycle: int, inner_period: int) -> int:
    """The period of a wrapper whose own behaviour repeats every ``cycle`` steps around a
    scheme of period ``inner_period``: the least common multiple, the first step count at
    which both have completed whole periods."""
    return math.lcm(int(cycle), int(inner_period))


@dataclass(frozen=True, kw_only=True)
class SimGD(Scheme):
    """Simultaneous gradient descent: ``x ← x + h·v(x)``."""

    name = "simgd"

    def step(self, field, mover, x, state, t):
        x, moves = move_all(mover, x, self.rates(t), field(x), state.moves)
        return x, state._replace(moves=moves)


@dataclass(frozen=True, kw_only=True)
class AltGD(Scheme):
    """Alternating gradient descent: ``g_steps`` generator steps, then ``d_steps`` discriminator
    steps, each using the newest parameters (``discriminator_first`` reverses the order)."""

    g_steps: int = 1
    d_steps: int = 1
    discriminator_first: bool = False
    name = "altgd"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.g_steps < 1 or self.d_steps < 1:
            raise ValueError(
                f"g_steps and d_steps must be >= 1, got {self.g_steps}, {self.d_steps}"
            )

    def step(self, field, mover, x, state, t):
        lr_g, lr_d = self.rates(t)
        phases = [(GENERATOR, self.g_steps, lr_g), (DISCRIMINATOR, self.d_steps, lr_d)]
        if self.discriminator_first:
            phases.reverse()
        moves = state.moves
        for player, repeats, lr in phases:
            for _ in range(repeats):
                x, moves = move_player(mover, x, player, lr, field.player(player, x), moves)
        return x, state._replace(moves=moves)


@dataclass(frozen=True, kw_only=True)
class Extragradient(Scheme):
    """Extragradient (Korpelevich, 1976): ``x ← x + h·v(x + h·v(x))``.

    With an optimizer as the mover, the look-ahead step updates the optimizer's moments too,
    as Extra-Adam (Gidel et al., 2019) does.
    """

    name = "extragradient"

    def step(self, field, mover, x, state, t):
        lrs = self.rates(t)
        lookahead, moves = move_all(mover, x, lrs, field(x), state.moves)
        x, moves = move_all(mover, x, lrs, field(lookahead), moves)
        return x, state._replace(moves=moves)


@dataclass(frozen=True, kw_only=True)
class Optimistic(Scheme):
    """Optimistic gradient descent (Daskalakis et al., 2018):
    ``x_{k+1} = x_k + 2h·v(x_k) − h·v(x_{k−1})``.

    The state is the previous field value ``v(x_{k−1})`` (initialised with ``v(x_0)``). The
    update Jacobian in ``(x_k, v(x_{k−1}))`` has the same characteristic polynomial as in the
    textbook state ``(x_k, x_{k−1})``, so the spectral radius is the same.
    """

    name = "optimistic"

    def init_own(self, field, x):
        return field(x)

    def step(self, field, mover, x, state, t):
        v = field(x)
        extrapolated = tuple(2 * v_i - p_i for v_i, p_i in zip(v, state.own))
        x, moves = move_all(mover, x, self.rates(t), extrapolated, state.moves)
        return x, SchemeState(v, moves)


@dataclass(frozen=True, kw_only=True)
class Lazy(Scheme):
    """Lazy regularization (Karras et al., 2020) around any scheme.

    Regularizers (penalties, consensus) are left out for ``every − 1`` steps and applied with
    gain ``every`` on the last step of each period, so their average strength is unchanged. The
    update operator is the composition of one period. ``every = 1`` is the inner scheme.
    """

    inner: Scheme = field(default_factory=SimGD)
    every: int = 16

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"lazy regularization: every must be >= 1, got {self.every}")
        object.__setattr__(self, "lr", None)
        object.__setattr__(self, "lr_g", self.inner.lr_g)
        object.__setattr__(self, "lr_d", self.inner.lr_d)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"lazy{self.every}-{self.inner.name}"

    @property
    def period(self) -> int:  # type: ignore[override]
        # Gains change once per inner period, so the cycle is every·p steps: lcm(every·p, p).
        return combined_period(self.every * self.inner.period, self.inner.period)

    @property
    def regularization_gains(self) -> tuple[float, ...]:  # type: ignore[override]
        return (0.0, float(self.every)) if self.every > 1 else (1.0,)

    def with_rates(self, lr_g: Rate, lr_d: Rate) -> Lazy:
        return replace(self, inner=self.inner.with_rates(lr_g, lr_d))

    def gain_at(self, t: int) -> float:
        if self.every == 1:
            return 1.0
        return float(self.every) if (t // self.inner.period) % self.every == self.every - 1 else 0.0

    def init(self, field, mover, x):
        return self.inner.init(field.with_regularization_gain(self.gain_at(0)), mover, x)

    def init_own(self, field, x):
        return self.inner.init_own(field.with_regularization_gain(self.gain_at(0)), x)

    def step(self, field, mover, x, state, t):
        field = field.with_regularization_gain(self.gain_at(t))
        return self.inner.step(field, mover, x, state, t)


def lazy(inner: Scheme, every: int) -> Lazy:
    """``inner`` with its regularizers applied every ``every`` steps with gain ``every``."""
    return Lazy(inner=inner, every=every)
