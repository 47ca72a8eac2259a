"""The update's spectral radius on the field, checked on matrices with a known kernel.

``J`` is built here with rank r < n, so the update ``F′`` of every scheme has the eigenvalue 1
``n − r`` times (``F′u = u`` on ``ker J``); the rate of ``‖v‖`` is the spectral radius of the
rest. ``F′`` is written out by hand for SimGD, extragradient and AltGD (discriminator first)
and its eigenvalues computed densely.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.analysis.field_rate import field_scheme_spectrum
from convergan.schemes.spec import parse_scheme

SIZES = (5, 7)  # generator, discriminator
N = sum(SIZES)


def singular_jacobian(seed: int, rank: int) -> np.ndarray:
    """``P C Qᵀ`` with ``P``, ``Q`` independent ``n × rank`` bases: rank ``rank``, and its
    range is not the orthogonal complement of its kernel (``J`` is not normal)."""
    rng = np.random.default_rng(seed)
    left, right = rng.normal(size=(N, rank)), rng.normal(size=(N, rank))
    core = -np.eye(rank) + rng.normal(size=(rank, rank))
    return left @ core @ right.T / N


def update_matrix(name: str, jacobian: np.ndarray, lr_g: float, lr_d: float) -> np.ndarray:
    h = np.diag([lr_g] * SIZES[0] + [lr_d] * SIZES[1])
    one = np.eye(N)
    if name == "simgd":
        return one + h @ jacobian
    if name == "extragradient":
        return one + h @ jacobian @ (one + h @ jacobian)
    g, d = np.arange(N) < SIZES[0], np.arange(N) >= SIZES[0]
    d_step = one + np.diag(d) @ h @ jacobian  # D first, then G at the new D
    g_step = one + np.diag(g) @ h @ jacobian
    return g_step @ d_step


def radius_on_range(update: np.ndarray, rank: int) -> float:
    values = np.linalg.eigvals(update)
    kept = values[np.argsort(np.abs(values - 1.0))][N - rank :]  # drop the n − r ones at 1
    return float(np.abs(kept).max())


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    rank=st.integers(2, N - 2),
    name=st.sampled_from(["simgd", "extragradient", "altgd"]),
    lr_g=st.floats(0.01, 0.3),
    lr_d=st.floats(0.01, 0.3),
)
def test_the_radius_on_the_field_is_that_of_the_update_less_its_kernel(
    seed, rank, name, lr_g, lr_d
):
    jacobian = singular_jacobian(seed, rank)
    assert np.linalg.matrix_rank(jacobian) == rank
    matrix = torch.tensor(jacobian)
    scheme = parse_scheme({"name": name, "discriminator_first": True} if name == "altgd" else name)
    scheme = scheme.build(lr_g=lr_g, lr_d=lr_d)
    result = field_scheme_spectrum(scheme, {1.0: lambda u: matrix @ u}, SIZES, k=N)
    expected = radius_on_range(update_matrix(name, jacobian, lr_g, lr_d), rank)
    assert result.spectrum.converged
    assert result.spectral_radius == pytest.approx(expected, rel=1e-9)
    # All of the update's eigenvalues but the kernel's: ARPACK's largest would include 1.
    assert len(result.spectrum.eigenvalues) == rank


def test_schemes_whose_update_is_not_a_map_of_the_parameters_are_refused():
    matrix = torch.tensor(singular_jacobian(0, 6))
    optimistic = parse_scheme("optimistic").build(lr_g=0.1, lr_d=0.1)
    with pytest.raises(ValueError, match="own state"):
        field_scheme_spectrum(optimistic, {1.0: lambda u: matrix @ u}, SIZES)
