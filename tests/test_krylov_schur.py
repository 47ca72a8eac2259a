"""Krylov–Schur (analysis/krylov_schur.py) against numpy's dense eigenvalues and ARPACK.

The matrices are built with known spectra (a block-diagonal real form under a random
similarity), including the case the solver exists for: a cluster of wanted eigenvalues at the
edge of a wide spectrum, and conjugate pairs that a restart must keep together.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, eigs

from convergan.analysis.krylov_schur import ARPACK_FLOOR, krylov_schur

RANK = {"LR": np.real, "LM": np.abs, "LI": lambda v: np.abs(np.imag(v))}


def matrix_with_spectrum(reals, pairs, seed: int, skew: float = 0.1) -> np.ndarray:
    """A real matrix whose eigenvalues are ``reals`` and ``pairs`` with their conjugates."""
    n = len(reals) + 2 * len(pairs)
    blocks = np.zeros((n, n))
    blocks[range(len(reals)), range(len(reals))] = reals
    for j, pair in enumerate(pairs):
        a = len(reals) + 2 * j
        blocks[a : a + 2, a : a + 2] = [[pair.real, pair.imag], [-pair.imag, pair.real]]
    rng = np.random.default_rng(seed)
    similarity = np.eye(n) + skew * rng.standard_normal((n, n)) / np.sqrt(n)
    return similarity @ blocks @ np.linalg.inv(similarity)


def clustered(seed: int = 1) -> np.ndarray:
    """20 real eigenvalues 0.05 apart at the right edge, 250 spread left, 30 complex pairs."""
    rng = np.random.default_rng(seed)
    reals = np.concatenate([5 - 0.05 * np.arange(20), rng.normal(-3, 3, 250)])
    pairs = rng.normal(-2, 2, 30) + 1j * rng.normal(0, 10, 30)
    return matrix_with_spectrum(reals, pairs, seed)


def leading(values: np.ndarray, which: str, k: int) -> np.ndarray:
    return np.sort(RANK[which](values))[::-1][:k]


def counted(matrix):
    calls = [0]

    def apply(v):
        calls[0] += 1
        return matrix @ v

    return apply, calls


@pytest.mark.parametrize("which", ["LR", "LM", "LI"])
@pytest.mark.parametrize("basis", [24, 60, 200])
def test_leading_eigenvalues_match_the_dense_solve(which, basis):
    """Small bases restart many times (the Schur reordering, pairs kept together), large
    ones not at all: all find the dense solve's leading eigenvalues, with exact residuals."""
    matrix = clustered()
    dense = np.linalg.eigvals(matrix)
    apply, calls = counted(matrix)
    k, tol = 8, 1e-10
    start = np.random.default_rng(0).standard_normal(len(matrix))
    found = krylov_schur(apply, len(matrix), k, which, tol, basis_size=basis, initial=start)
    assert found.converged and len(found.values) == k
    scale = np.abs(dense).max()
    np.testing.assert_allclose(
        np.sort(RANK[which](found.values))[::-1], leading(dense, which, k), atol=1e-8 * scale
    )
    for value in found.values:  # each one is an eigenvalue
        assert np.abs(dense - value).min() <= 1e-8 * scale
    # the residuals are the eigen-equation's, computed here from fresh products
    exact = np.linalg.norm(matrix @ found.vectors - found.vectors * found.values, axis=0)
    np.testing.assert_allclose(found.residuals, exact, rtol=1e-6, atol=1e-13 * scale)
    assert np.all(found.residuals <= 2 * tol * np.abs(found.values))
    assert found.products == calls[0]  # no product beyond the ones counted
    if basis != 60:  # 24 restarts; 200 holds the whole search
        assert (found.restarts > 0) == (basis == 24)


