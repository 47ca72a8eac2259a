"""Metrics for the 2D problems: Wasserstein-1, mode coverage, discriminator input gradient.

* :func:`wasserstein1` is how Mescheder et al. (2018, §5) measure whether training
  converges on 2D problems: the exact earth mover's distance between generated and real
  samples, computed with POT's network simplex.
* :func:`mode_coverage` counts the modes a generator reaches on Gaussian mixtures (mode
  collapse) and the fraction of samples near some mode (sample quality).
* :func:`input_gradient_norm` is the quantity R1/R2 penalise, ``E‖∇_x D(x)‖²``. At a
  converged equilibrium of a regularized GAN it is ~0 on the data; a large value on real
  data is the discriminator "pushing" that the paper's analysis is about.

Inputs may be ``torch.Tensor`` or ``numpy.ndarray`` of shape ``(n, d)``; everything is
computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import ot
import torch
from torch import Tensor, nn

__all__ = [
    "ModeStats",
    "W1Result",
    "input_gradient_norm",
    "mode_coverage",
    "wasserstein1",
    "wasserstein1_result",
]

ArrayLike = Tensor | np.ndarray

# The network simplex needs many more pivots than POT's default (1e5) at n = 2000;
# below this cap it returns the exact optimum.
_EMD_MAX_ITERATIONS = 10_000_000


def _as_points(name: str, points: ArrayLike) -> np.ndarray:
    """A float64 ``(n, d)`` array with n ≥ 1 and finite entries, or one-line ``ValueError``."""
    if isinstance(points, Tensor):
        points = points.detach().cpu().to(torch.float64).numpy()
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, d) with n, d ≥ 1, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or Inf (did training diverge?)")
    return array


class W1Result(NamedTuple):
    """A Wasserstein-1 estimate and the number of points it used on each side."""

    value: float
    n_x: int
    n_y: int


def wasserstein1_result(
    x: ArrayLike, y: ArrayLike, max_samples: int = 2000, seed: int = 0
) -> W1Result:
    """Like :func:`wasserstein1`, but also returns the sample sizes used."""
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise ValueError(f"max_samples must be a positive int, got {max_samples!r}")
    xs, ys = _as_points("x", x), _as_points("y", y)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {xs.shape} and {ys.shape}")
    rng = np.random.default_rng(seed)
    if len(xs) > max_samples:
        xs = xs[rng.choice(len(xs), size=max_samples, replace=False)]
    if len(ys) > max_samples:
        ys = ys[rng.choice(len(ys), size=max_samples, replace=False)]
    cost = ot.dist(xs, ys, metric="euclidean")
    weights_x = np.full(len(xs), 1.0 / len(xs))
    weights_y = np.full(len(ys), 1.0 / len(ys))
    value = ot.emd2(weights_x, weights_y, cost, numItermax=_EMD_MAX_ITERATIONS)
    return W1Result(max(float(value), 0.0), len(xs), len(ys))


def wasserstein1(x: ArrayLike, y: ArrayLike, max_samples: int = 2000, seed: int = 0) -> float:
    """Exact Wasserstein-1 (earth mover's) distance between two empirical distributions.

    .. math::

        W_1(\\hat p_x, \\hat p_y) = \\min_{\\pi \\in \\Pi(u_n, u_m)} \\sum_{ij} \\pi_{ij}
        \\lVert x_i - y_j \\rVert_2

    with uniform weights ``u_n = 1/n``, solved exactly as a linear program by POT's
    ``ot.emd2`` on the Euclidean cost matrix ``ot.dist(x, y, metric="euclidean")``.

    **Sample size.** Each side is subsampled without replacement to at most ``max_samples``
    points (default 2000), reproducibly from ``seed``; :func:`wasserstein1_result` reports
    the sizes used. The exact solver costs O(n²) memory and roughly O(n³) time, which bounds
    the default (benchmarks/bench_small_costs.py).

    **Bias.** This is the distance between *samples*: two independent samples of the same
    2D distribution are at distance > 0, shrinking roughly like n^(-1/2) (e.g. ≈ 0.11 for
    two 2000-point samples of a standard 2D Gaussian). Compare values at equal sample sizes,
    and read a curve's floor as the estimator's noise, not as a training failure.

    Returns a float ≥ 0. Raises ``ValueError`` for malformed or non-finite input.
    """
    return wasserstein1_result(x, y, max_samples=max_samples, seed=seed).value


@dataclass(frozen=True)
class ModeStats:
    """Result of :func:`mode_coverage`.

    ``modes_covered``: modes with at least ``min_count`` high-quality samples.
    ``high_quality_fraction``: fraction of all samples within ``threshold · std`` of their
    nearest mode. ``high_quality_counts[i]``: high-quality samples whose nearest mode is i.
    """

    modes_covered: int
    high_quality_fraction: float
    num_modes: int
    high_quality_counts: tuple[int, ...]


def mode_coverage(
    samples: ArrayLike,
    modes: ArrayLike,
    std: float,
    threshold: float = 3.0,
    min_count: int = 20,
) -> ModeStats:
    """Mode coverage and sample quality on a Gaussian mixture (Srivastava et al., 2017).

    Each sample is assigned to its nearest mode (Euclidean). It is *high quality* if
    ``‖x − mode‖ ≤ threshold · std``; a mode is *covered* if at least ``min_count``
    high-quality samples are assigned to it.

    Reference point: for a perfect generator of an isotropic 2D mixture with well-separated
    modes, ``‖x − mode‖/std`` is Rayleigh distributed, so the expected high-quality fraction
    is ``1 − exp(−threshold²/2)`` ≈ 0.9889 at threshold 3 (not 0.997, the 1D figure).

    ``min_count = 20`` assumes the usual evaluation with thousands of samples (e.g. 2,500
    for 25 modes, 100 per mode). With fewer samples lower it, or a perfect generator will
    look collapsed.
    """
    points = _as_points("samples", samples)
    centres = _as_points("modes", modes)
    if points.shape[1] != centres.shape[1]:
        raise ValueError(
            f"samples and modes must have the same dimension, got {points.shape} and "
            f"{centres.shape}"
        )
    if not (np.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive finite number, got {std!r}")
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a positive int, got {min_count!r}")
    distances = ot.dist(points, centres, metric="euclidean")
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(points)), nearest] <= threshold * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return ModeStats(
        modes_covered=int((counts >= min_count).sum()),
        high_quality_fraction=float(good.mean()),
        num_modes=len(centres),
        high_quality_counts=tuple(int(c) for c in counts),
    )


def input_gradient_norm(discriminator: nn.Module, x: Tensor) -> float:
    """Mean squared norm of the discriminator's input gradient, ``mean_i ‖∇_x D(x_i)‖₂²``.

    This is the quantity R1 (at real ``x``) and R2 (at generated ``x``) penalise:
    ``R1 = (γ/2) · input_gradient_norm(D, x_real)``. Unit: a *squared* norm (units of
    D-logit² per input-unit²), averaged — not summed — over the ``n`` samples.

    Computed as ``∇_x Σ_i D(x_i)``, which equals the per-sample gradients because samples do
    not interact inside D (no batch norm). It is a metric: no graph is kept
    (``create_graph=False``), D's parameter gradients are not touched, and it works inside
    ``torch.no_grad()`` blocks. ``x`` is moved to D's device and dtype.
    """
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch of shape (n, ...), got {tuple(x.shape)}")
    reference = next(discriminator.parameters(), None)
    if reference is not None:
        x = x.to(device=reference.device, dtype=reference.dtype)
    points = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(discriminator(points).sum(), points)
    return float(grad.pow(2).flatten(1).sum(dim=1).mean())
