"""Movers: how one player's parameters take a step along its field, at the scheme's rate.

A mover is ``init(i, x_i) -> move_state`` and ``mover(i, x_i, direction, lr, move_state) ->
(x_i, move_state)``. Schemes receive it next to the field (``scheme.step(field, mover, x,
state, t)``) and call it with their own learning rate ``lr_g``/``lr_d``: nothing else sits
between the two. ``direction`` has the field's sign (``−∇`` of the player's loss); the state
(an optimizer's moments) comes in and goes out through the scheme state.

* :class:`GradientStep`: ``x_i + lr·direction``, optionally with a frozen diagonal
  preconditioner (an optimizer's effective per-parameter rates, for linearised update
  operators), then the method's projection. The update the analysis differentiates.
* :class:`OptimizerStep`: one step of a pure optimizer (:mod:`convergan.optimizers`), then the
  method's projection. The trainer's mover.

The projection is the method's constraint (WGAN weight clipping of the discriminator):
``clip`` is the method's ``clip`` (``None`` for none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from torch import Tensor

from convergan.field.layout import DISCRIMINATOR
from convergan.schedules import has_step_functions, numbers_at


class Mover(Protocol):
    """What a scheme needs from a mover."""

    def init(self, i: int, x_i: Tensor) -> Any:
        """Player ``i``'s initial move state (``None`` for plain gradient steps)."""
        ...

    def __call__(self, i: int, x_i: Tensor, direction: Tensor, lr, state) -> tuple[Tensor, Any]:
        """Player ``i``'s parameters after a step along ``direction`` at rate ``lr``, and the
        new move state."""
        ...


def project(clip: Callable[[Tensor], Tensor] | None, i: int, x_i: Tensor) -> Tensor:
    """The method's constraint on player ``i``: ``clip`` applies to the discriminator only."""
    if i == DISCRIMINATOR and clip is not None:
        return clip(x_i)
    return x_i


@dataclass(frozen=True, eq=False)
class GradientStep:
    """``P(x_i + lr·D_i·direction)``: a (preconditioned) projected gradient step.

    Args:
        clip: the method's constraint (``method.clip``), or ``None``. At an interior
            equilibrium it is inactive, so linearised fields leave it out.
        preconditioner: one frozen diagonal per player (the per-parameter step factors of an
            adaptive optimizer), or ``None`` for ``D = I``.
    """

    clip: Callable[[Tensor], Tensor] | None = None
    preconditioner: tuple[Tensor, ...] | None = None

    def init(self, i: int, x_i: Tensor) -> None:
        return None

    def __call__(self, i: int, x_i: Tensor, direction: Tensor, lr, state) -> tuple[Tensor, None]:
        if self.preconditioner is not None:
            direction = self.preconditioner[i].to(direction) * direction
        return project(self.clip, i, x_i + lr * direction), None


GRADIENT_STEP = GradientStep()
"""The plain gradient step ``x_i + lr·direction``, without constraint."""


@dataclass(frozen=True, eq=False)
class OptimizerStep:
    """One optimizer step per move (:mod:`convergan.optimizers`), an optimizer per player,
    then the method's constraint ``clip``.

    The gradient an optimizer sees is ``−direction``; its state comes in and goes out through
    the scheme state. An optimizer's numbers may be functions of the training step (schedules,
    :func:`convergan.schedules.on_steps`): each move runs with their values at ``step``, the
    training step this mover is at (:meth:`at_step`), as optax's ``inject_hyperparams`` runs its
    transform with the hyperparameters of the count.
    """

    optimizers: tuple[Any, Any]
    clip: Callable[[Tensor], Tensor] | None = None
    step: int = 0

    def __post_init__(self) -> None:
        scheduled = any(has_step_functions(o) for o in self.optimizers)
        object.__setattr__(self, "_scheduled", scheduled)

    def at_step(self, step: int) -> OptimizerStep:
        """The mover at training step ``step`` (itself when no number follows a schedule)."""
        return replace(self, step=step) if self._scheduled else self

    def _optimizer(self, i: int):
        optimizer = self.optimizers[i]
        return numbers_at(optimizer, self.step) if self._scheduled else optimizer

    def init(self, i: int, x_i: Tensor) -> dict:
        return self._optimizer(i).init(x_i.detach())

    def __call__(self, i: int, x_i: Tensor, direction: Tensor, lr, state) -> tuple[Tensor, dict]:
        moved, state = self._optimizer(i).update(
            x_i.detach(), -direction.detach(), float(lr), state
        )
        return project(self.clip, i, moved), state
