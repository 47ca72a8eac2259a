"""The exact analysis' two differentiation routes (issue 14, item 5): ``analyze`` builds the
field on the eager route and differentiates it by reverse mode (plain ``torch.autograd``, no
first-call imports of ``torch.func``); stability maps differentiate the functional field with
``torch.func.jacfwd`` under ``vmap``. Both must give the same Jacobians, for every preset and
scheme, and the eager one must take partial derivatives where a player's new parameters depend
on the other's old ones (AltGD), checked against a closed form written here."""

from __future__ import annotations

import pytest
import torch

from convergan.analysis import analyze, field_jacobian, update_jacobian
from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.registry import METHODS
from convergan.schemes import AltGD, Extragradient, Optimistic, SimGD, lazy

GAME = dirac_gan()
SMOOTH_PRESETS = [name for name in METHODS.names() if name != "wgan-gp"]
SCHEMES = {
    "simgd": SimGD(lr=0.3),
    "altgd": AltGD(lr=0.4),
    "altgd-2g-3d": AltGD(lr=0.2, g_steps=2, d_steps=3),
    "altgd-d-first": AltGD(lr=0.4, discriminator_first=True),
    "extragradient": Extragradient(lr=0.3),
    "optimistic": Optimistic(lr=0.3),
    "lazy3-altgd": lazy(AltGD(lr=0.2), 3),
}


@pytest.mark.parametrize("name", SMOOTH_PRESETS)
def test_eager_and_functional_routes_give_the_same_jacobians(name):
    method, x = make_method(name), GAME.equilibrium()
    functional = game_field(GAME, method, route="functional")
    eager = game_field(GAME, method, route="eager")
    want = field_jacobian(functional, x)
    assert torch.allclose(field_jacobian(eager, x), want, rtol=0, atol=1e-12)
    assert want.abs().max() > 0.1  # not a vacuous comparison of zeros
    for label, scheme in SCHEMES.items():
        want = update_jacobian(scheme, functional, x)
        got = update_jacobian(scheme, eager, x)
        assert got.shape == want.shape, label
        assert torch.allclose(got, want, rtol=0, atol=1e-12), (label, got, want)


@pytest.mark.parametrize("h", [0.5, 1.3])
def test_eager_altgd_takes_partial_derivatives(h):
    # Unregularized Dirac-GAN: v = (ψ/2, −θ/2) at (0, 0) (sigmoid'(0) = 1/2). AltGD moves G
    # first: θ' = θ + hψ/2, then ψ' = ψ − hθ'/2, so F′ = [[1, h/2], [−h/2, 1 − h²/4]] (by hand).
    # A total derivative of D's loss in ψ through θ'(ψ) would subtract h²/4 twice.
    x = GAME.equilibrium()
    got = update_jacobian(AltGD(lr=h), game_field(GAME, make_method("gan"), route="eager"), x)
    want = torch.tensor([[1.0, h / 2], [-h / 2, 1 - h * h / 4]], dtype=torch.float64)
    assert torch.allclose(got, want, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("name", "scheme"),
    [("r1", AltGD(lr=0.5, d_steps=4)), ("consensus", SimGD(lr=0.5)), ("wgan", Optimistic(lr=0.2))],
)
def test_analyze_reports_the_same_on_both_routes(name, scheme):
    eager = analyze(GAME, make_method(name), scheme)  # the default route
    functional = analyze(GAME, make_method(name), scheme, route="functional")
    assert eager.verdict == functional.verdict
    assert eager.spectral_radius == pytest.approx(functional.spectral_radius, abs=1e-12)
    assert len(eager.stable_lr_intervals) == len(functional.stable_lr_intervals) >= 1
    for (a, b), (c, d) in zip(eager.stable_lr_intervals, functional.stable_lr_intervals):
        assert a == pytest.approx(c, rel=1e-9) and b == pytest.approx(d, rel=1e-9)


def test_wgan_gp_is_not_regular_on_either_route():
    method = make_method("wgan-gp")
    for route in ("eager", "functional"):
        result = analyze(GAME, method, SimGD(lr=0.1), fallback_steps=5, route=route)
        assert not result.regular and "not differentiable" in result.note, route
