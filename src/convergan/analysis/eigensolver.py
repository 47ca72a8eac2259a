"""The leading eigenvalues of a real operator given only by its products.

``leading_eigenvalues`` runs Krylov–Schur (:mod:`convergan.analysis.krylov_schur`) or ARPACK
(``scipy.sparse.linalg.eigs``, implicitly restarted Arnoldi) from a seeded start vector, with
the basis chosen for fewer products, progress reporting, and a dense solve for tiny
operators; then one block of fresh products gives every eigenpair's residual. (Krylov–Schur's
own residuals, from its kept images, are exact for the images but blind to the products'
rounding: a float32 operator is linear only to about 1e-7, and a residual of 1e-13 would
claim more than the operator holds. ``benchmarks/bench_spectrum_accuracy.py`` shows both.)
:mod:`convergan.analysis.spectrum` builds the operators (the field Jacobian, the update
operators) and calls it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
from torch import Tensor

from convergan.analysis.krylov_schur import krylov_schur
from convergan.analysis.which import SOLVERS, WHICH

FLOAT64_TOLERANCE = 1e-10
FLOAT32_TOLERANCE = 1e-5
# Krylov–Schur's basis: 8·n bytes a vector, this much at most
BASIS_MEMORY_BYTES = 4 * 2**30


def arpack_tolerance(tol: float | None, float64: bool) -> float:
    """ARPACK's relative tolerance: ``tol``, or by default :data:`FLOAT64_TOLERANCE` for
    products in float64 and :data:`FLOAT32_TOLERANCE` in float32."""
    if tol is not None:
        return tol
    return FLOAT64_TOLERANCE if float64 else FLOAT32_TOLERANCE


@dataclass(frozen=True)
class Spectrum:
    """Leading eigenvalues of an operator, best first by ``which``, with their residuals.

    ``residuals[j] = ‖A u_j − λ_j u_j‖ / ‖u_j‖``. ``converged`` is ARPACK's flag (always true
    for the dense solver); without convergence only the pairs ARPACK converged are listed.
    ``matvecs`` counts the products the solver needed (the residuals' are not included).
    """

    eigenvalues: np.ndarray
    residuals: np.ndarray
    which: str
    k: int
    n: int
    converged: bool
    matvecs: int
    seconds: float
    solver: str  # "krylov-schur", "arpack" or "dense"
    eigenvectors: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "which": self.which,
            "k": self.k,
            "n": self.n,
            "solver": self.solver,
            "eigenvalues": complex_pairs(self.eigenvalues),
            "residuals": [float(r) for r in self.residuals],
            "converged": self.converged,
            "n_converged": int(len(self.eigenvalues)),
            "matvecs": self.matvecs,
            "seconds": self.seconds,
        }


def complex_pairs(values) -> list[list[float]]:
    return [[float(np.real(v)), float(np.imag(v))] for v in values]


def criterion(values: np.ndarray, which: str) -> np.ndarray:
    """What ``which`` maximises: Re λ (LR), |λ| (LM), |Im λ| (LI; ARPACK's meaning for real
    operators, whose eigenvalues come in conjugate pairs)."""
    if which == "LR":
        return np.real(values)
    if which == "LM":
        return np.abs(values)
    if which == "LI":
        return np.abs(np.imag(values))
    raise ValueError(f"which must be one of {', '.join(WHICH)}, not {which!r}")


def check_k(k: int, n: int) -> None:
    """ARPACK needs ``k < n − 1``; smaller operators use the dense solver, which needs ``k ≤ n``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > n:
        raise ValueError(f"k = {k} is too large: the operator has only {n} dimensions")


def leading_eigenvalues(
    matvec: Callable[[Tensor], Tensor],
    n: int,
    k: int = 10,
    which: str = "LR",
    *,
    tol: float = FLOAT64_TOLERANCE,
    maxiter: int | None = None,
    ncv: int | None = None,
    seed: int = 0,
    dense: bool | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    initial: np.ndarray | None = None,
    block: Callable[[Tensor], Tensor] | None = None,
    solver: str = "krylov-schur",
) -> Spectrum:
    """The ``k`` leading eigenvalues of the real operator ``u ↦ matvec(u)`` (float64 tensors).

    ARPACK (implicitly restarted Arnoldi) from a seeded start vector, so the result is
    reproducible. ``solver``: ``"krylov-schur"`` (default; ``ncv`` is its basis, default
    :func:`schur_basis`; ``maxiter`` its restarts) or ``"arpack"`` (``ncv`` default
    :func:`krylov_dimension`; its residuals cost ``k`` or more products afterwards). Both need
    ``k < n − 1``; for smaller ``n`` (e.g. the 2-parameter Dirac-GAN), or when
    ``dense=True``, the matrix is assembled from ``n`` products with the unit vectors and
    solved densely instead (``solver = "dense"``). ``progress`` is called with the running
    product count, the products planned so far and the restarts so far: the plan (and a
    bar's estimate) covers the current basis or restart.

    ``initial``: the solver's start vector (default: seeded normal). A combination of a nearby
    operator's leading eigenvectors (:func:`start_vector`) saves products when several
    checkpoints of one run are analysed; one of another length is ignored. ``block``: the
    product on a block of vectors (one per row), used for the residual checks, which need all
    their products at once.
    """
    criterion(np.zeros(1), which)  # validates which
    check_k(k, n)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, not {solver!r}")
    count, basis, per_restart = 0, n, 1  # dense: n products, no restarts
    restarts, solved = 0, False  # after solving, the residual checks: no new basis

    def product(u: np.ndarray) -> np.ndarray:
        out = matvec(torch.from_numpy(np.ascontiguousarray(u, dtype=np.float64)))
        return out.detach().cpu().numpy().astype(np.float64)

    def apply(u: np.ndarray) -> np.ndarray:  # ARPACK's and the dense solve's: counted here
        nonlocal count, restarts
        count += 1
        if progress is not None:
            if not solved:
                restarts = max(0, -(-(count - basis) // per_restart))
            progress(count, basis + restarts * per_restart, restarts)
        return product(u)

    def apply_block(rows: np.ndarray) -> np.ndarray:
        nonlocal count
        if block is None:
            return np.stack([apply(r) for r in rows])
        count += len(rows)
        if progress is not None:
            progress(count, basis + restarts * per_restart, restarts)
        out = block(torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float64)))
        return out.detach().cpu().numpy().astype(np.float64)

    start = time.perf_counter()
    use_dense = dense if dense is not None else k >= n - 1
    fits = initial is not None and np.shape(initial) == (n,)
    v0 = initial if fits else np.random.default_rng(seed).standard_normal(n)
    if use_dense:
        matrix = np.stack([apply(e) for e in np.eye(n)], axis=1)
        values, vectors = np.linalg.eig(matrix)
        converged = True
    elif solver == "krylov-schur":
        basis = ncv or schur_basis(n, k, which)
        found = krylov_schur(
            product, n, k, which, tol, basis_size=basis, initial=v0, max_restarts=maxiter,
            seed=seed, progress=progress,
        )  # fmt: skip
        values, vectors, converged = found.values, found.vectors, found.converged
        count, basis = found.products, found.products  # the residuals' bar runs past the plan
    else:
        operator = LinearOperator((n, n), matvec=apply, dtype=np.float64)
        ncv = ncv or krylov_dimension(n, k, which)
        basis, per_restart = ncv, max(1, ncv - k)
        values, vectors, converged = _arpack(operator, k, which, tol, maxiter, ncv, v0)
    solved = True
    order = np.argsort(-criterion(values, which), kind="stable")[:k]
    values, vectors = values[order], vectors[:, order]
    solver_matvecs, seconds = count, time.perf_counter() - start
    residuals = _residuals(apply_block, values, vectors)
    return Spectrum(
        values, residuals, which, k, n, converged, solver_matvecs, seconds,
        "dense" if use_dense else solver, vectors,
    )  # fmt: skip


def krylov_dimension(n: int, k: int, which: str) -> int:
    """ARPACK's Krylov dimension: ``max(40, 5k)``, twice that for ``LI``, at most ``n``.

    Why not scipy's ``max(2k + 1, 20)``: the wanted eigenvalues of a network's field Jacobian
    sit close together at the edge of a wide spectrum, and a small basis restarts many times.
    Measured on the default circle run (2,000 steps, N = 2000, tolerance 1e-5, same start
    vector), the products ARPACK needed: k = 6: 286 at scipy's 20, 129 at 34, 104 at 40, 110
    at 60; k = 10: 542 at 21, 159 at 40, 144 at 60. The basis costs ``ncv·n`` floats.

    Eigenvalues with the largest |Im| may lie inside the spectrum's hull (small pairs among
    many real eigenvalues), where Krylov spaces resolve them late and ARPACK may converge to
    other, genuine eigenpairs instead: LI gets twice the dimension. Its residuals certify
    eigenpairs, not that they are the top-k by |Im|."""
    return min(n, max(40, 5 * k) * (2 if which == "LI" else 1))


def schur_basis(n: int, k: int, which: str) -> int:
    """Krylov–Schur's basis: six times ARPACK's :func:`krylov_dimension` (a larger basis
    restarts less, and its cost is orthogonalisation, not products), within
    :data:`BASIS_MEMORY_BYTES`, at most ``n``.

    Measured on the shipped runs (tolerance 1e-5, N = 2000 and 512): the circle's k = 6 LR
    converges in 67 products with any basis from 80 up (ARPACK: 102 and 6 for the residuals);
    the Fashion-MNIST DCGAN's k = 10 LR, ten eigenvalues 0.02 apart at the edge, needs about
    305 in an unrestarted basis (``benchmarks/bench_krylov_profile.py``)."""
    affordable = max(2 * k + 2, BASIS_MEMORY_BYTES // (8 * n))
    return min(n, 6 * krylov_dimension(n, k, which), affordable)


def _arpack(operator, k, which, tol, maxiter, ncv, v0):
    try:
        values, vectors = eigs(operator, k=k, which=which, tol=tol, maxiter=maxiter, ncv=ncv, v0=v0)
        return values, vectors, True
    except ArpackNoConvergence as error:  # keep what converged, and say so
        return error.eigenvalues, error.eigenvectors, False


def _residuals(apply_block, values: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """``‖A u − λ u‖ / ‖u‖`` for each complex ``u``, from ``A Re u`` and ``A Im u``, all
    products in one block."""
    if not len(values):
        return np.zeros(0)
    complex_columns = [j for j in range(len(values)) if np.any(vectors[:, j].imag)]
    rows = [vectors[:, j].real for j in range(len(values))]
    rows += [vectors[:, j].imag for j in complex_columns]
    images = apply_block(np.stack(rows))
    out = []
    for j in range(len(values)):
        image = images[j].astype(complex)
        if j in complex_columns:
            image = image + 1j * images[len(values) + complex_columns.index(j)]
        vector = vectors[:, j]
        out.append(np.linalg.norm(image - values[j] * vector) / np.linalg.norm(vector))
    return np.array(out, dtype=float)


def start_vector(previous: Spectrum | None) -> np.ndarray | None:
    """A start vector for the next ARPACK run from a previous spectrum's eigenvectors (the
    sum of their real and imaginary parts, each normalised), or ``None``."""
    if previous is None or previous.eigenvectors is None or not len(previous.eigenvalues):
        return None
    vectors = previous.eigenvectors
    parts = [p for p in (*vectors.real.T, *vectors.imag.T) if np.any(p)]
    return np.sum([p / np.linalg.norm(p) for p in parts], axis=0)
