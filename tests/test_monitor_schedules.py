"""The training-loop monitor follows a method's scheduled hyperparameters: each look evaluates the
field (and the local picture) with the values in force at its step and logs them under the
trainer's ``schedule/<dotted key>`` names.

The reference field is written here with plain ``torch.autograd`` (non-saturating GAN + R1 by
hand); the noise, target and spectrum checks compare with a monitor given the constant.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from convergan.api import Monitor
from convergan.methods.losses import NonSaturatingLoss
from convergan.methods.method import Method
from convergan.methods.penalties import r1
from convergan.options import ConfigError
from convergan.training.metrics_log import metrics_by_step

# γ = 10 up to the 0-based step 200, then 1: a hold of 200 steps, then the end value.
STEP_DOWN = {"schedule": "linear", "start": 10.0, "end": 1.0, "steps": 200, "hold_steps": 200}


def step_down(step: int) -> float:
    """STEP_DOWN by hand."""
    return 10.0 if step <= 200 else 1.0


def players():
    torch.manual_seed(5)
    G = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))
    D = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1))
    return G, D


def evaluation_game(n: int = 8):
    draws = torch.Generator().manual_seed(7)
    return {
        "real": torch.randn(n, 2, generator=draws),
        "latent": torch.randn(n, 3, generator=draws),
    }


def reference_field_norm(G, D, real, latent, gamma: float) -> float:
    """‖v‖ of the non-saturating GAN + R1 with a constant γ, by hand: v = (−∇_θ L_G, −∇_ψ L_D),
    L_D = E softplus(−D(x)) + E softplus(D(G(z))) + (γ/2) E‖∇_x D(x)‖²,
    L_G = E softplus(−D(G(z)))."""
    x = real.clone().requires_grad_(True)
    d_real = D(x)
    (grad_x,) = torch.autograd.grad(d_real.sum(), x, create_graph=True)
    d_loss = (
        F.softplus(-d_real).mean()
        + F.softplus(D(G(latent))).mean()
        + 0.5 * gamma * grad_x.pow(2).sum(dim=1).mean()
    )
    g_loss = F.softplus(-D(G(latent))).mean()
    v_d = torch.autograd.grad(d_loss, list(D.parameters()))
    v_g = torch.autograd.grad(g_loss, list(G.parameters()))
    return float(torch.cat([t.reshape(-1) for t in (*v_g, *v_d)]).norm())


def looks(monitor: Monitor, steps=(200, 300)) -> dict[int, dict[str, float]]:
    with monitor:
        return {step: monitor.look(step) for step in steps}


def test_a_scheduled_gamma_is_read_at_each_look(tmp_path):
    G, D = players()
    game = evaluation_game()
    monitor = Monitor(
        tmp_path, G, D, "nsgan-r1", gamma=STEP_DOWN, games=1, every=100, tensorboard=False,
        **game,
    )  # fmt: skip
    scalars = looks(monitor)
    for step, logged in scalars.items():
        expected = reference_field_norm(G, D, game["real"], game["latent"], step_down(step))
        assert logged["diagnostics/field_norm"] == pytest.approx(expected, rel=1e-5), step
        assert logged["schedule/method.gamma"] == step_down(step)
    # γ changed the field: the two looks (at the same parameters) differ, by far
    assert scalars[200]["diagnostics/field_norm"] > 2 * scalars[300]["diagnostics/field_norm"]
    rows = metrics_by_step(tmp_path / "metrics.jsonl")
    assert [(r["step"], r["schedule/method.gamma"]) for r in rows] == [(200, 10.0), (300, 1.0)]
    record = json.loads((tmp_path / "monitor.json").read_text(encoding="utf-8"))
    assert record["schedules"] == {"method.gamma": "linear 10->1 over 200 steps, hold 200"}


def test_a_method_holding_a_function_of_the_step_is_read_at_each_look(tmp_path):
    G, D = players()
    game = evaluation_game()
    method = Method(NonSaturatingLoss(), penalties=(r1(gamma=step_down),))
    scalars = looks(Monitor(tmp_path, G, D, method, games=1, tensorboard=False, **game))
    for step, logged in scalars.items():
        expected = reference_field_norm(G, D, game["real"], game["latent"], step_down(step))
        assert logged["diagnostics/field_norm"] == pytest.approx(expected, rel=1e-5), step
        assert logged["schedule/method.penalties[0].gamma"] == step_down(step)


def test_constant_hyperparameters_log_no_schedule(tmp_path):
    G, D = players()
    scalars = looks(
        Monitor(tmp_path, G, D, "nsgan-r1", gamma=3.0, tensorboard=False, **evaluation_game())
    )
    assert not [key for row in scalars.values() for key in row if key.startswith("schedule/")]


def constant_twin(tmp_path, name: str, method, steps, **params) -> dict[int, dict[str, float]]:
    G, D = players()
    monitor = Monitor(
        tmp_path / name, G, D, method, tensorboard=False, **evaluation_game(), **params
    )
    return looks(monitor, steps)


def test_noise_sigma_and_a_penalty_target_follow_their_schedules(tmp_path):
    """An annealed σ (in samples, with the loop's samples per step) and a scheduled WGAN-GP
    target: each look equals the look of a monitor given the value in force as a constant."""
    sigma = {"schedule": "linear", "start": 0.5, "end": 0.0, "samples": 64}  # .5, .375, .25, ...
    scheduled = constant_twin(
        tmp_path, "noise", {"name": "instance-noise", "sigma": sigma}, (1, 2, 5),
        samples_per_step=16,
    )  # fmt: skip
    for step, value in ((1, 0.375), (2, 0.25), (5, 0.0)):
        fixed = constant_twin(
            tmp_path, f"noise-{step}", {"name": "instance-noise", "sigma": value}, (step,)
        )
        assert scheduled[step]["schedule/method.sigma"] == value
        assert scheduled[step]["diagnostics/field_norm"] == fixed[step]["diagnostics/field_norm"]
    # the same players at each look: σ alone moved the field
    assert scheduled[1]["diagnostics/field_norm"] != scheduled[2]["diagnostics/field_norm"]

    def wgan_gp(target):
        return {"loss": "wgan", "penalties": [{"name": "wgan-gp", "gamma": 10, "target": target}]}

    target = {"schedule": "linear", "start": 1.0, "end": 0.5, "steps": 4}  # 1, .875, .75, ...
    scheduled = constant_twin(tmp_path, "gp", wgan_gp(target), (2, 9))
    for step, value in ((2, 0.75), (9, 0.5)):
        fixed = constant_twin(tmp_path, f"gp-{step}", wgan_gp(value), (step,))
        assert scheduled[step]["schedule/method.penalties[0].target"] == value
        assert scheduled[step]["diagnostics/field_norm"] == fixed[step]["diagnostics/field_norm"]
    assert scheduled[2]["diagnostics/field_norm"] != scheduled[9]["diagnostics/field_norm"]


def test_the_local_picture_is_taken_at_the_look_s_gamma(tmp_path):
    local = dict(spectrum_every=100, lr_g=0.05, lr_d=0.05, scheme="simgd", k=2, games=1)
    scheduled = constant_twin(
        tmp_path, "scheduled", "nsgan-r1", (200, 300), gamma=STEP_DOWN, **local
    )
    for step in (200, 300):
        fixed = constant_twin(
            tmp_path, f"fixed-{step}", "nsgan-r1", (step,), gamma=step_down(step), **local
        )
        for key in ("spectrum/max_real", "spectrum/max_abs", "spectrum/update_radius"):
            assert scheduled[step][key] == pytest.approx(fixed[step][key], rel=1e-6), (step, key)
    assert scheduled[200]["spectrum/max_abs"] != pytest.approx(scheduled[300]["spectrum/max_abs"])


@pytest.mark.parametrize(
    ("gamma", "extra", "message"),
    [
        (
            {"schedule": "linear", "start": 10, "end": 1},
            {},
            "^method.gamma: a schedule takes its length",
        ),
        ({"schedule": "step", "start": 10, "end": 1, "steps": 5}, {}, "^method.gamma.schedule: "),
        ({"schedule": "linear", "start": -1, "end": 1, "steps": 5}, {}, "^method.gamma.start: "),
        ({"schedule": "linear", "start": 10, "end": 1, "samples": 64}, {}, "pass samples_per_step"),
        (lambda step: 10.0, {}, "^method.gamma: a function of the step goes in a Method"),
        (
            {"schedule": "linear", "start": 10, "end": 1, "samples": 64},
            {"samples_per_step": 0},
            "^samples_per_step: ",
        ),
    ],
)
def test_a_bad_schedule_is_one_line_naming_its_key(tmp_path, gamma, extra, message):
    G, D = players()
    with pytest.raises(ConfigError, match=message) as error:
        Monitor(tmp_path, G, D, "r1", gamma=gamma, **extra, **evaluation_game())
    assert "\n" not in str(error.value)
    assert not (tmp_path / "metrics.jsonl").exists()
