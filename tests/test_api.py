"""The public API (convergan.api) on players a user writes, against values derived by hand:
the Dirac-GAN's worked spectral radii and closed-form eigenvalues (DESIGN.md §2), plain loss
callables against the presets they spell out, and the verdict on a field norm that decays at
a known rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from convergan import api
from convergan.options import ConfigError


class Point(nn.Module):
    """The Dirac-GAN's generator, ``G(z) = θ``."""

    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, z):
        return self.theta.expand(z.shape[0], 1)


class Linear(nn.Module):
    """The Dirac-GAN's discriminator, ``D(x) = ψ·x``."""

    def __init__(self) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x):
        return (self.psi * x).sum(dim=1)


def dirac(method="r1", **params):
    zeros = torch.zeros(1, 1, dtype=torch.float64)
    return api.make_game(Point(), Linear(), method, real=zeros, latent=zeros, **params)


@pytest.mark.parametrize(
    "method, params, scheme, radius",
    [  # DESIGN.md §2's worked values at h = 0.5
        ("gan", {}, "simgd", 1.0308),
        ("gan", {}, "altgd", 1.0),
        ("gan", {}, "extragradient", 0.9703),
        ("r1", {"gamma": 1.0}, "simgd", 0.75),
        ("r1", {"gamma": 1.0}, "altgd", 0.8476),
    ],
)
def test_dirac_spectral_radii_are_the_worked_values(method, params, scheme, radius):
    record = api.spectral_radius(dirac(method, **params), 0.5, scheme=scheme, k=2, float64=True)
    assert record.spectral_radius == pytest.approx(radius, abs=1e-4)
    assert record.to_dict()["lr_g"] == record.to_dict()["lr_d"] == 0.5


def test_dirac_eigenvalues_are_the_closed_form():
    gamma, a = 0.5, 0.5  # R1: -γ/2 ± sqrt(γ²/4 - a²), a = f'(0) = 1/2
    spectrum = api.eigenvalues(dirac("r1", gamma=gamma), k=2, float64=True)
    root = complex(gamma**2 / 4 - a**2) ** 0.5
    expected = np.sort_complex(np.array([-gamma / 2 + root, -gamma / 2 - root]))
    np.testing.assert_allclose(np.sort_complex(spectrum.eigenvalues), expected, atol=1e-12)
    assert spectrum.to_dict()["n"] == 2


def small_players(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    D = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1), nn.Flatten(0)).double()
    return G, D


def batch(n=16):
    g = torch.Generator().manual_seed(5)
    return dict(
        real=torch.randn(n, 2, generator=g, dtype=torch.float64),
        latent=torch.randn(n, 3, generator=g, dtype=torch.float64),
    )


def test_plain_loss_callables_give_the_preset_s_field():
    G, D = small_players()

    def d_loss(d_real, d_fake):
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def g_loss(d_fake):
        return F.softplus(-d_fake).mean()

    plain = api.field_value(api.make_game(G, D, (d_loss, g_loss), **batch()))
    preset = api.field_value(api.make_game(G, D, "nsgan", **batch()))
    assert torch.allclose(plain.generator, preset.generator, rtol=1e-12, atol=0)
    assert torch.allclose(plain.discriminator, preset.discriminator, rtol=1e-12, atol=0)
    assert plain.norm == pytest.approx(math.hypot(preset.norm_g, preset.norm_d), rel=1e-12)

    # a generator loss reading D(x) too: the relativistic pairing loss, RpGAN
    def rp_d(d_real, d_fake):
        return F.softplus(-(d_real - d_fake)).mean()

    def rp_g(d_fake, d_real):
        return F.softplus(-(d_fake - d_real)).mean()

    plain = api.field_value(api.make_game(G, D, (rp_d, rp_g), **batch()))
    preset = api.field_value(api.make_game(G, D, {"loss": "rpgan"}, **batch()))
    assert torch.allclose(plain.generator, preset.generator, rtol=1e-12, atol=0)
    assert torch.allclose(plain.discriminator, preset.discriminator, rtol=1e-12, atol=0)


