"""The update operator as the field sees it: the rate at which ‖v‖ shrinks or grows.

At an equilibrium of a real network the field Jacobian ``J`` is singular: continuous families
of equilibria (a Leaky-ReLU unit's weights rescaled, D flat on the data, generator parameters
that do not move any ``G(z_i)``) are directions ``u`` with ``J u = 0``. Every scheme's update
fixes them (``F′ u = u``: on the linearised field nothing moves), so ``F′`` has eigenvalues at
1 that its largest-magnitude spectrum returns first, while the field never shows them.

What the field does show: a scheme's period on the linearised field moves ``x`` by increments
that are all field values at intermediate points, so ``F′ = I + B J`` (``B`` the scheme's
step, e.g. ``hI`` for SimGD), hence ``J F′ = (I + J B) J``: near the equilibrium the field
moves by ``v ↦ A v`` with ``A = I + J B``, on the range of ``J``. There ``A`` has the
eigenvalues of ``F′`` less those of ``ker J``, and its spectral radius is the rate per period
of ``‖v‖``: what ``convergan verdict`` measures.

``B w`` is one period of the scheme from 0 on the *affine* field ``u ↦ w + J u`` (the same
increments, with ``w`` where the linear field had ``J x``), so ``A w = w + J·(that period)``
costs one period and one ``J`` product, and :func:`field_update_spectrum` runs Arnoldi on it
in field space, from ``J r`` (``r`` random, seeded): the Krylov space lies in the range of
``J`` and holds a direction with ``J u ≈ 0`` only at the size ``J`` has there. It stops when
the space is invariant (the residual below :data:`BREAKDOWN` of the largest Hessenberg entry:
the range of ``J`` exhausted) or at ``dimension`` vectors, without restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from convergan.analysis.eigensolver import Spectrum
from convergan.analysis.operators import period_map
from convergan.analysis.spectrum import UpdateSpectrum
from convergan.field import GradientStep, LinearField, unflatten

BREAKDOWN = 1e-8  # relative residual below which the Krylov space is taken as invariant
DIMENSION = 80  # Krylov vectors at most (no restarts)
CONVERGED = 1e-6  # a Ritz pair is converged when its residual is below this of the radius


def field_space_operator(
    scheme,
    jacobian: Callable[[Tensor], Tensor],
    sizes: tuple[int, ...],
    preconditioner: tuple[Tensor, ...] | None = None,
) -> Callable[[Tensor], Tensor]:
    """``w ↦ A w = w + J B w``: ``B w`` one period of ``scheme`` from 0 on the affine field
    ``u ↦ w + J u``. Refuses schemes with their own state (optimistic GD: its update is not a
    map of the parameters alone) and lazy regularization (its steps see other Jacobians)."""
    mover = GradientStep(preconditioner=preconditioner)  # constraints: inactive, left out
    n = sum(sizes)
    zero = torch.zeros(n, dtype=torch.float64)
    probe = LinearField({1.0: jacobian}, sizes)
    if tuple(scheme.regularization_gains) != (1.0,):
        raise ValueError(f"{scheme.name} with lazy regularization has no rate on the field")
    if scheme.init(probe, mover, unflatten(zero, sizes)).own:
        raise ValueError(f"{scheme.name} keeps its own state: it has no rate on the field")

    def apply(w: Tensor) -> Tensor:
        affine = LinearField({1.0: lambda z: w + jacobian(z)}, sizes)
        moved = period_map(scheme, affine, mover, sizes, ())(torch.zeros_like(w))
        return w + jacobian(moved)

    return apply


def field_update_spectrum(
    operator: Callable[[Tensor], Tensor],
    start: Tensor,
    k: int = 10,
    *,
    dimension: int = DIMENSION,
    breakdown: float = BREAKDOWN,
) -> Spectrum:
    """The ``k`` largest-magnitude Ritz values of ``operator`` on the Krylov space of
    ``start`` (Arnoldi, Gram–Schmidt twice, no restarts), each with its residual
    ``‖A w − μ w‖`` (``w`` its unit Ritz vector). ``converged``: the space became invariant,
    or every returned pair's residual is below :data:`CONVERGED` of the largest ``|μ|``."""
    began = time.perf_counter()
    n = start.shape[0]
    norm = float(torch.linalg.vector_norm(start))
    if norm == 0.0:
        raise ValueError("the start vector is zero: J vanishes here")
    basis = [start / norm]
    dimension = max(1, min(dimension, n))
    hessenberg = np.zeros((dimension + 1, dimension))
    size, invariant = 0, False
    for j in range(dimension):
        image = operator(basis[j])
        for _ in range(2):
            stacked = torch.stack(basis)
            coefficients = stacked @ image
            image = image - coefficients @ stacked
            hessenberg[: j + 1, j] += coefficients.numpy()
        residual = float(torch.linalg.vector_norm(image))
        hessenberg[j + 1, j] = residual
        size = j + 1
        if residual <= breakdown * max(1.0, np.abs(hessenberg[: j + 1, : j + 1]).max()):
            invariant = True
            break
        basis.append(image / residual)
    values, vectors = np.linalg.eig(hessenberg[:size, :size])
    residuals = np.zeros(size) if invariant else hessenberg[size, size - 1] * np.abs(vectors[-1])
    order = np.argsort(-np.abs(values))[:k]
    values, residuals = values[order].astype(complex), residuals[order]
    radius = float(np.abs(values).max())
    converged = invariant or bool(np.all(residuals <= CONVERGED * max(radius, 1e-300)))
    return Spectrum(
        eigenvalues=values,
        residuals=residuals,
        which="LM",
        k=k,
        n=n,
        converged=converged,
        matvecs=size,
        seconds=time.perf_counter() - began,
        solver=f"field-space Arnoldi, {size} vectors" + (" (invariant)" if invariant else ""),
    )


def field_scheme_spectrum(
    scheme,
    jacobians: Mapping[float, Callable[[Tensor], Tensor]],
    sizes: tuple[int, ...],
    k: int = 10,
    preconditioner: tuple[Tensor, ...] | None = None,
    seed: int = 0,
) -> UpdateSpectrum:
    """The spectral radius of one period of ``scheme`` on the field (module docstring), from
    the field Jacobian at gain 1 (``jacobians[1.0]``: ``u ↦ J u``, the field the diagnostics
    measure), started at ``J r`` with ``r`` drawn from ``seed``."""
    jacobian = jacobians[1.0]
    operator = field_space_operator(scheme, jacobian, sizes, preconditioner)
    r = torch.randn(sum(sizes), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    spectrum = field_update_spectrum(operator, jacobian(r), k)
    lrs = (float(scheme.lr_g), float(scheme.lr_d))
    return UpdateSpectrum(scheme.name, scheme.period, lrs, preconditioner is not None, spectrum)
