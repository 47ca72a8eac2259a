"""The verdict of a run, checked where the truth is known (issue 14).

The Dirac-GAN trained with plain gradient steps is the analysed scheme itself, so the rate at
which its field norm shrinks or grows must be the spectral radius `convergan dirac analyze`
computes, and the verdicts must agree. The diagnostics' field norm is checked against the
losses' gradients written here with plain autograd, and `convergan verdict` runs on a tiny 2D
run in every output format.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_helpers import TINY_CIRCLE

from convergan.cli.main import main
from convergan.config import load_config
from convergan.problems import make_problem
from convergan.runs import train
from convergan.runs.verdict import run_verdict
from convergan.training.directory import RunDirectory

ROOT = Path(__file__).resolve().parents[1]
DIRAC = ROOT / "configs" / "dirac.yaml"
CIRCLE = ROOT / "configs" / "toy2d" / "circle.yaml"


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def dirac_analyze(capsys, method: list[str], scheme: str, lr: float) -> dict:
    """`convergan dirac analyze --json` for the method, the scheme in the trainer's order
    (discriminator first for altgd) and the learning rate."""
    order = ["scheme.discriminator_first=true"] if scheme == "altgd" else []
    code, out, err = cli(
        capsys, "dirac", "analyze", *method, "--scheme", scheme, "--lr", lr, "--json", *order
    )
    assert code == 0, err
    return json.loads(out)


def train_dirac(tmp_path, name: str, overrides: list[str]) -> Path:
    run_dir = tmp_path / name
    train(load_config(DIRAC, [f"out_dir={run_dir}", "train.sample_every=0", *overrides]))
    return run_dir


AGREE = {"converges": "converging", "diverges": "diverging"}

# R1 draws: gamma in the underdamped range away from critical damping (gamma = 1, where the
# Jacobian is a Jordan block and the norm decays like t·rho^t, not rho^t).
RNG = np.random.default_rng(14)
R1_CASES = [
    ("dirac", "simgd", *RNG.uniform((0.3, 0.1), (0.7, 0.5))),
    ("dirac", "altgd", *RNG.uniform((0.3, 0.1), (0.7, 0.5))),
    ("dirac-3d", "simgd", *RNG.uniform((0.3, 0.1), (0.7, 0.5))),
    ("dirac-3d", "altgd", *RNG.uniform((0.3, 0.1), (0.7, 0.5))),
]
UNREGULARIZED_CASES = [
    (problem, scheme, RNG.uniform(0.1, 0.5))
    for problem in ("dirac", "dirac-3d")
    for scheme in ("simgd", "altgd")
]


@pytest.mark.parametrize("problem, scheme, gamma, lr", R1_CASES)
@pytest.mark.slow  # trains the Dirac-GAN to convergence, 4 cases
def test_r1_converges_at_the_exact_spectral_radius(tmp_path, capsys, problem, scheme, gamma, lr):
    exact = dirac_analyze(capsys, ["--method", "r1", "--gamma", gamma], scheme, lr)
    assert exact["verdict"] == "converges"
    rho = exact["rate_per_step"]
    # Long enough for ‖v‖ to fall by e^300 (float64 has room down to e^-700), so the trend,
    # fitted on the second half, spans many turns of the rotation that modulates ‖v‖.
    steps = int(min(4000, math.ceil(300 / -math.log(rho))))
    every = max(1, steps // 200)
    run_dir = train_dirac(
        tmp_path,
        "r1",
        [
            f"data.name={problem}",
            f"method.gamma={gamma}",
            f"scheme.name={scheme}",
            f"optim.g.lr={lr}",
            f"optim.d.lr={lr}",
            f"train.steps={steps}",
            f"train.log_every={every}",
            f"train.checkpoint_every={steps // 2}",
            f"eval.diagnostics.every={every}",
        ],
    )
    record = run_verdict(run_dir)
    assert record["measured_rate_per_step"] == pytest.approx(rho, rel=1e-3)
    assert record["verdict"] == "converging", record["reason"]
    assert record["dirac_verdict"] == "converges"
    assert record["dirac_rate_per_step"] == pytest.approx(rho, rel=1e-9)


@pytest.mark.parametrize("problem, scheme, lr", UNREGULARIZED_CASES)
@pytest.mark.slow  # trains the Dirac-GAN, 4 cases
def test_unregularized_runs_are_not_called_converging(tmp_path, capsys, problem, scheme, lr):
    exact = dirac_analyze(capsys, ["--method", "gan"], scheme, lr)
    rho = exact["rate_per_step"]
    # SimGD grows at rho > 1: stop at a growth of e^3, still in the linear regime.
    steps = 1000 if rho <= 1 + 1e-9 else int(min(2000, math.ceil(3 / math.log(rho))))
    every = max(1, steps // 100)
    run_dir = train_dirac(
        tmp_path,
        "gan",
        [
            f"data.name={problem}",
            "method=gan",
            f"scheme.name={scheme}",
            f"optim.g.lr={lr}",
            f"optim.d.lr={lr}",
            f"train.steps={steps}",
            f"train.log_every={every}",
            f"train.checkpoint_every={steps // 2}",
            f"eval.diagnostics.every={every}",
        ],
    )
    record = run_verdict(run_dir, path_angle=False)
    assert record["measured_rate_per_step"] == pytest.approx(rho, rel=1e-3)
    assert record["verdict"] != "converging"
    if exact["verdict"] in AGREE:
        assert record["verdict"] == AGREE[exact["verdict"]]
    else:  # AltGD: update eigenvalues on the unit circle
        assert exact["verdict"] == "no linear convergence"
        assert record["verdict"] == "oscillating"


def test_the_local_picture_is_at_the_scheduled_learning_rate(tmp_path, capsys):
    """With a cosine schedule the update radius at the last checkpoint, and the Dirac verdict
    beside it, are the exact ones at the rate in force there."""
    steps, start, end, length = 200, 0.4, 0.04, 300
    schedule = f"{{schedule: cosine, start: {start}, end: {end}, steps: {length}}}"
    run_dir = train_dirac(
        tmp_path,
        "cosine",
        [f"optim.g.lr={schedule}", f"optim.d.lr={schedule}", f"train.steps={steps}"],
    )
    record = run_verdict(run_dir, path_angle=False, spectrum=True)
    # R3GAN's cosine_decay_with_warmup at step 200 of 300, written out here.
    lr = start + (1 - 0.5 * (1 + math.cos(math.pi * steps / length))) * (end - start)
    assert record["lr"] == {"g": pytest.approx(lr, rel=1e-12), "d": pytest.approx(lr, rel=1e-12)}
    exact = dirac_analyze(capsys, ["--method", "r1", "--gamma", 0.5], "simgd", lr)
    # The checkpoint is ~1e-8 from the equilibrium: its linearisation is the exact one.
    assert record["spectral_radius"] == pytest.approx(exact["spectral_radius"], rel=1e-6)
    assert record["dirac_spectral_radius"] == pytest.approx(exact["spectral_radius"], rel=1e-9)


TINY_2D = [
    *TINY_CIRCLE,
    "method=nsgan-r1",
    "method.gamma=1.0",
    "eval.diagnostics.samples=48",
    "eval.diagnostics.every=3",
    "train.checkpoint_every=3",
    "train.keep_last=5",
]


def reference_field(run: RunDirectory, step: int, samples: int, gamma: float, seed=None):
    """v = (−∇_θ L_G, −∇_ψ L_D) of the non-saturating GAN + R1 on the evaluation game, with
    the losses written out here: L_D = E softplus(−D(x)) + E softplus(D(G(z))) +
    (γ/2) E ‖∇_x D(x)‖², L_G = E softplus(−D(G(z))). The game, as documented: the first batch
    of the problem's stream seeded 1000·seed, latents from a generator seeded with the seed."""
    config = run.config
    seed = config.seed if seed is None else seed
    _, state = run.load(step)
    players = run.players(state)
    generator, discriminator = players.generator, players.discriminator
    torch.nn.utils.vector_to_parameters(state["theta"], generator.parameters())
    torch.nn.utils.vector_to_parameters(state["psi"], discriminator.parameters())
    real = next(make_problem(config).real_stream(samples, seed=seed * 1000))
    latent = torch.randn(
        samples, config.model.latent_dim, generator=torch.Generator().manual_seed(seed)
    )
    real = real.clone().requires_grad_(True)
    d_real = discriminator(real).reshape(-1)
    (input_gradient,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    fake = generator(latent)
    loss_d = (
        F.softplus(-d_real).mean() + F.softplus(discriminator(fake.detach()).reshape(-1)).mean()
    )
    loss_d = loss_d + gamma / 2 * input_gradient.pow(2).sum(dim=1).mean()
    loss_g = F.softplus(-discriminator(fake).reshape(-1)).mean()
    v_g = torch.autograd.grad(loss_g, list(generator.parameters()))
    v_d = torch.autograd.grad(loss_d, list(discriminator.parameters()))
    flat = [-torch.cat([g.reshape(-1) for g in grads]) for grads in (v_g, v_d)]
    return flat, torch.cat([state["theta"], state["psi"]])


def test_the_diagnostics_are_the_field_on_the_evaluation_game(tmp_path):
    run_dir = tmp_path / "circle"
    train(load_config(CIRCLE, [*TINY_2D, f"out_dir={run_dir}", "train.steps=6"]))
    run = RunDirectory.open(run_dir)
    rows = {r["step"]: r for r in run.metrics() if "diagnostics/field_norm" in r}
    assert sorted(rows) == [3, 6]
    (v_g, v_d), x6 = reference_field(run, 6, 48, 1.0)
    logged = rows[6]
    assert logged["diagnostics/field_norm_g"] == pytest.approx(float(v_g.norm()), rel=1e-5)
    assert logged["diagnostics/field_norm_d"] == pytest.approx(float(v_d.norm()), rel=1e-5)
    assert logged["diagnostics/field_norm"] == pytest.approx(
        float(torch.cat([v_g, v_d]).norm()), rel=1e-5
    )
    # The noise estimate: the second evaluation game is the one of seed + 1_000_003 (as
    # documented); with two games η² = ‖v₁ − v₂‖²/2 and ‖E v‖² is estimated by ⟨v₁, v₂⟩.
    (w_g, w_d), _ = reference_field(run, 6, 48, 1.0, seed=run.config.seed + 1_000_003)
    v1, v2 = torch.cat([v_g, v_d]).double(), torch.cat([w_g, w_d]).double()
    assert logged["diagnostics/field_noise"] == pytest.approx(
        float((v1 - v2).norm()) / math.sqrt(2), rel=1e-4
    )
    assert logged["diagnostics/field_signal_sq"] == pytest.approx(
        float(torch.dot(v1, v2)), rel=1e-4, abs=1e-7
    )
    _, x3 = reference_field(run, 3, 48, 1.0)
    moved = x6 - x3
    assert logged["diagnostics/distance_per_step"] == pytest.approx(
        float(moved.norm()) / 3, rel=1e-5
    )
    cosine = float(
        torch.dot(torch.cat([v_g, v_d]), moved) / (torch.cat([v_g, v_d]).norm() * moved.norm())
    )
    assert logged["diagnostics/cosine"] == pytest.approx(cosine, rel=1e-4, abs=1e-6)
    # The first look measures from the initial players (seeded by the run's seed).
    initial = run.players()
    x0 = torch.nn.utils.parameters_to_vector(
        [*initial.generator.parameters(), *initial.discriminator.parameters()]
    ).detach()
    (v_g, v_d), x3 = reference_field(run, 3, 48, 1.0)
    assert rows[3]["diagnostics/distance_per_step"] == pytest.approx(
        float((x3 - x0).norm()) / 3, rel=1e-5
    )


def test_verdict_cli_on_a_2d_run_in_text_json_and_html(tmp_path, capsys):
    run_dir = tmp_path / "circle"
    train(load_config(CIRCLE, [*TINY_2D, f"out_dir={run_dir}", "train.steps=30"]))
    code, out, err = cli(
        capsys, "verdict", run_dir, "--json", "--k", 3, "--quiet", "--spectrum", "always"
    )
    assert code == 0, err
    assert "matvec" not in err
    record = json.loads(out)
    assert record["verdict"] in ("converging", "oscillating", "diverging", "inconclusive")
    norms = [
        r["diagnostics/field_norm"]
        for r in RunDirectory.open(run_dir).metrics()
        if "diagnostics/field_norm" in r
    ]
    assert record["field_norm_last"] == norms[-1]
    # The rate is the fit of the logged norms over the second half, recomputed here.
    steps = np.arange(3, 31, 3)
    inside = steps >= 15
    slope = np.polyfit(steps[inside], np.log(norms)[inside], 1)[0]
    assert record["measured_rate_per_step"] == pytest.approx(math.exp(slope), rel=1e-9)
    assert len(record["leading_eigenvalues"]["LR"]) == 3
    assert record["spectral_radius"] == max(math.hypot(*p) for p in record["update_eigenvalues"])
    assert record["path_angle"]["from"] == 27 and record["path_angle"]["to"] == 30
    assert record["dirac_verdict"]

    page = tmp_path / "verdict.html"
    code, out, err = cli(
        capsys, "verdict", run_dir, "--k", 3, "--html", page, "--spectrum", "always", "--recompute"
    )
    assert code == 0, err
    assert out.startswith(f"verdict       {record['verdict']}")
    assert "rules, in order:" in out and f"wrote {page}" in out
    assert "matvec" in err and "path-angle" in err  # progress bars on stderr, not stdout
    html = page.read_text()
    figures = re.findall(r'data-figure="([^"]+)".*?base64,([^"]+)"', html)
    assert [name for name, _ in figures] == ["field-norm", "motion", "eigenvalues", "path-angle"]
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for _, data in figures)
    assert not re.search(r'(src|href)="(?!data:)', html)  # self-contained

    code, _, err = cli(capsys, "verdict", run_dir, "--window", "0")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--window" in err
