"""Ritz values from a fixed budget of products (convergan.analysis.ritz), against numpy's
dense eigenvalues of small matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.analysis.ritz import krylov_subspace, ritz_spectrum, warm_rows


def counted(matrix: np.ndarray):
    calls = []
    dense = torch.from_numpy(matrix)

    def product(u):
        calls.append(1)
        return dense @ u

    return product, calls


def random_matrix(n: int, seed: int, symmetric: bool = False) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n)) / np.sqrt(n)
    return (a + a.T) / 2 if symmetric else a


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), budget=st.integers(3, 25))
def test_each_ritz_value_is_within_its_residual_of_an_eigenvalue_of_a_symmetric_matrix(
    seed, budget
):
    """For a normal matrix, |θ − λ| ≤ ‖A u − θ u‖/‖u‖ for some eigenvalue λ (Bauer–Fike)."""
    a = random_matrix(40, seed, symmetric=True)
    product, calls = counted(a)
    subspace = krylov_subspace(product, 40, budget, seed=seed)
    assert len(calls) == subspace.products == budget
    exact = np.linalg.eigvalsh(a)
    for which in ("LR", "LM"):
        spectrum = ritz_spectrum(subspace, 3, which, 1e-3)
        for value, residual in zip(spectrum.eigenvalues, spectrum.residuals):
            assert np.min(np.abs(exact - value)) <= residual + 1e-12


@pytest.mark.parametrize("which", ["LR", "LM", "LI"])
def test_a_budget_spanning_the_space_gives_the_exact_leading_eigenvalues(which):
    a = random_matrix(12, 3)
    product, _ = counted(a)
    spectrum = ritz_spectrum(krylov_subspace(product, 12, 50), 4, which, 1e-8)
    exact = np.linalg.eigvals(a)
    key = {"LR": np.real, "LM": np.abs, "LI": lambda v: np.abs(np.imag(v))}[which]
    expected = sorted(key(exact), reverse=True)[:4]
    np.testing.assert_allclose(key(spectrum.eigenvalues), expected, atol=1e-10)
    assert spectrum.converged and spectrum.matvecs == 12
    assert np.all(spectrum.residuals < 1e-10)


def test_a_warm_start_from_the_eigenvectors_finds_them_in_few_products():
    """Started from the exact leading eigenvectors (real and imaginary parts), a budget of a
    few products has them exactly; from a random start it has not."""
    a = random_matrix(200, 5)
    values, vectors = np.linalg.eig(a)
    top = np.argsort(-values.real)[:3]
    previous = ritz_spectrum(krylov_subspace(counted(a)[0], 200, 200), 3, "LR", 1e-8)
    np.testing.assert_allclose(np.sort(previous.eigenvalues.real), np.sort(values[top].real))
    rows = warm_rows([previous], 6)
    assert len(rows) == 3  # a conjugate pair's real plane once, and a real vector
    warm = ritz_spectrum(krylov_subspace(counted(a)[0], 200, 6, initial=rows), 3, "LR", 1e-6)
    cold = ritz_spectrum(krylov_subspace(counted(a)[0], 200, 6), 3, "LR", 1e-6)
    np.testing.assert_allclose(np.sort(warm.eigenvalues.real), np.sort(values[top].real))
    assert warm.converged and warm.residuals.max() < 1e-10
    assert not cold.converged


def test_start_rows_of_another_length_are_ignored_and_dependent_rows_skipped():
    a = random_matrix(30, 7)
    product, calls = counted(a)
    wrong = np.ones((2, 31))
    assert krylov_subspace(product, 30, 5, initial=wrong).basis.shape == (5, 30)
    same = np.ones((4, 30))  # one direction four times
    subspace = krylov_subspace(product, 30, 6, initial=same)
    np.testing.assert_allclose(subspace.basis @ subspace.basis.T, np.eye(6), atol=1e-12)
    assert subspace.products == 6
