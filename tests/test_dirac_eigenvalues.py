"""Numeric Jacobian eigenvalues of the Dirac-GAN against the paper's closed forms."""

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from convergan import theory
from convergan.analysis import analyze, field_jacobian, is_regular_equilibrium
from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.schemes import SimGD

GAME = dirac_gan()


def numeric_jacobian(name, **params):
    return field_jacobian(game_field(GAME, make_method(name, **params)), GAME.equilibrium())


def assert_eigenvalues_match(jacobian, expected):
    """Eigenvalues to 1e-9 where they are well conditioned; trace and determinant (the
    characteristic polynomial) to 1e-12 always, which also covers near-double eigenvalues."""
    trace = sum(expected).real
    det = (expected[0] * expected[1]).real
    assert float(torch.trace(jacobian)) == pytest.approx(trace, abs=1e-12)
    assert float(torch.linalg.det(jacobian)) == pytest.approx(det, abs=1e-12)
    if abs(expected[0] - expected[1]) < 1e-4:
        return  # a near-defective pair is only determined to ~sqrt(eps); trace/det suffice
    numeric = sorted(torch.linalg.eigvals(jacobian).tolist(), key=lambda z: (z.imag, z.real))
    for got, want in zip(numeric, sorted(expected, key=lambda z: (z.imag, z.real))):
        assert abs(got - want) < 1e-9, (numeric, expected)


@pytest.mark.parametrize("name", ["gan", "nsgan"])
def test_unregularized_eigenvalues_are_imaginary(name):
    assert_eigenvalues_match(numeric_jacobian(name), theory.jacobian_eigenvalues(name))


def test_wgan_eigenvalues():
    assert_eigenvalues_match(numeric_jacobian("wgan", clip=1.0), [1j, -1j])


@settings(max_examples=25, deadline=None)
@given(gamma=st.floats(0.0, 5.0), name=st.sampled_from(["r1", "r2", "nsgan-r1"]))
def test_gradient_penalty_eigenvalues(gamma, name):
    expected = theory.jacobian_eigenvalues(name, gamma=gamma)
    assert_eigenvalues_match(numeric_jacobian(name, gamma=gamma), expected)


@settings(max_examples=25, deadline=None)
@given(gamma=st.floats(0.0, 5.0))
def test_consensus_eigenvalues(gamma):
    expected = theory.jacobian_eigenvalues("consensus", gamma=gamma)
    assert_eigenvalues_match(numeric_jacobian("consensus", gamma=gamma), expected)


@settings(max_examples=25, deadline=None)
@given(sigma=st.floats(0.0, 3.0))
@example(sigma=4.8e-160)  # σ²/2 subnormal: LAPACK was off by 6.5e-6 (issue 20, item 4)
@example(sigma=2e-161)
@example(sigma=1.4e-154)
def test_instance_noise_eigenvalues(sigma):
    expected = theory.jacobian_eigenvalues("instance-noise", sigma=sigma)
    assert_eigenvalues_match(numeric_jacobian("instance-noise", sigma=sigma), expected)


def test_eigenvalues_of_matrices_with_subnormal_entries():
    # [[0, 1/2], [-1/2, -t]] has eigenvalues -t/2 ± i·sqrt(1/4 - t²/4): ±i/2 to float64 for
    # every t below 1e-150, subnormal ones included (LAPACK alone gave 0.5000065i at 1.15e-319,
    # 0.49197i at 1.6e-322).
    from convergan.analysis.operators import eigenvalues

    for t in [1.15275e-319, 1.6e-322, 5e-324, 2.2e-308, 1e-310, 1e-200]:
        matrix = torch.tensor([[0.0, 0.5], [-0.5, -t]], dtype=torch.float64)
        values = sorted(eigenvalues(matrix).tolist(), key=lambda z: z.imag)
        assert values[0] == pytest.approx(-0.5j, abs=1e-15)
        assert values[1] == pytest.approx(0.5j, abs=1e-15)


