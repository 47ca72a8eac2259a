"""Wrappers that watch a field and a mover without changing what they compute.

* :class:`Observed` wraps a :class:`~convergan.field.game.GameField`: it averages each
  player's field across processes (data parallelism), hands the loss terms and the field
  norms to a reporter, and adds their "is finite" flags to a divergence guard.
* :class:`Guarded` wraps a mover: it adds the flag of every moved parameter vector.

Records and flags are named ``"<player>/<term>"``, ``"<player>/gradient_norm"``, "the
loss term <player>/<term>", "the <player>'s gradient" and "the <player>'s parameters".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from convergan.field.game import GameField, Terms
from convergan.field.guard import DivergenceGuard
from convergan.field.layout import PLAYER_NAMES, State
from convergan.field.movers import Mover


@dataclass(frozen=True)
class Observed:
    """``field`` with its evaluations averaged across processes, reported and guarded.

    Args:
        field: the pure field.
        reporter: receives ``("generator/adversarial", value)``-style records, or ``None``.
        guard: a :class:`DivergenceGuard` that watches the loss terms and the field.
        average: the all-reduce mean of a player's field across processes, or ``None``.
    """

    field: GameField
    reporter: Callable[[str, Tensor], None] | None = None
    guard: DivergenceGuard | None = None
    average: Callable[[Tensor], Tensor] | None = None

    def __call__(self, x: State) -> State:
        v, terms = self.field.evaluate(x)
        for i, player_terms in enumerate(terms):
            self._report_terms(i, player_terms)
        return tuple(self._finish(i, v_i) for i, v_i in enumerate(v))

    def player(self, i: int, x: State) -> Tensor:
        if self.field.coupled:
            return self(x)[i]  # both players' fields were computed: report both
        direction, terms = self.field.evaluate_player(i, x)
        self._report_terms(i, terms)
        return self._finish(i, direction)

    def at_step(self, step: int) -> Observed:
        return replace(self, field=self.field.at_step(step))

    def with_regularization_gain(self, gain: float | Tensor) -> Observed:
        return replace(self, field=self.field.with_regularization_gain(gain))

    def _report_terms(self, i: int, terms: Terms) -> None:
        for name, value in terms.items():
            key = f"{PLAYER_NAMES[i]}/{name}"
            if self.guard is not None:
                self.guard.watch(f"the loss term {key}", value.detach())
            if self.reporter is not None:
                self.reporter(key, value.detach())

    def _finish(self, i: int, direction: Tensor) -> Tensor:
        """Average across processes, then watch and report player ``i``'s field."""
        if self.average is not None:
            direction = self.average(direction)
        if self.guard is not None:
            self.guard.watch(f"the {PLAYER_NAMES[i]}'s gradient", direction.detach())
        if self.reporter is not None:
            self.reporter(f"{PLAYER_NAMES[i]}/gradient_norm", torch.linalg.vector_norm(direction))
        return direction


@dataclass(frozen=True)
class Guarded:
    """``mover`` with every moved parameter vector watched by ``guard``."""

    mover: Mover
    guard: DivergenceGuard

    def init(self, i: int, x_i: Tensor) -> Any:
        return self.mover.init(i, x_i)

    def __call__(self, i: int, x_i: Tensor, direction: Tensor, lr, state) -> tuple[Tensor, Any]:
        moved, state = self.mover(i, x_i, direction, lr, state)
        self.guard.watch(f"the {PLAYER_NAMES[i]}'s parameters", moved)
        return moved, state
