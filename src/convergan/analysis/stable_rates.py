"""The stable learning rates of a scheme at an equilibrium: every range of rates at which its
update operator contracts, found without depending on the scheme's own rates."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from convergan.analysis.operators import (
    UNIT_CIRCLE_TOLERANCE,
    linearized_update_jacobian,
    spectral_radius,
)
from convergan.schemes import Scheme

# Below this dimensionless step the update is the flow to first order (see stable_lr_intervals).
SMALL_STEP = 1e-6


def stable_lr_intervals(
    scheme: Scheme,
    jacobians: dict[float, Tensor],
    sizes: tuple[int, ...],
    *,
    per_decade: int = 200,
    lowest_step: float = 1e-12,
    highest_step: float = 1e15,
    bisections: int = 80,
) -> list[tuple[float, float]]:
    """Every range of the largest learning rate ``h`` at which the scheme converges
    (ρ < 1 − 1e-9), the rates keeping their ratio; divide by ``max(scheme.lrs)`` for the factor
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

    def boundary(lo: float, hi: float, stable_at_lo: bool) -> float:
        """The step between grid points ``lo`` and ``hi`` where convergence switches."""
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if bool(converges(torch.tensor([mid], dtype=dtype))[0]) == stable_at_lo:
                lo = mid
            else:
                hi = mid
        return lo if stable_at_lo else hi

    first = math.floor(math.log10(lowest_step) * per_decade)
    last = math.ceil(math.log10(highest_step) * per_decade)
    steps = 10.0 ** (torch.arange(first, last + 1, dtype=dtype) / per_decade)
    stable = converges(steps).tolist()
    intervals = []
    start = 0.0 if stable[0] else None
    for i in range(1, len(steps)):
        if stable[i] and not stable[i - 1]:
            start = boundary(float(steps[i - 1]), float(steps[i]), False)
            start = 0.0 if start < SMALL_STEP else start
        elif stable[i - 1] and not stable[i]:
            intervals.append((start, boundary(float(steps[i - 1]), float(steps[i]), True)))
            start = None
    if start is not None:
        intervals.append((start, math.inf))
    return [(lo / norm, hi / norm) for lo, hi in intervals]


def max_stable_lr_scale(
    scheme: Scheme, jacobians: dict[float, Tensor], sizes: tuple[int, ...], **search
) -> float | None:
    """The largest factor ``c`` at which ``scheme.scaled(c)`` converges: the end of the last
    of :func:`stable_lr_intervals` (``inf`` when still stable at the search bound, ``None``
    when no rate converges)."""
    intervals = stable_lr_intervals(scheme, jacobians, sizes, **search)
    return intervals[-1][1] / max(abs(float(lr)) for lr in scheme.lrs) if intervals else None
