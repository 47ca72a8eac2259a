"""Path-angle and path statistics between two points of a game (Berard et al., ICLR 2020).

Along the segment ``x(α) = x₀ + α (x₁ − x₀)``, ``α ∈ [−0.1, 1.1]`` by default, we record

* the **path-angle** ``cos∠(v(x(α)), x₁ − x₀) = ⟨v, d⟩ / (‖v‖ ‖d‖)``, with ``v`` the descent
  field ``(−∇_θ L_G, −∇_ψ L_D)`` of the run's method (so a positive cosine means the field
  points from ``x₀`` towards ``x₁``), for the whole state and per player;
* the field's norm ``‖v(x(α))‖`` and both players' losses.

Berard et al. read these plots as follows: in a minimisation problem the cosine goes from
positive to negative through a single sign change near the end point, with a loss minimum
there; a *rotational* game shows a bump: the cosine stays near 0 and peaks around the end
point while the field norm dips, without a loss minimum. The field is evaluated on a fixed
evaluation game, the same one the spectra use, so every point sees the same samples.

Reference: Berard, Gidel, Almahairi, Vincent, Lacoste-Julien, "A Closer Look at the
Optimization Landscapes of Generative Adversarial Networks", ICLR 2020, §4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from convergan.field import DISCRIMINATOR, GENERATOR, GameField, State

DEFAULT_RANGE = (-0.1, 1.1)


@dataclass(frozen=True)
class PathStatistics:
    """Per-point statistics along ``x₀ + α (x₁ − x₀)``; arrays of the length of ``alphas``."""

    alphas: np.ndarray
    cosine: np.ndarray
    cosine_generator: np.ndarray
    cosine_discriminator: np.ndarray
    field_norm: np.ndarray
    generator_loss: np.ndarray
    discriminator_loss: np.ndarray
    distance: float  # ‖x₁ − x₀‖

    def to_dict(self) -> dict:
        arrays = {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        return {
            **{k: [None if not np.isfinite(x) else float(x) for x in v] for k, v in arrays.items()},
            "distance": self.distance,
        }


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    norms = float(torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b))
    return float(torch.dot(a, b)) / norms if norms > 0 else float("nan")


def path_statistics(
    field: GameField,
    start: State,
    end: State,
    alphas: Sequence[float] | None = None,
    points: int = 50,
    progress: Callable[[int], None] | None = None,
) -> PathStatistics:
    """Path-angle, field norm and losses of ``field`` along the segment from ``start`` to
    ``end`` (``points`` values of α evenly spaced in [−0.1, 1.1] unless ``alphas`` given)."""
    if alphas is None:
        if points < 2:
            raise ValueError(f"points must be >= 2, got {points}")
        alphas = np.linspace(*DEFAULT_RANGE, points)
    alphas = np.asarray(alphas, dtype=np.float64)
    start = tuple(s.detach() for s in start)
    direction = tuple(e.detach() - s for s, e in zip(start, end))
    flat_direction = torch.cat(direction)
    if float(torch.linalg.vector_norm(flat_direction)) == 0:
        raise ValueError("the two points are the same: there is no path between them")
    rows = []
    for j, alpha in enumerate(alphas):
        x = tuple(s + float(alpha) * d for s, d in zip(start, direction))
        v = tuple(v_i.detach() for v_i in field(x))
        losses = [float(field.player_loss(i, *x)[0].detach()) for i in (GENERATOR, DISCRIMINATOR)]
        rows.append(
            (
                _cosine(torch.cat(v), flat_direction),
                _cosine(v[GENERATOR], direction[GENERATOR]),
                _cosine(v[DISCRIMINATOR], direction[DISCRIMINATOR]),
                float(torch.linalg.vector_norm(torch.cat(v))),
                *losses,
            )
        )
        if progress is not None:
            progress(j + 1)
    columns = np.array(rows, dtype=np.float64).T
    return PathStatistics(alphas, *columns, float(torch.linalg.vector_norm(flat_direction)))
