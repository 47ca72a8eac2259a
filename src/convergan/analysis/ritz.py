"""Leading Ritz values from a fixed budget of products: the spectra logged during training.

ARPACK (:mod:`convergan.analysis.eigensolver`) solves to a tolerance, which costs at least its
Krylov dimension (``max(40, 5k)`` products) per solve and per ``which``, and more with every
implicit restart. Training logs the local picture every few hundred steps and cannot spend
that much. Here a fixed number of products builds *one* subspace: the previous look's Ritz
vectors first (a warm start: the operator moves little between two looks), then a Krylov
sequence from the last image. Rayleigh–Ritz on it gives the leading Ritz values for every
``which`` at once (LR and LM from the same products), each with its residual
``‖A u − θ u‖ / ‖u‖`` computed from the stored images, without another product. The residual
is the accuracy the log states: a Ritz pair with residual r is an exact eigenpair of a matrix
within r of A (in the 2-norm). Look after look, the warm start keeps refining the subspace,
as a thick restart would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from convergan.analysis.eigensolver import Spectrum, criterion
from convergan.analysis.krylov_schur import combine

REORTHOGONALIZE = 2  # classical Gram–Schmidt twice: orthogonal to rounding


@dataclass(frozen=True)
class Subspace:
    """An orthonormal basis (rows) of a subspace, the operator's image of each row, and the
    products and seconds it took."""

    basis: np.ndarray
    images: np.ndarray
    products: int
    seconds: float


def _orthogonalize(vector: np.ndarray, basis: list[np.ndarray]) -> np.ndarray:
    if basis:
        rows = np.stack(basis)
        for _ in range(REORTHOGONALIZE):
            vector = vector - rows.T @ (rows @ vector)
    return vector


def krylov_subspace(
    matvec: Callable[[Tensor], Tensor],
    n: int,
    budget: int,
    *,
    initial: np.ndarray | None = None,
    seed: int = 0,
) -> Subspace:
    """A subspace of dimension ``min(budget, n)`` from as many products: the rows of
    ``initial`` (previous Ritz vectors; at most half the budget, those of another length
    ignored), then the Krylov sequence ``v_{j+1} ∝ A v_j`` orthogonalised against the basis; a
    seeded normal vector where there is nothing to start from or the sequence breaks down."""
    start = time.perf_counter()
    budget = min(budget, n)
    rng = np.random.default_rng(seed)
    pending: list[np.ndarray] = []
    if initial is not None and initial.ndim == 2 and initial.shape[1] == n:
        pending = [row for row in initial[: budget // 2] if np.all(np.isfinite(row))]
    basis: list[np.ndarray] = []
    images: list[np.ndarray] = []
    candidate = None
    while len(basis) < budget:
        if pending:
            candidate = pending.pop(0)
        elif candidate is None:
            candidate = rng.standard_normal(n)
        vector = _orthogonalize(np.asarray(candidate, dtype=np.float64), basis)
        norm = np.linalg.norm(vector)
        if not norm > 1e-10 * max(1.0, np.linalg.norm(candidate)):
            candidate = None  # dependent: the next start row, or a random vector
            continue
        vector = vector / norm
        image = matvec(torch.from_numpy(vector)).detach().cpu().numpy().astype(np.float64)
        basis.append(vector)
        images.append(image)
        candidate = image
    seconds = time.perf_counter() - start
    return Subspace(np.stack(basis), np.stack(images), len(basis), seconds)


def ritz_spectrum(subspace: Subspace, k: int, which: str, tol: float) -> Spectrum:
    """The ``k`` leading Ritz pairs of the subspace by ``which``, with their residuals;
    ``converged`` when every residual is at most ``tol`` times the largest |θ| found."""
    criterion(np.zeros(1), which)  # validates which
    basis, images = subspace.basis, subspace.images
    projected = basis @ images.T  # H[i, j] = ⟨v_i, A v_j⟩
    values, coefficients = np.linalg.eig(projected)  # A V y ≈ θ V y
    order = np.argsort(-criterion(values, which), kind="stable")[:k]
    values, coefficients = values[order], coefficients[:, order]
    vectors = combine(basis, coefficients)  # (n, k) Ritz vectors
    residuals = np.linalg.norm(combine(images, coefficients) - vectors * values, axis=0)
    residuals = residuals / np.linalg.norm(vectors, axis=0)
    scale = float(np.abs(values).max()) if len(values) else 0.0
    converged = bool(len(values)) and bool(np.all(residuals <= tol * max(scale, 1e-300)))
    n = basis.shape[1]
    return Spectrum(
        values, residuals, which, k, n, converged, subspace.products, subspace.seconds,
        "ritz", vectors,
    )  # fmt: skip


def warm_rows(spectra: Sequence[Spectrum], limit: int) -> np.ndarray | None:
    """Start rows for the next subspace from earlier Ritz (or ARPACK) vectors: the real and
    imaginary parts of each, best first and without repeats, at most ``limit``."""
    rows: list[np.ndarray] = []
    for spectrum in spectra:
        if spectrum.eigenvectors is None:
            continue
        values = spectrum.eigenvalues
        for value, column in zip(values, spectrum.eigenvectors.T):
            if np.imag(value) < 0 and np.any(np.isclose(values, np.conj(value))):
                continue  # its conjugate's vector spans the same real plane
            for part in (column.real, column.imag):
                if np.any(part) and len(rows) < limit:
                    rows.append(part / np.linalg.norm(part))
    return np.stack(rows) if rows else None
