"""Trajectory verdicts on the Dirac-GAN (Lemmas 2.4 and 2.5, Theorem 4.1) and batching."""

import math

import pytest
import torch

from convergan.analysis import simulate, trajectory_verdict
from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.schemes import AltGD, SimGD

GAME = dirac_gan()
START = torch.tensor([[0.5, 0.5]])


def verdict(name, scheme, steps, **params):
    return simulate(GAME, make_method(name, **params), scheme, START, steps).verdicts[0]


def test_unregularized_simgd_diverges():  # Lemma 2.4
    assert verdict("gan", SimGD(lr=0.2), 300) == "diverges"


def test_unregularized_altgd_oscillates():  # Lemma 2.5: iterates stay on an orbit
    result = simulate(GAME, make_method("gan"), AltGD(lr=0.2), START, 400)
    assert result.verdicts[0] == "oscillates"
    distances = torch.linalg.vector_norm(result.path[0], dim=-1)
    assert distances.min() > 0.4 * distances[0]  # never approaches the equilibrium


@pytest.mark.parametrize(
    "name, params",
    [
        ("r1", {"gamma": 1.0}),
        ("r2", {"gamma": 0.5}),
        ("consensus", {"gamma": 1.0}),
        ("instance-noise", {"sigma": 1.0}),
    ],
)
@pytest.mark.parametrize("scheme", [SimGD(lr=0.1), AltGD(lr=0.1)])
def test_regularized_methods_converge_for_small_steps(name, params, scheme):
    # 400 steps: the slowest (|1 + 0.1λ| ≈ 0.976 a step) ends near 1e-4 of its start's distance
    assert verdict(name, scheme, 400, **params) == "converges"


@pytest.mark.parametrize("name", ["wgan", "wgan-gp"])
def test_wgan_variants_do_not_converge(name):
    for scheme in (SimGD(lr=0.1), AltGD(lr=0.1)):
        assert verdict(name, scheme, 300) != "converges"


def test_verdict_thresholds():
    assert trajectory_verdict(1.0, 1e-4) == "converges"
    assert trajectory_verdict(1.0, 0.5) == "oscillates"
    assert trajectory_verdict(1.0, 2.0) == "diverges"
    assert trajectory_verdict(1.0, math.inf) == "diverges"
    assert trajectory_verdict(1.0, math.nan) == "diverges"


def test_batched_trajectories_equal_one_at_a_time():
    starts = torch.tensor([[0.5, 0.5], [-1.0, 0.3], [0.2, -0.8]], dtype=torch.float64)
    gammas = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
    lr_factors = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    batched = simulate(
        GAME,
        lambda gamma: make_method("r1", gamma=gamma),
        AltGD(lr=0.1),
        starts,
        40,
        method_params={"gamma": gammas},
        lr_factors=lr_factors,
    )
    for i in range(3):
        # A plain loop with an explicit Euler-style update, independent of simulate().
        field = game_field(GAME, make_method("r1", gamma=float(gammas[i])))
        h = 0.1 * float(lr_factors[i])
        theta, psi = starts[i, :1].clone(), starts[i, 1:].clone()
        for _ in range(40):
            theta = theta + h * field((theta, psi))[0]
            psi = psi + h * field((theta, psi))[1]
        assert torch.allclose(batched.path[i, -1], torch.cat([theta, psi]), atol=1e-12)


def test_simulate_rejects_bad_steps():
    with pytest.raises(ValueError, match="steps"):
        simulate(GAME, make_method("gan"), SimGD(lr=0.1), START, 0)