def test_hand_derived_closed_forms():
    # Independent of theory.py: values worked out by hand from the formulas in DESIGN.md.
    assert theory.jacobian_eigenvalues("r1", gamma=1.0) == [-0.5, -0.5]
    lam = theory.jacobian_eigenvalues("consensus", gamma=2.0)
    assert lam[0] == pytest.approx(-0.5 + 0.5j)
    # σ = 2: bσ² = −1 and b²σ⁴ − a² = 1 − 1/4.
    lam = sorted(theory.jacobian_eigenvalues("instance-noise", sigma=2.0), key=lambda z: z.real)
    assert lam[0] == pytest.approx(-1 - 0.75**0.5) and lam[1] == pytest.approx(-1 + 0.75**0.5)


@settings(max_examples=15, deadline=None)
@given(sigma=st.floats(0.05, 3.0))
def test_instance_noise_matches_r1_with_gamma_sigma_squared_over_two(sigma):
    """The author's claim 'instance noise σ ≈ R1 with γ = σ²/2' holds exactly on the Dirac-GAN."""
    noise = numeric_jacobian("instance-noise", sigma=sigma)
    gamma = theory.instance_noise_equivalent_gamma(sigma)
    penalty = numeric_jacobian("r1", gamma=gamma)
    assert torch.allclose(torch.trace(noise), torch.trace(penalty), atol=1e-12)
    assert torch.allclose(torch.linalg.det(noise), torch.linalg.det(penalty), atol=1e-12)


def test_wgan_gp_has_no_regular_equilibrium():
    field = game_field(GAME, make_method("wgan-gp", gamma=1.0, target=1.0))
    regular, why = is_regular_equilibrium(field, GAME.equilibrium())
    assert not regular and "differentiable" in why
    result = analyze(GAME, make_method("wgan-gp"), SimGD(lr=0.1))
    assert result.converges is None and result.spectral_radius is None
    assert "no regular equilibrium" in result.note


@pytest.mark.parametrize("name", ["gan", "r1", "consensus", "instance-noise"])
def test_smooth_methods_have_a_regular_equilibrium(name):
    regular, _ = is_regular_equilibrium(game_field(GAME, make_method(name)), GAME.equilibrium())
    assert regular


@settings(max_examples=20, deadline=None)
@given(gamma=st.floats(0.05, 4.0), name=st.sampled_from(["r1", "consensus"]))
def test_max_stable_lr_of_simgd_matches_closed_form(gamma, name):
    expected = theory.simgd_max_stable_lr(theory.jacobian_eigenvalues(name, gamma=gamma))
    result = analyze(GAME, make_method(name, gamma=gamma), SimGD(lr=1.0))
    assert result.max_stable_lr_scale == pytest.approx(expected, rel=1e-6)


def test_continuous_time_stability_flags():
    assert analyze(GAME, make_method("r1"), SimGD(lr=0.1)).continuous_time_stable is True
    assert analyze(GAME, make_method("gan"), SimGD(lr=0.1)).continuous_time_stable is False


@settings(max_examples=20, deadline=None)
@given(gamma=st.floats(0.05, 4.0))
def test_max_stable_lr_of_altgd_matches_jury_criterion(gamma):
    """AltGD (G then D) with R1 linearises to M = [[1, ha], [−ha, 1 − h²a² − hγ]]
    (derived by hand). Jury's criterion for a 2x2 map, |det| < 1 and |tr| < 1 + det, gives
    h < 2/γ and h²a² + 2hγ − 4 < 0, i.e. h < (−γ + √(γ² + 4a²))/a²."""
    from convergan.schemes import AltGD

    a = 0.5
    expected = min(2 / gamma, (-gamma + (gamma**2 + 4 * a**2) ** 0.5) / a**2)
    result = analyze(GAME, make_method("r1", gamma=gamma), AltGD(lr=1.0))
    assert result.max_stable_lr_scale == pytest.approx(expected, rel=1e-6)
