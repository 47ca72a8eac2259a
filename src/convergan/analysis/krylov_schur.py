"""Leading eigenvalues by Krylov–Schur: a thick-restarted Arnoldi tested after every product.

ARPACK (implicitly restarted Arnoldi) is mathematically a thick restart too (Stewart, 2001),
but three of its habits cost products on the operators convergan solves, whose wanted
eigenvalues sit close together at the edge of a wide spectrum:

* it tests convergence only when a basis of ``ncv`` vectors is complete, so it overshoots by
  up to ``ncv − k`` products; here the test runs after every product, from the Arnoldi
  relation (the residual of a Ritz pair is ``‖f‖ · |bᵀy|``, no product);
* it keeps ``ncv`` vectors, where a larger basis restarts less: here the basis is several
  times larger (its cost is orthogonalisation and memory, not products);
* at a restart the wanted Ritz vectors are kept by a reordered real Schur form of the
  projected matrix (Stewart's Krylov–Schur restart, which needs no product), the rest
  discarded, and Arnoldi continues from the residual vector.

Only the basis is kept, not the products' images: writing fresh memory is what costs here
(the first touch of a page is slow in sandboxed machines: 2.2 s for 288 MB), and the
residuals :func:`~convergan.analysis.eigensolver.leading_eigenvalues` reports come from fresh
products anyway.

The relation kept throughout is ``A Vᵀ = Vᵀ H + f bᵀ`` (rows of ``V`` orthonormal, ``f ⟂ V``):
after an Arnoldi step ``b = e_last``; after a restart ``b`` is the last row of the Schur
vectors kept. ``benchmarks/bench_spectrum_vs_berard.py`` measures it against ARPACK and Berard
et al.'s pattern, ``benchmarks/bench_krylov_profile.py`` against an unrestarted Krylov space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

ARPACK_FLOOR = np.finfo(np.float64).eps ** (2 / 3)  # ARPACK's floor under |θ| in its test


@dataclass(frozen=True)
class KrylovSchurResult:
    """The ``k`` leading Ritz pairs (best first), their residuals by the Arnoldi relation,
    whether those met the tolerance (if not, only the pairs whose residual meets it are
    listed), the products and the restarts."""

    values: np.ndarray
    vectors: np.ndarray  # (n, k), unit columns
    residuals: np.ndarray
    converged: bool
    products: int
    restarts: int


def _rank(values: np.ndarray, which: str) -> np.ndarray:
    if which == "LR":
        return np.real(values)
    if which == "LM":
        return np.abs(values)
    return np.abs(np.imag(values))  # LI


def combine(rows: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """``rowsᵀ @ coefficients`` for real ``rows`` (m × n) and complex ``coefficients``
    (m × k), as two real products: numpy would copy ``rows`` to complex first, about 50×
    slower at n = 269,059 (2.9 s against 0.06 s for m = 67, k = 6)."""
    real = rows.T @ np.ascontiguousarray(coefficients.real)
    if not np.iscomplexobj(coefficients):
        return real
    return real + 1j * (rows.T @ np.ascontiguousarray(coefficients.imag))


DGKS = 1 / np.sqrt(2)  # a second Gram–Schmidt pass when a pass kept less of the norm


def _orthogonalize(vector: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``vector`` minus its projection on the rows of ``basis``, and the coefficients removed:
    classical Gram–Schmidt, repeated while a pass cancels more than ``1 − 1/√2`` of the norm
    (the Daniel–Gragg–Kaufman–Stewart test ARPACK uses; at most three passes)."""
    coefficients = np.zeros(len(basis))
    if not len(basis):
        return vector, coefficients
    norm = np.linalg.norm(vector)
    for _ in range(3):
        step = basis @ vector
        vector = vector - basis.T @ step
        coefficients += step
        kept = np.linalg.norm(vector)
        if kept > DGKS * norm:
            break
        norm = kept
    return vector, coefficients


