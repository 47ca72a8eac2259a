"""Update-operator Jacobians against matrices composed by hand from the field Jacobian."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.analysis import analyze, field_jacobian, linearized_update_jacobian, update_jacobian
from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.schemes import AltGD, Extragradient, Lazy, Optimistic, SimGD, lazy

GAME = dirac_gan()
X = GAME.equilibrium()
I2 = torch.eye(2, dtype=torch.float64)
rate = st.floats(0.01, 1.5)
METHODS = ["gan", "r1", "consensus", "instance-noise"]


def jacobian_of(name, gamma=None):
    params = (
        {}
        if name in ("gan",)
        else ({"sigma": 1.3} if name == "instance-noise" else {"gamma": gamma or 0.7})
    )
    method = make_method(name, **params)
    field = game_field(GAME, method)
    return method, field, field_jacobian(field, X)


def player_step(jac, player, lr):
    """One gradient step of one player on the linear field: only that player's row moves."""
    m = I2.clone()
    m[player] += lr * jac[player]
    return m


@settings(max_examples=15, deadline=None)
@given(h=rate, name=st.sampled_from(METHODS))
def test_simgd(h, name):
    method, field, jac = jacobian_of(name)
    assert torch.allclose(update_jacobian(SimGD(lr=h), field, X), I2 + h * jac, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    hg=rate,
    hd=rate,
    g_steps=st.integers(1, 3),
    d_steps=st.integers(1, 4),
    name=st.sampled_from(METHODS),
)
def test_altgd_with_ttur(hg, hd, g_steps, d_steps, name):
    method, field, jac = jacobian_of(name)
    expected = torch.linalg.matrix_power(
        player_step(jac, 1, hd), d_steps
    ) @ torch.linalg.matrix_power(player_step(jac, 0, hg), g_steps)
    scheme = AltGD(lr_g=hg, lr_d=hd, g_steps=g_steps, d_steps=d_steps)
    assert torch.allclose(update_jacobian(scheme, field, X), expected, atol=1e-12)


