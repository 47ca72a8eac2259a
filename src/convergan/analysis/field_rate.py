"""The update operator as the field sees it: the rate at which ‖v‖ shrinks or grows.

At an equilibrium of a real network the field Jacobian ``J`` is singular: continuous families
of equilibria (a Leaky-ReLU unit's weights rescaled, D flat on the data, generator parameters
that do not move any ``G(z_i)``) are directions ``u`` with ``J u = 0``. Every scheme's update
fixes them (``F′ u = u``: on the linearised field nothing moves), so ``F′`` has eigenvalues at
1 that the largest-magnitude spectrum returns first, while the field never shows them.

What the field does show: every scheme's period on the linearised field is ``F′ = I + B J``
(each increment is a step along ``J`` of an intermediate point, so it vanishes on ``ker J``),
hence ``J F′ = (I + J B) J`` and the field moves by ``v ↦ A v`` with ``A = I + J B`` on the
range of ``J``. ``A`` there has the eigenvalues of ``F′`` less those of ``ker J``: its spectral
radius is the rate per period of ``‖v‖`` near the equilibrium, what ``convergan verdict``
measures. :func:`field_update_spectrum` finds it by Arnoldi on ``A`` in field space, carrying
each basis vector ``w = J y`` with its preimage ``y`` so that ``A w = J (F′ y)`` costs one
update-operator and one ``J`` product; the Krylov space of ``J r`` never holds a direction of
``ker J``. It stops when the space is invariant (the residual below ``breakdown`` of the
operator's size: the range of ``J`` exhausted, only directions with ``J u ≈ 0`` left) or at
``dimension`` vectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from convergan.analysis.eigensolver import Spectrum
from convergan.analysis.spectrum import UpdateSpectrum, update_operator

BREAKDOWN = 1e-8  # relative residual below which the Krylov space is taken as invariant
DIMENSION = 80  # Krylov vectors at most (no restarts)


def field_update_spectrum(
    update: Callable[[Tensor], Tensor],
    jacobian: Callable[[Tensor], Tensor],
    n: int,
    k: int = 10,
    *,
    dimension: int = DIMENSION,
    breakdown: float = BREAKDOWN,
    seed: int = 0,
) -> Spectrum:
    """The ``k`` largest-magnitude eigenvalues of ``A`` (``A J = J F′``) on the range of ``J``.

    ``update`` is ``u ↦ F′u`` and ``jacobian`` ``u ↦ J u``, both on ``R^n`` (float64 vectors);
    each eigenvalue carries the Arnoldi residual ``‖A w − μ w‖`` of its unit Ritz vector.
    ``converged``: every returned pair has a residual below ``1e-6`` of ``max |μ|``, or the
    space became invariant."""
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    y = torch.randn(n, generator=generator, dtype=torch.float64)
    w = jacobian(y)
    scale = float(torch.linalg.vector_norm(w))
    if scale == 0.0:
        raise ValueError("J is zero here: the field does not change in any direction")
    ys, ws = [y / scale], [w / scale]
    dimension = max(1, min(dimension, n))
    hessenberg = np.zeros((dimension + 1, dimension))
    products, size, invariant = 1, 0, False
    for j in range(dimension):
        z = update(ys[j])
        image = jacobian(z)  # A w_j = J F′ y_j
        products += 2
        for _ in range(2):  # Gram–Schmidt twice, in field space; the preimages follow
            basis = torch.stack(ws)
            coefficients = basis @ image
            image = image - coefficients @ basis
            z = z - coefficients @ torch.stack(ys)
            hessenberg[: j + 1, j] += coefficients.numpy()
        norm = float(torch.linalg.vector_norm(image))
        hessenberg[j + 1, j] = norm
        size = j + 1
        if norm <= breakdown * max(1.0, np.abs(hessenberg[: j + 2, : j + 1]).max()):
            invariant = True
            break
        ys.append(z / norm)
        ws.append(image / norm)
    square = hessenberg[:size, :size]
    values, vectors = np.linalg.eig(square)
    residuals = 0.0 if invariant else hessenberg[size, size - 1] * np.abs(vectors[-1, :])
    residuals = np.broadcast_to(residuals, values.shape).astype(np.float64)
    order = np.argsort(-np.abs(values))[:k]
    values, residuals = values[order], residuals[order]
    radius = float(np.abs(values).max()) if len(values) else 0.0
    converged = invariant or bool(np.all(residuals <= 1e-6 * max(radius, 1e-300)))
    return Spectrum(
        eigenvalues=values.astype(complex),
        residuals=np.array(residuals),
        which="LM",
        k=k,
        n=n,
        converged=converged,
        matvecs=products,
        seconds=time.perf_counter() - start,
        solver=f"field-space Arnoldi ({size} vectors{', invariant' if invariant else ''})",
    )


def field_scheme_spectrum(
    scheme,
    jacobians,
    sizes: tuple[int, ...],
    k: int = 10,
    preconditioner: tuple[Tensor, ...] | None = None,
    seed: int = 0,
) -> UpdateSpectrum:
    """:func:`field_update_spectrum` of one period of ``scheme`` (``jacobians``: ``u ↦ J u`` by
    regularization gain, as :func:`~convergan.analysis.spectrum.update_operator` takes them);
    ``J`` is the field's at gain 1, the field the diagnostics measure."""
    update, m = update_operator(scheme, jacobians, sizes, preconditioner)
    n = sum(sizes)
    if m != n:
        raise ValueError(
            f"{scheme.name} keeps its own state: its update is not a map of the parameters alone, "
            "so it has no rate on the field"
        )
    spectrum = field_update_spectrum(update, jacobians[1.0], n, k, seed=seed)
    lrs = (float(scheme.lr_g), float(scheme.lr_d))
    return UpdateSpectrum(scheme.name, scheme.period, lrs, preconditioner is not None, spectrum)
