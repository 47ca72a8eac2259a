"""The stable learning rates of a scheme at an equilibrium: every range of rates at which its
update operator contracts, found without depending on the scheme's own rates.

:func:`stable_lr_ranges` finds them exactly (:mod:`convergan.analysis.exact_rates`) and, for
periods too long for exact arithmetic, on a grid (:func:`grid_stable_lr_intervals`)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from tqdm import tqdm

from convergan.analysis.exact_rates import exact_stable_intervals
from convergan.analysis.operators import (
    UNIT_CIRCLE_TOLERANCE,
    linearized_update_jacobian,
    spectral_radius,
)
from convergan.schemes import Scheme

# Below this dimensionless step the update is the flow to first order (see stable_lr_intervals).
SMALL_STEP = 1e-6
# Halvings evaluated per batched call of the bisection (bisect_cells): 2^5 − 1 midpoints per
# cell; about 46 halvings reach adjacent floats from a grid cell: 10 calls instead of 46.
LOOKAHEAD = 5
GRID_CHUNK = 600  # grid points per batched evaluation (one tick of the progress bar)


class StableRanges(NamedTuple):
    """Every range ``(lo, hi)`` of the largest rate at which the scheme converges, and
    whether they are exact (else from the grid search, which can miss narrow ranges)."""

    intervals: list[tuple[float, float]]
    exact: bool


def stable_lr_ranges(
    scheme: Scheme,
    jacobians: dict[float, Tensor],
    sizes: tuple[int, ...],
    progress: bool = False,
) -> StableRanges:
    """Every range of the largest learning rate ``h`` (the rates keeping their ratio) at which
    the scheme's update operator has spectral radius ρ < 1.

    Exact (:func:`~convergan.analysis.exact_rates.exact_stable_intervals`: endpoints are the
    real roots of polynomials in ``h``, each cell between them checked exactly) when the
    period is short enough for exact arithmetic; otherwise, or for a user's scheme that
    cannot run on exact rationals, the grid search :func:`grid_stable_lr_intervals` (with a
    progress bar on stderr when ``progress`` and it takes over a second).
    """
    norm = max(float(torch.linalg.matrix_norm(j, ord=2).max()) for j in jacobians.values())
    rate = max(abs(float(lr)) for lr in scheme.lrs)
    if not math.isfinite(norm) or norm == 0.0 or not math.isfinite(rate) or rate == 0.0:
        return StableRanges([], True)  # no field, or no rate: ρ = 1 (or undefined) throughout
    try:
        exact = exact_stable_intervals(scheme, jacobians, sizes)
    except TypeError:  # a user's scheme that needs tensors (not NumPy arrays of rationals)
        exact = None
    if exact is not None:
        return StableRanges(exact, True)
    return StableRanges(
        grid_stable_lr_intervals(scheme, jacobians, sizes, progress=progress), False
    )


def stable_lr_intervals(
    scheme: Scheme, jacobians: dict[float, Tensor], sizes: tuple[int, ...]
) -> list[tuple[float, float]]:
    """The ranges of :func:`stable_lr_ranges`."""
    return stable_lr_ranges(scheme, jacobians, sizes).intervals


def grid_stable_lr_intervals(
    scheme: Scheme,
    jacobians: dict[float, Tensor],
    sizes: tuple[int, ...],
    *,
    per_decade: int = 200,
    lowest_step: float = 1e-12,
    highest_step: float = 1e15,
    bisections: int = 80,
    progress: bool = False,
) -> list[tuple[float, float]]:
    """Every range of the largest learning rate ``h`` at which the scheme converges
    (ρ < 1 − 1e-9), the rates keeping their ratio, searched on a grid (the fallback of
    :func:`stable_lr_ranges`); divide by ``max(scheme.lrs)`` for the factor
    of :meth:`Scheme.scaled` (rates, not factors, so a tiny ``--lr`` cannot overflow them).

    The search does not depend on the scheme's own learning rates. It works in the
    dimensionless step ``s = h_max·‖J‖₂`` (the largest rate times the largest field-Jacobian
    norm over the scheme's regularization gains), scans a log grid of ``per_decade`` points per
    decade from ``lowest_step`` to ``highest_step`` and bisects every boundary between a
    converging and a non-converging grid point. A stable set can have several ranges (AltGD
    with several discriminator steps); a range narrower than the grid spacing can be missed.

    A range whose lower end is below ``s = 1e-6`` starts at 0: there ``ρ ≈ 1 + h·max Re λ``,
    so small steps converge exactly when the flow does, and the end found is only where the
    contraction passes the 1e-9 tolerance. A range that still converges at ``s = 1e15`` ends
    at ``inf``: there ``I + hJ`` is ``hJ`` to float64 precision. No range means no rate
    converges (e.g. an eigenvalue with positive real part, or a pure rotation under SimGD).
    For SimGD the one range is ``(0, min 2|Re λ|/|λ|²)`` over the field eigenvalues.
    """
    dtype = next(iter(jacobians.values())).dtype
    norm = max(float(torch.linalg.matrix_norm(j, ord=2).max()) for j in jacobians.values())
    lr_g, lr_d = (float(lr) for lr in scheme.lrs)
    rate = max(abs(lr_g), abs(lr_d))
    if not math.isfinite(norm) or norm == 0.0 or not math.isfinite(rate) or rate == 0.0:
        return []
    # Largest rate exactly 1, so the search is lr-independent; dividing (rather than scaling
    # by 1/rate) keeps this exact for subnormal rates such as 1e-308.
    unit_scheme = scheme.with_rates(lr_g / rate, lr_d / rate)

    def converges(steps: Tensor) -> Tensor:
        scaled = unit_scheme.scaled((steps / norm)[:, None, None])
        radius = spectral_radius(linearized_update_jacobian(scaled, jacobians, sizes))
        return radius < 1 - UNIT_CIRCLE_TOLERANCE

    first = math.floor(math.log10(lowest_step) * per_decade)
    last = math.ceil(math.log10(highest_step) * per_decade)
    steps = 10.0 ** (torch.arange(first, last + 1, dtype=dtype) / per_decade)
    chunks = torch.split(steps, GRID_CHUNK)
    bar = tqdm(
        total=len(chunks) + -(-bisections // LOOKAHEAD),
        desc="stable lr search",
        unit="batch",
        disable=not progress,
        delay=1.0,  # shown only when it takes long (a period of thousands of moves)
        leave=False,
        file=sys.stderr,
    )
    with bar:
        stable = []
        for chunk in chunks:  # the grid in chunks, for the progress bar
            stable += converges(chunk).tolist()
            bar.update()

        def converges_counted(points: list[float]) -> Tensor:
            bar.update()
            return converges(torch.tensor(points, dtype=dtype))

        cells = [  # every grid cell where convergence switches, bisected (all cells at once)
            (float(steps[i - 1]), float(steps[i]), stable[i - 1])
            for i in range(1, len(steps))
            if stable[i] != stable[i - 1]
        ]
        ends = bisect_cells(converges_counted, cells, bisections)
    intervals = []
    start = 0.0 if stable[0] else None
    for (_, _, stable_at_lo), end in zip(cells, ends):
        if not stable_at_lo:  # a range starts
            start = 0.0 if end < SMALL_STEP else end
        else:
            intervals.append((start, end))
            start = None
    if start is not None:
        intervals.append((start, math.inf))
    return [(lo / norm, hi / norm) for lo, hi in intervals]


def bisect_cells(
    converges: Callable[[list[float]], Tensor],
    cells: list[tuple[float, float, bool]],
    bisections: int,
    lookahead: int = LOOKAHEAD,
) -> list[float]:
    """Where convergence switches in each cell ``(lo, hi, stable_at_lo)``: the last point on
    ``lo``'s side if it converges there, else the first point past the switch.

    This is plain bisection (``mid = (lo + hi)/2``, at most ``bisections`` halvings, stopping
    when ``mid`` is ``lo`` or ``hi``), cell by cell, with the same midpoints and so the same
    ends; only the evaluation is batched: one call of ``converges`` (a list of points to a
    boolean tensor) covers every cell and every midpoint the next ``lookahead`` halvings can
    visit (``2^lookahead − 1`` per cell), where a point at a time took one call per halving.
    """
    state = [[lo, hi, stable_at_lo, 0] for lo, hi, stable_at_lo in cells]  # ..., halvings done
    active = [cell for cell in state if cell[3] < bisections]
    while active:
        points: list[float] = []
        trees = []  # per cell: the index in ``points`` of each node's midpoint, by path
        for lo, hi, _, done in active:
            index: dict[tuple[bool, ...], int] = {}
            frontier = [((), lo, hi)]
            for _ in range(min(lookahead, bisections - done)):
                children = []
                for path, a, b in frontier:
                    mid = 0.5 * (a + b)
                    if mid in (a, b):
                        continue
                    index[path] = len(points)
                    points.append(mid)
                    children += [((*path, True), mid, b), ((*path, False), a, mid)]
                frontier = children
            trees.append(index)
        results = converges(points).tolist() if points else []
        still = []
        for cell, index in zip(active, trees):
            path: tuple[bool, ...] = ()
            finished = False
            for _ in range(min(lookahead, bisections - cell[3])):
                lo, hi, stable_at_lo, _ = cell
                mid = 0.5 * (lo + hi)
                if mid in (lo, hi):
                    finished = True
                    break
                up = results[index[path]] == stable_at_lo  # the switch is above mid
                cell[0 if up else 1] = mid
                cell[3] += 1
                path = (*path, up)
            if not finished and cell[3] < bisections:
                still.append(cell)
        active = still
    return [lo if stable_at_lo else hi for lo, hi, stable_at_lo, _ in state]


def max_stable_lr_scale(
    scheme: Scheme, jacobians: dict[float, Tensor], sizes: tuple[int, ...]
) -> float | None:
    """The largest factor ``c`` at which ``scheme.scaled(c)`` converges: the end of the last
    of :func:`stable_lr_intervals` (``inf`` when stable at every larger rate, ``None`` when no
    rate converges). Exact, from every eigenvalue; a network's matrix-free spectrum gives only
    an upper bound (:func:`convergan.analysis.spectrum.simgd_lr_scale_upper_bound`)."""
    return max_scale_of_ranges(stable_lr_intervals(scheme, jacobians, sizes), scheme.lrs)


def max_scale_of_ranges(intervals: list[tuple[float, float]], lrs) -> float | None:
    """The largest factor on the rates ``lrs`` that stays in the rate ranges ``intervals``
    (:func:`stable_lr_ranges`'s, in the largest rate): the end of the last range over the
    largest rate; ``None`` when there is no range."""
    return intervals[-1][1] / max(abs(float(lr)) for lr in lrs) if intervals else None
