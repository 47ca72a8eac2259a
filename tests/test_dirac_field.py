"""The autodiff field of every smooth method equals a field derived by hand."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods import make_method

GAME = dirac_gan()
coordinate = st.floats(-2.0, 2.0)


def sigmoid(t):
    return 1.0 / (1.0 + math.exp(-t))


def autodiff_field(name, theta, psi, **params):
    x = (torch.tensor([theta], dtype=torch.float64), torch.tensor([psi], dtype=torch.float64))
    v = game_field(GAME, make_method(name, **params))(x)
    return float(v[0]), float(v[1])


# Hand derivations, convention "D high on real": L_D = softplus(-D(0)) + softplus(D(θ)) = log 2
# + softplus(ψθ) and L_G = -softplus(ψθ) (saturating) or softplus(-ψθ) (non-saturating).
def hand_gan(theta, psi):
    s = sigmoid(psi * theta)
    return psi * s, -theta * s


def hand_nsgan(theta, psi):
    return psi * sigmoid(-psi * theta), -theta * sigmoid(psi * theta)


def hand_wgan(theta, psi):
    return psi, -theta


def hand_r1(theta, psi, gamma):  # ∇_x D = ψ everywhere, so R1 = R2 = (γ/2)ψ²
    vt, vp = hand_gan(theta, psi)
    return vt, vp - gamma * psi


def hand_consensus(theta, psi, gamma):
    s = sigmoid(psi * theta)
    ds = s * (1 - s)
    v = torch.tensor([psi * s, -theta * s], dtype=torch.float64)
    jac = torch.tensor(
        [[psi**2 * ds, s + psi * theta * ds], [-s - psi * theta * ds, -(theta**2) * ds]],
        dtype=torch.float64,
    )
    w = v - gamma * jac.T @ v
    return float(w[0]), float(w[1])


def hand_instance_noise(theta, psi, sigma):
    """Expectations over ε ~ N(0,1) by adaptive quadrature (scipy), independent of the
    Gauss–Hermite rule the library uses."""

    def expect(f):
        density = lambda e: math.exp(-0.5 * e * e) / math.sqrt(2 * math.pi)  # noqa: E731
        return integrate.quad(lambda e: f(e) * density(e), -12, 12, epsabs=1e-13)[0]

    v_theta = expect(lambda e: psi * sigmoid(psi * (theta + sigma * e)))
    real = expect(lambda e: sigma * e * sigmoid(-psi * sigma * e))
    fake = expect(lambda e: (theta + sigma * e) * sigmoid(psi * (theta + sigma * e)))
    return v_theta, real - fake


@settings(max_examples=30, deadline=None)
@given(theta=coordinate, psi=coordinate)
def test_unregularized_fields(theta, psi):
    assert autodiff_field("gan", theta, psi) == pytest.approx(hand_gan(theta, psi), abs=1e-12)
    assert autodiff_field("nsgan", theta, psi) == pytest.approx(hand_nsgan(theta, psi), abs=1e-12)
    assert autodiff_field("wgan", theta, psi, clip=10.0) == pytest.approx(
        hand_wgan(theta, psi), abs=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(theta=coordinate, psi=coordinate, gamma=st.floats(0.0, 5.0))
def test_gradient_penalty_fields(theta, psi, gamma):
    expected = hand_r1(theta, psi, gamma)
    for name in ("r1", "r2"):
        assert autodiff_field(name, theta, psi, gamma=gamma) == pytest.approx(expected, abs=1e-12)
    vt, vp = autodiff_field("nsgan-r1", theta, psi, gamma=gamma)
    assert vt == pytest.approx(hand_nsgan(theta, psi)[0], abs=1e-12)
    assert vp == pytest.approx(expected[1], abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(theta=coordinate, psi=coordinate, gamma=st.floats(0.0, 5.0))
def test_consensus_field(theta, psi, gamma):
    assert autodiff_field("consensus", theta, psi, gamma=gamma) == pytest.approx(
        hand_consensus(theta, psi, gamma), abs=1e-12
    )


@settings(max_examples=10, deadline=None)
@given(theta=coordinate, psi=coordinate, sigma=st.floats(0.0, 1.5))
def test_instance_noise_field(theta, psi, sigma):
    assert autodiff_field("instance-noise", theta, psi, sigma=sigma) == pytest.approx(
        hand_instance_noise(theta, psi, sigma), abs=1e-8
    )


def test_wgan_gp_field_away_from_zero():
    # (γ/2)(|ψ| − g₀)² adds −γ(|ψ| − g₀)·sign(ψ) to v_ψ.
    theta, psi, gamma, target = 0.3, -0.7, 2.0, 1.0
    expected = (psi, -theta - gamma * (abs(psi) - target) * math.copysign(1, psi))
    got = autodiff_field("wgan-gp", theta, psi, gamma=gamma, target=target)
    assert got == pytest.approx(expected, abs=1e-12)
