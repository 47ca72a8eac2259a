"""The three examples of "your own GAN" (examples/), run as a user would, checked against truth
computed elsewhere (issue 22):

* a plain-PyTorch Dirac-GAN loop with the monitor: ``convergan verdict``'s measured rate on its
  folder equals ``convergan dirac analyze``'s exact ρ;
* a plain-PyTorch 2D loop (MLP players, R1 written with ``torch.autograd.grad``, Adam) with the
  monitor: its diagnostics equal those ``convergan train`` logs on the same seeds, data and
  method, so the monitor reads the trainer's field;
* a conditional DCGAN-style pair called ``G(z, c)``, ``D(x, c)`` through the adapter: its
  eigenvalues, spectral radius under Adam and path-angle equal those of a dense Jacobian of
  the field written here with plain autograd on the user's own modules.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from convergan.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def one_thread():
    """Tiny networks: one thread is faster than two fighting over a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_dirac_loop_verdict_measures_the_exact_spectral_radius(tmp_path, capsys):
    gamma, lr = 0.5, 0.3
    code, out, err = cli(
        capsys, "dirac", "analyze", "--method", "r1", "--gamma", gamma, "--scheme", "altgd",
        "--lr", lr, "scheme.discriminator_first=true", "--json",
    )  # fmt: skip
    assert code == 0, err
    exact = json.loads(out)
    rho = exact["rate_per_step"]
    assert exact["verdict"] == "converges" and rho < 1
    # ‖v‖ falls by e^60: the trend's window spans many turns of the rotation around ρ^t
    steps = math.ceil(60 / -math.log(rho))
    folder = tmp_path / "dirac-loop"
    example("dirac_loop").train(folder, gamma=gamma, lr=lr, steps=steps, every=max(1, steps // 150))

    code, out, err = cli(capsys, "verdict", folder, "--no-spectrum", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["measured_rate_per_step"] == pytest.approx(rho, rel=1e-3)
    assert record["verdict"] == "converging"
    assert record["spectral_radius"] is None and "convergan run" in record["local_note"]
    code, out, _ = cli(capsys, "verdict", folder, "--no-spectrum")
    assert code == 0 and out.startswith("verdict       converging") and "convergan run" in out


TOY2D = [
    "method=nsgan-r1", "method.gamma=1.0",
    "optim.g.name=adam", "optim.d.name=adam", "optim.g.lr=1e-3", "optim.d.lr=1e-3",
    "model.width=32", "model.depth=2", "data.batch_size=64",
    "train.steps=30", "train.log_every=30", "train.eval_every=0", "train.sample_every=0",
    "train.checkpoint_every=30", "train.progress=false", "ema.enabled=false",
    "eval.metrics=[]", "eval.diagnostics.every=5",
]  # fmt: skip


def test_toy2d_loop_diagnostics_equal_convergan_train(tmp_path):
    from convergan.config import load_config
    from convergan.models.players import make_players
    from convergan.problems import make_problem
    from convergan.runs import train
    from convergan.training.batches import BatchSampler
    from convergan.training.diagnostics import evaluation_games
    from convergan.training.metrics_log import metrics_by_step

    run_dir = tmp_path / "run"
    config = load_config(ROOT / "configs" / "toy2d" / "circle.yaml", [f"out_dir={run_dir}", *TOY2D])
    train(config)

    # The user's loop gets what the trainer had: the same initial players, the same stream of
    # minibatches (one per D update, one per G update) and the same evaluation game.
    problem = make_problem(config)
    info = problem.info()
    players = make_players(config, info.shape, info.num_classes)
    method = config.method.build()
    stream = problem.real_stream(config.data.batch_size, config.seed * 1000)
    sampler = BatchSampler(
        stream, players.latent_dim, config.data.batch_size, method, seed=config.seed * 1000 + 500
    )

    def sample_batch():
        batch = sampler()
        return batch.real, batch.latent

    # the trainer's evaluation games (its own and the independent one for the noise), one
    # after the other: the monitor splits them back into its games=2
    games = evaluation_games(config, method, players.latent_dim, problem)
    assert len(games) == 2
    folder = tmp_path / "loop"
    example("toy2d_loop").train(
        players.generator, players.discriminator, sample_batch, folder,
        eval_real=torch.cat([g.real for g in games]),
        eval_latent=torch.cat([g.latent for g in games]), steps=config.train.steps,
        gamma=1.0, lr=1e-3, betas=tuple(config.optim.d.betas), every=5,
    )  # fmt: skip

    rows = metrics_by_step(run_dir / "metrics.jsonl")
    logged = [r for r in rows if "diagnostics/field_norm" in r]
    monitored = metrics_by_step(folder / "metrics.jsonl")
    assert [r["step"] for r in monitored] == [r["step"] for r in logged] == [5, 10, 15, 20, 25, 30]
    keys = ["field_norm", "field_norm_g", "field_norm_d", "distance_per_step", "cosine"]
    keys += ["field_noise", "field_signal_sq"]
    for trainer, monitor in zip(logged, monitored):
        for key in keys:
            name = f"diagnostics/{key}"
            assert monitor[name] == pytest.approx(trainer[name], rel=1e-5, abs=1e-7), name


# ---------------------------------------------------------------- the conditional pair


def dense_field(G, D, real, z, c, gamma):
    """The non-saturating + R1 field of the user's own modules, written with plain autograd
    (nothing of convergan's), as a function of the flat float64 parameters."""
    g_named = [(n, p.shape) for n, p in G.named_parameters()]
    d_named = [(n, p.shape) for n, p in D.named_parameters()]
    n_g = sum(math.prod(s) for _, s in g_named)

    def unflatten(flat, named):
        sizes = [math.prod(s) for _, s in named]
        return {n: t.reshape(s) for (n, s), t in zip(named, torch.split(flat, sizes))}

    def field(x):
        if not x.requires_grad:
            x = x.clone().requires_grad_(True)
        theta, psi = torch.split(x, [n_g, x.numel() - n_g])
        g_params, d_params = unflatten(theta, g_named), unflatten(psi, d_named)

        def gen(zz):
            return functional_call(G, g_params, (zz, c))

        def dis(xx):
            return functional_call(D, d_params, (xx, c)).reshape(-1)

        x_real = real.clone().requires_grad_(True)
        d_real = dis(x_real)
        (grad,) = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
        r1 = gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()
        fake = gen(z)
        d_loss = F.softplus(-d_real).mean() + F.softplus(dis(fake)).mean() + r1
        g_loss = F.softplus(-dis(fake)).mean()
        (v_g,) = torch.autograd.grad(g_loss, theta, create_graph=True)
        (v_d,) = torch.autograd.grad(d_loss, psi, create_graph=True)
        return -torch.cat([v_g, v_d])

    return field


def test_conditional_pair_through_the_adapter(one_thread):
    records = example("conditional_dcgan").run(steps=10)
    G, D = records["G"].double(), records["D"].double()
    real, z, c = (t.double() for t in records["evaluation_game"])
    field = dense_field(G, D, real, z, c, gamma=1.0)
    theta = torch.cat([p.detach().reshape(-1) for p in G.parameters()])
    psi = torch.cat([p.detach().reshape(-1) for p in D.parameters()])
    x = torch.cat([theta, psi]).requires_grad_(True)
    n_g, n = theta.numel(), theta.numel() + psi.numel()

    J = torch.autograd.functional.jacobian(field, x, vectorize=True).numpy()
    exact = np.linalg.eigvals(J)

    # the leading eigenvalues by real part
    spectrum = records["eigenvalues"]
    assert spectrum.converged and spectrum.n == n
    top = exact[np.argsort(-exact.real)][:4]
    found = np.sort_complex(spectrum.eigenvalues)
    np.testing.assert_allclose(found, np.sort_complex(top), atol=1e-8)

    # alternating Adam steps, D first, Adam's v̂ frozen: F' = (I + h P_G J_G)(I + h P_D J_D)
    opt_g, opt_d = records["optimizers"]

    def factors(module, optimizer):
        out = []
        for p in module.parameters():
            state, (group,) = optimizer.state[p], optimizer.param_groups
            v_hat = state["exp_avg_sq"] / (1 - group["betas"][1] ** int(state["step"]))
            out.append(1 / (v_hat.double().sqrt() + group["eps"]).reshape(-1))
        return torch.cat(out).numpy()

    P = np.concatenate([factors(G, opt_g), factors(D, opt_d)])
    h_g, h_d = opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]
    only_g, only_d = np.arange(n) < n_g, np.arange(n) >= n_g
    step_d = np.eye(n) + (h_d * P * only_d)[:, None] * J
    step_g = np.eye(n) + (h_g * P * only_g)[:, None] * J
    rho = np.abs(np.linalg.eigvals(step_g @ step_d)).max()
    radius = records["spectral_radius"]
    assert radius.preconditioned and radius.scheme == "altgd"
    assert radius.spectral_radius == pytest.approx(rho, rel=1e-8)

    # path-angle from the parameters before training to those after
    stats = records["path_angle"]
    before = torch.cat(records["before"]).double()
    direction = x.detach() - before
    for alpha, cosine in zip(stats.alphas, stats.cosine):
        v = field(before + alpha * direction).detach()
        expected = float(v @ direction / (v.norm() * direction.norm()))
        assert cosine == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert stats.distance == pytest.approx(float(direction.norm()), rel=1e-12)