def test_altgd_discriminator_first():
    _, field, jac = jacobian_of("r1")
    scheme = AltGD(lr=0.3, discriminator_first=True)
    expected = player_step(jac, 0, 0.3) @ player_step(jac, 1, 0.3)
    assert torch.allclose(update_jacobian(scheme, field, X), expected, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(hg=rate, hd=rate, name=st.sampled_from(METHODS))
def test_extragradient(hg, hd, name):
    _, field, jac = jacobian_of(name)
    H = torch.diag(torch.tensor([hg, hd], dtype=torch.float64))
    expected = I2 + H @ jac @ (I2 + H @ jac)
    assert torch.allclose(
        update_jacobian(Extragradient(lr_g=hg, lr_d=hd), field, X), expected, atol=1e-12
    )


@settings(max_examples=15, deadline=None)
@given(h=rate, name=st.sampled_from(METHODS))
def test_optimistic(h, name):
    _, field, jac = jacobian_of(name)
    # State (x_k, v_{k-1}): x_{k+1} = x_k + 2h J x_k − h v_{k−1};  v_k = J x_k.
    expected = torch.cat(
        [
            torch.cat([I2 + 2 * h * jac, -h * I2], 1),
            torch.cat([jac, torch.zeros(2, 2, dtype=torch.float64)], 1),
        ]
    )
    got = update_jacobian(Optimistic(lr=h), field, X)
    assert torch.allclose(got, expected, atol=1e-12)
    # The textbook state (x_k, x_{k−1}) gives the same spectral radius.
    textbook = torch.cat(
        [
            torch.cat([I2 + 2 * h * jac, -h * jac], 1),
            torch.cat([I2, torch.zeros(2, 2, dtype=torch.float64)], 1),
        ]
    )
    radius = lambda m: torch.linalg.eigvals(m).abs().max()  # noqa: E731
    assert radius(got) == pytest.approx(float(radius(textbook)), abs=1e-10)


@pytest.mark.parametrize(
    "inner", [SimGD(lr=0.4), AltGD(lr=0.4, d_steps=2), Extragradient(lr=0.4), Optimistic(lr=0.4)]
)
def test_lazy_with_k_one_is_the_plain_scheme(inner):
    _, field, _ = jacobian_of("r1", gamma=1.3)
    assert torch.allclose(
        update_jacobian(lazy(inner, 1), field, X), update_jacobian(inner, field, X), atol=1e-14
    )


@settings(max_examples=10, deadline=None)
@given(h=st.floats(0.01, 0.5), k=st.integers(2, 6), gamma=st.floats(0.1, 3.0))
def test_lazy_simgd_is_k_minus_one_plain_steps_then_one_with_gain_k(h, k, gamma):
    _, field, _ = jacobian_of("r1", gamma=gamma)
    unregularized = field_jacobian(field.with_regularization_gain(0.0), X)
    boosted = field_jacobian(field.with_regularization_gain(float(k)), X)
    expected = (I2 + h * boosted) @ torch.linalg.matrix_power(I2 + h * unregularized, k - 1)
    got = update_jacobian(Lazy(inner=SimGD(lr=h), every=k), field, X)
    assert torch.allclose(got, expected, atol=1e-12)
    # Regularization is linear in the gain for R1: J(k) = J(0) + k (J(1) − J(0)).
    assert torch.allclose(
        boosted, unregularized + k * (field_jacobian(field, X) - unregularized), atol=1e-12
    )


@pytest.mark.parametrize(
    "scheme",
    [
        SimGD(lr=0.3),
        AltGD(lr_g=0.2, lr_d=0.5, d_steps=3),
        Extragradient(lr=0.3),
        Optimistic(lr=0.3),
        lazy(AltGD(lr=0.2), 4),
    ],
)
@pytest.mark.parametrize("name", METHODS)
def test_linearized_route_equals_autodiff_route(scheme, name):
    _, field, _ = jacobian_of(name)
    jacobians = {
        g: field_jacobian(field.with_regularization_gain(g), X) for g in scheme.regularization_gains
    }
    linear = linearized_update_jacobian(scheme, jacobians, (1, 1))
    assert torch.allclose(linear, update_jacobian(scheme, field, X), atol=1e-12)


# Worked values of DESIGN.md §2 (paper convention, h = 0.5, AltGD = 1 G step then 1 D step).
@pytest.mark.parametrize(
    "name, scheme, expected",
    [
        ("gan", SimGD(lr=0.5), 1.0308),
        ("gan", AltGD(lr=0.5), 1.0),
        ("gan", Extragradient(lr=0.5), 0.9703),
        ("r1", SimGD(lr=0.5), 0.75),
        ("r1", AltGD(lr=0.5), 0.8476),
    ],
)
def test_worked_values(name, scheme, expected):
    params = {"gamma": 1.0} if name == "r1" else {}
    result = analyze(GAME, make_method(name, **params), scheme)
    assert result.spectral_radius == pytest.approx(expected, abs=5e-5)


def test_worked_values_by_hand():
    # |1 ± i h a| = sqrt(1 + 1/16) for SimGD on the unregularized GAN.
    result = analyze(GAME, make_method("gan"), SimGD(lr=0.5))
    assert result.spectral_radius == pytest.approx((1 + 1 / 16) ** 0.5, abs=1e-12)
    assert result.verdict == "diverges" and result.converges is False
    # AltGD: eigenvalues on the unit circle exactly for h a <= 2.
    alt = analyze(GAME, make_method("gan"), AltGD(lr=0.5))
    assert alt.verdict == "no linear convergence" and alt.converges is False
    assert alt.max_stable_lr_scale is None


def test_scheme_validation():
    with pytest.raises(ValueError, match="lr_g"):
        SimGD(lr=-0.1)
    assert SimGD(lr=0.0).lr_g == 0.0  # a learning-rate warm-up's first step (schedules)
    with pytest.raises(ValueError, match="d_steps"):
        AltGD(lr=0.1, d_steps=0)
    with pytest.raises(ValueError, match="every"):
        lazy(SimGD(lr=0.1), 0)