def test_the_field_is_minus_each_player_s_gradient():
    G, D = small_players()
    game = api.make_game(G, D, "r1", gamma=2.0, **batch())
    value = api.field_value(game)
    real = game.batch.real.clone().requires_grad_(True)
    d_real = D(real)
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    fake = G(game.batch.latent)
    d_loss = F.softplus(-d_real).mean() + F.softplus(D(fake)).mean() + grad.pow(2).sum(1).mean()
    g_loss = -F.softplus(D(fake)).mean()  # the saturating loss of the r1 preset
    v_g = torch.autograd.grad(g_loss, list(G.parameters()), retain_graph=True)
    v_d = torch.autograd.grad(d_loss, list(D.parameters()))
    assert torch.allclose(value.generator, -torch.cat([g.reshape(-1) for g in v_g]), atol=1e-12)
    assert torch.allclose(value.discriminator, -torch.cat([g.reshape(-1) for g in v_d]), atol=1e-12)
    r1 = float(grad.pow(2).sum(1).mean().detach())  # (γ/2)·E‖∇D‖² with γ = 2
    assert value.discriminator_terms["r1"] == pytest.approx(r1)


def test_states_from_modules_and_state_dicts():
    G, D = small_players()
    game = api.make_game(G, D, "r1", **batch())
    G2, D2 = small_players(seed=1)
    from_modules = game.state((G2, D2))
    from_dicts = game.state((G2.state_dict(), D2.state_dict()))
    for a, b, module in zip(from_modules, from_dicts, (G2, D2)):
        expected = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
        assert torch.equal(a, expected) and torch.equal(b, expected)
    with pytest.raises(ValueError, match="parameters"):
        game.state((torch.zeros(3), torch.zeros(3)))


def test_the_adapter_reads_one_logit_per_sample_from_any_shape():
    class PatchD(nn.Module):  # D(x, c) with an (n, 1, 2, 2) map of logits
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(4, 2, dtype=torch.float64))

        def forward(self, x, c):
            return (x @ self.weight.T * c).reshape(-1, 1, 2, 2)

    D = PatchD()
    adapted = api.adapt_discriminator(D)
    x, c = torch.randn(5, 2, dtype=torch.float64), torch.rand(5, 4, dtype=torch.float64)
    assert torch.allclose(adapted(x, labels=c), (x @ D.weight.T * c).mean(dim=1))
    assert [name for name, _ in adapted.named_parameters()] == ["module.weight"]
    assert next(adapted.parameters()) is D.weight  # the same tensor, not a copy


def test_methods_are_resolved_once_with_one_line_errors():
    assert api.resolve_method("r1", gamma=3.0).penalties[0].gamma == 3.0
    with pytest.raises(ConfigError, match="method"):
        api.resolve_method("r9")
    with pytest.raises(TypeError, match="no hyperparameters"):
        api.resolve_method(api.resolve_method("r1"), gamma=2.0)
    with pytest.raises(ValueError, match="learning rates"):
        api.spectral_radius(dirac())


def test_the_verdict_of_a_known_decay():
    rate = 0.97  # ‖v‖ = 0.97^t, with a small wobble
    rows = [
        {"step": t, "diagnostics/field_norm": rate**t * (1 + 0.01 * math.sin(t))}
        for t in range(10, 410, 10)
    ]
    record = api.verdict(rows)
    assert record.verdict == "converging"
    assert record.measured_rate_per_step == pytest.approx(rate, rel=1e-4)
    assert record.to_dict()["rules"] and record.to_dict()["trend"]["points"] == 21  # steps 200..400
    growing = [{**r, "diagnostics/field_norm": 1 / r["diagnostics/field_norm"]} for r in rows]
    assert api.verdict(growing).verdict == "diverging"