def test_fewer_products_than_arpack_on_a_clustered_edge_with_the_same_basis():
    """The reason it is the default: on a cluster at the edge, with the same basis and
    tolerance, Krylov–Schur needs fewer products than ARPACK (its test runs after every
    product, ARPACK's at the end of each basis) and none for the residuals."""
    matrix = clustered()
    n, k, tol = len(matrix), 8, 1e-8
    start = np.random.default_rng(0).standard_normal(n)
    for basis in (40, 100):
        apply, ours = counted(matrix)
        found = krylov_schur(apply, n, k, "LR", tol, basis_size=basis, initial=start)
        product, theirs = counted(matrix)
        operator = LinearOperator((n, n), matvec=product, dtype=float)
        values = eigs(operator, k=k, which="LR", tol=tol, ncv=basis, v0=start)[0]
        np.testing.assert_allclose(np.sort(values.real), np.sort(found.values.real), atol=1e-6)
        assert ours[0] < theirs[0] + k  # ARPACK's residuals would take k more
        assert ours[0] < theirs[0]


def test_a_restart_keeps_conjugate_pairs_together():
    """Wanted pairs at the edge of a spectrum with many real eigenvalues and a basis that
    restarts often: a split pair would break the Krylov relation and the residuals."""
    rng = np.random.default_rng(3)
    pairs = 1.0 + 0.02 * np.arange(6) + 1j * (1 + rng.random(6))
    reals = -1 - rng.random(120) * 3  # all left of the pairs
    matrix = matrix_with_spectrum(reals, pairs, seed=3)
    assert np.sort(np.linalg.eigvals(matrix).real)[-12] > 0.99  # the pairs lead
    start = rng.standard_normal(len(matrix))
    found = krylov_schur(
        lambda v: matrix @ v, len(matrix), 6, "LR", 1e-10, basis_size=16, initial=start
    )
    assert found.converged and found.restarts > 2
    np.testing.assert_allclose(
        np.sort(found.values.real)[::-1], leading(pairs.repeat(2), "LR", 6), atol=1e-8
    )
    assert np.all(np.abs(found.values.imag) > 0.5)


def test_an_invariant_start_goes_on_from_a_fresh_direction():
    """A start vector inside a 3-dimensional invariant subspace breaks the Arnoldi sequence
    down after 3 products; the solver must go on and still find the leading 5."""
    diagonal = np.arange(50, dtype=float)
    matrix = np.diag(diagonal)
    start = np.zeros(50)
    start[[0, 1, 2]] = 1.0  # spans eigenvectors 0, 1, 2 only
    found = krylov_schur(lambda v: matrix @ v, 50, 5, "LR", 1e-12, basis_size=20, initial=start)
    assert found.converged
    np.testing.assert_allclose(np.sort(found.values.real)[::-1], [49, 48, 47, 46, 45])


def test_not_converged_lists_only_the_pairs_that_met_the_tolerance():
    matrix = clustered()
    start = np.random.default_rng(0).standard_normal(len(matrix))
    found = krylov_schur(
        lambda v: matrix @ v, len(matrix), 8, "LR", 1e-14, basis_size=12, initial=start,
        max_restarts=1,
    )  # fmt: skip
    assert not found.converged and len(found.values) < 8
    assert np.all(found.residuals <= 1e-14 * np.maximum(np.abs(found.values), ARPACK_FLOOR))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(12, 60),
    k=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    which=st.sampled_from(["LR", "LM"]),
)
def test_random_matrices(n, k, seed, which):
    """Any real matrix, any small k: the leading eigenvalues of the dense solve, to the
    tolerance, whether the basis is full space or small enough to restart. (Bases of k + 2
    or 3 can stall or settle on a wrong pair, as ARPACK's can: the shipped basis is at
    least 2k + 2, by default 80 or more.)"""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, n))
    dense = np.linalg.eigvals(matrix)
    ranks = np.sort(RANK[which](dense))[::-1]
    if k < n and ranks[k - 1] - ranks[k] < 1e-3 * np.abs(dense).max():
        return  # a tie at the k-th place: either eigenvalue is right
    start = rng.standard_normal(n)
    basis = min(n, 2 * k + 8 + seed % 12)  # restarts for the larger n
    found = krylov_schur(lambda v: matrix @ v, n, k, which, 1e-11, basis_size=basis,
                         initial=start, max_restarts=2000)  # fmt: skip
    assert found.converged
    np.testing.assert_allclose(
        np.sort(RANK[which](found.values))[::-1], ranks[:k], atol=1e-7 * np.abs(dense).max()
    )
