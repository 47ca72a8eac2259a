"""Path-angle on the Dirac-GAN, whose field and losses are known in closed form.

With ``G_θ = θ``, ``D_ψ(x) = ψx``, real data at 0 and the saturating loss (our sign
convention, D high on real data), derived by hand:

    L_D = log 2 + softplus(ψθ) (+ (γ/2)ψ² with R1),   L_G = −softplus(ψθ),
    v_θ = −∂L_G/∂θ = σ(ψθ)·ψ,                        v_ψ = −∂L_D/∂ψ = −σ(ψθ)·θ (− γψ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from convergan import dirac_gan
from convergan.analysis.path_angle import path_statistics
from convergan.field import game_field
from convergan.methods import make_method


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def hand_path(start, end, alphas, gamma):
    rows = []
    d = (end[0] - start[0], end[1] - start[1])
    for a in alphas:
        theta, psi = start[0] + a * d[0], start[1] + a * d[1]
        s = sigmoid(psi * theta)
        v = (s * psi, -s * theta - gamma * psi)
        norm_v = math.hypot(*v)
        cos = (v[0] * d[0] + v[1] * d[1]) / (norm_v * math.hypot(*d))
        cos_g = v[0] * d[0] / (abs(v[0]) * abs(d[0]))
        cos_d = v[1] * d[1] / (abs(v[1]) * abs(d[1]))
        loss_g = -softplus(psi * theta)
        loss_d = math.log(2) + softplus(psi * theta) + 0.5 * gamma * psi**2
        rows.append((cos, cos_g, cos_d, norm_v, loss_g, loss_d))
    return np.array(rows).T


@pytest.mark.parametrize("name,gamma", [("gan", 0.0), ("r1", 0.7)])
def test_path_angle_matches_the_closed_form(name, gamma):
    game = dirac_gan()
    method = make_method(name, gamma=gamma) if gamma else make_method(name)
    field = game_field(game, method)
    start, end = (1.2, -0.5), (-0.3, 0.8)
    x0 = tuple(torch.tensor([c], dtype=torch.float64) for c in start)
    x1 = tuple(torch.tensor([c], dtype=torch.float64) for c in end)
    stats = path_statistics(field, x0, x1, points=13)
    np.testing.assert_allclose(stats.alphas, np.linspace(-0.1, 1.1, 13))
    expected = hand_path(start, end, stats.alphas, gamma)
    got = np.stack(
        [
            stats.cosine,
            stats.cosine_generator,
            stats.cosine_discriminator,
            stats.field_norm,
            stats.generator_loss,
            stats.discriminator_loss,
        ]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert stats.distance == pytest.approx(math.hypot(1.5, 1.3))


def test_rotation_around_the_equilibrium_has_path_angle_zero():
    """From (1, 0) to the equilibrium (0, 0) of the unregularized game the field is
    (0, −(1 − α)/2), orthogonal to the path (−1, 0): the cosine is exactly 0, the signature of
    a purely rotational game in Berard et al., and undefined (nan) at α = 1 where v = 0."""
    game = dirac_gan()
    field = game_field(game, make_method("gan"))
    x0 = (torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64))
    x1 = game.equilibrium()
    stats = path_statistics(field, x0, x1, alphas=[-0.1, 0.0, 0.5, 1.0, 1.1])
    np.testing.assert_allclose(stats.cosine[[0, 1, 2, 4]], 0.0, atol=1e-15)
    np.testing.assert_allclose(stats.field_norm, [0.55, 0.5, 0.25, 0.0, 0.05], atol=1e-15)
    assert math.isnan(stats.cosine[3])
    assert stats.to_dict()["cosine"][3] is None  # JSON has no nan


def test_identical_points_are_refused():
    game = dirac_gan()
    field = game_field(game, make_method("gan"))
    x = game.equilibrium()
    with pytest.raises(ValueError, match="same"):
        path_statistics(field, x, x)
    with pytest.raises(ValueError, match="points"):
        path_statistics(field, x, (x[0] + 1, x[1]), points=1)