def krylov_schur(
    apply: Callable[[np.ndarray], np.ndarray],
    n: int,
    k: int,
    which: str,
    tol: float,
    *,
    basis_size: int,
    initial: np.ndarray,
    max_restarts: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int, int], None] | None = None,
) -> KrylovSchurResult:
    """The ``k`` leading eigenpairs of the real operator ``apply`` (``n × n``) by ``which``.

    Converged when every one of the ``k`` leading Ritz pairs has ``‖A u − θ u‖ ≤ tol ·
    max(|θ|, ε^⅔)`` by the Arnoldi estimate (ARPACK's test); the residuals returned are those
    estimates. ``basis_size`` (at least ``k + 2``, at most ``n``) vectors are kept
    (``8 · n · basis_size`` bytes); at a full basis the ``basis_size // 2`` (at least
    ``k + 1``) leading Ritz vectors are kept. ``max_restarts``: stop unconverged after this
    many restarts (``None``: ``10 n``, as ARPACK).
    """
    basis_size = min(n, max(basis_size, k + 2))
    keep = min(basis_size - 1, max(k + 1, basis_size // 2))
    max_restarts = 10 * n if max_restarts is None else max_restarts
    rng = np.random.default_rng(seed)
    V = np.empty((basis_size, n))
    H = np.zeros((basis_size, basis_size))
    b = np.zeros(basis_size)
    f = np.asarray(initial, dtype=np.float64).copy()
    m, products, restarts = 0, 0, 0
    values = np.zeros(0, complex)
    Y = np.zeros((0, 0), complex)
    converged = False
    while True:
        beta = np.linalg.norm(f)
        if not beta > 1e-12 * max(1.0, np.abs(H[:m, :m]).max(initial=0.0)):
            # an invariant subspace (or a zero start): go on from a fresh direction
            f, _ = _orthogonalize(rng.standard_normal(n), V[:m])
            b[:m], beta = 0.0, np.linalg.norm(f)
        V[m] = f / beta
        H[m, :m] = beta * b[:m]
        image = apply(V[m])
        products += 1
        m += 1
        f, H[:m, m - 1] = _orthogonalize(image, V[:m])
        b[:m] = 0.0
        b[m - 1] = 1.0
        if progress is not None:
            progress(products, products + basis_size - m, restarts)
        if m < min(k + 1, n):
            continue
        values, Y = np.linalg.eig(H[:m, :m])
        order = np.argsort(-_rank(values, which), kind="stable")
        top = order[:k]
        estimates = np.linalg.norm(f) * np.abs(b[:m] @ Y[:, top])
        floor = tol * np.maximum(np.abs(values[top]), ARPACK_FLOOR)
        if np.all(estimates <= floor) or m == n:
            converged = True
            break
        if m < basis_size:
            continue
        if restarts >= max_restarts:
            break
        m = _restart(V, H, b, m, keep, which)
        restarts += 1
    top = np.argsort(-_rank(values, which), kind="stable")[:k]
    values, Y = values[top], Y[:, top]
    vectors = combine(V[:m], Y)  # unit columns: V's rows are orthonormal, Y's columns unit
    residuals = np.linalg.norm(f) * np.abs(b[:m] @ Y)
    if not converged:  # as ARPACK: only the pairs that met the tolerance
        met = residuals <= tol * np.maximum(np.abs(values), ARPACK_FLOOR)
        values, vectors, residuals = values[met], vectors[:, met], residuals[met]
    return KrylovSchurResult(values, vectors, residuals, converged, products, restarts)


def _restart(V, H, b, m: int, keep: int, which: str) -> int:
    """Keep the ``keep`` leading Ritz vectors (more by one where that splits a conjugate
    pair) as a real Schur basis; ``V``, ``H``, ``b`` rewritten in place. Returns the
    new basis size. ``f`` stays: it is orthogonal to the old basis, so to the kept one."""
    values = np.linalg.eigvals(H[:m, :m])
    ranks = np.sort(_rank(values, which))[::-1]
    # a hair below the keep-th rank: LAPACK's Schur eigenvalues differ from eigvals' by rounding
    hair = 1e-12 * max(1.0, float(np.abs(values).max()))
    if np.sum(ranks >= ranks[keep - 1] - hair) > m - 1:
        # a tie (a conjugate pair) at the keep-th place would fill the basis: keep those above
        keep = max(1, int(np.sum(ranks > ranks[keep - 1] + hair)))
    threshold = ranks[keep - 1] - hair
    # the wanted eigenvalues first; a conjugate pair has one rank, so both stay or go
    T, Z, kept = scipy.linalg.schur(
        H[:m, :m],
        output="real",
        sort=lambda re, im: _rank(np.array([re + 1j * im]), which)[0] >= threshold,
    )
    # a safety net (Schur's eigenvalues ranked apart from eigvals'): never a full basis,
    # never half a 2×2 block
    kept = min(kept, m - 1)
    if T[kept, kept - 1] != 0.0:
        kept -= 1
    Q = Z[:, :kept]
    V[:kept] = Q.T @ V[:m]
    H[:kept, :kept] = Q.T @ H[:m, :m] @ Q
    H[kept:, :] = 0.0
    H[:, kept:] = 0.0
    b[:kept] = Q.T @ b[:m]
    b[kept:] = 0.0
    return kept
