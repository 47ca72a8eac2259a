"""A real network where the verdict's truth is known: the full-batch problems (issue 20).

On ``<2D problem>-fullbatch`` every step is on the same fixed game, so with plain gradient
steps the trainer's map is the update operator ``convergan spectrum --scheme run`` linearises.
Near an equilibrium ``‖v‖`` must then shrink, or grow, at that operator's spectral radius on
the field (``--field-rate``), while the plain largest-magnitude radius is 1: the continuous
families of equilibria of an MLP (``J u = 0``) that the field never shows. Seeds are drawn
here; each run's length comes from a pilot of the same deterministic run.
"""

from __future__ import annotations

import json
import math
import shutil
import sys

import numpy as np
import pytest
import torch

from convergan.analysis.field_rate import field_scheme_spectrum
from convergan.analysis.spectrum import JacobianOperator
from convergan.cli.main import main
from convergan.config import load_config
from convergan.config.shipped import find_config
from convergan.problems import make_problem
from convergan.runs import train
from convergan.runs.spectrum import build_analysis_scheme, evaluation_field
from convergan.runs.verdict import run_verdict
from convergan.training.batches import BatchSampler, evaluation_batch
from convergan.training.directory import RunDirectory

LR = 0.3
# One data point and one latent: a Dirac-GAN in R² played by two MLPs of 130 and 129
# parameters, whose Jacobian at the equilibrium has rank 5 (N ≥ 2 plays too, but from some
# seeds the generated points take thousands of steps to find the data).
SMALL = [
    "data.batch_size=1",
    "scheme.name=altgd",
    f"optim.g.lr={LR}",
    f"optim.d.lr={LR}",
    "eval.diagnostics.every=1",  # the window after the linear regime holds 20+ looks
    "train.eval_every=0",
    "train.sample_every=0",
]
SEEDS = [int(s) for s in np.random.default_rng(20).integers(0, 10_000, size=2)]
PILOT = 400
FLOOR = 1e-11  # ‖v‖ where a run stops, far above float64 rounding (about 1e-16 here)
LINEAR = 1e-5  # ‖v‖ from which on the trend is fitted: the players are near the equilibrium


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    return out


def config(tmp_path, name: str, overrides: list[str]):
    path = find_config("toy2d/circle-fullbatch")
    return load_config(path, [*SMALL, f"out_dir={tmp_path / name}", *overrides])


def field_norms(run_dir) -> dict[int, float]:
    rows = RunDirectory.open(run_dir).metrics()
    return {r["step"]: r["diagnostics/field_norm"] for r in rows if "diagnostics/field_norm" in r}


def field_rate(capsys, run_dir) -> dict:
    out = cli(
        capsys, "spectrum", run_dir, "--scheme", "run", "--field-rate", "--which", "LM",
        "--k", 20, "--no-lr-bound", "--json", "--quiet",
    )  # fmt: skip
    return json.loads(out)["schemes"][0]


def test_every_game_is_the_whole_fixed_game(tmp_path):
    cfg = config(tmp_path, "game", ["data.batch_size=5", "seed=3"])
    problem = make_problem(cfg)
    method = cfg.method.build()
    games = [evaluation_batch(cfg, method, 1, samples, seed) for samples, seed in [(5, 0), (50, 9)]]
    stream = problem.real_stream(1000, seed=7)
    for batch in [*games, next(stream), next(stream)]:
        assert batch.real.dtype == torch.float64
        torch.testing.assert_close(batch.real, games[0].real, rtol=0, atol=0)
        torch.testing.assert_close(batch.latent, games[0].latent, rtol=0, atol=0)
    # The data: 5 points of the unit circle and 5 standard-normal latents, drawn from the seed.
    assert games[0].real.shape == (5, 2) and games[0].latent.shape == (5, 1)
    torch.testing.assert_close(games[0].real.norm(dim=1), torch.ones(5, dtype=torch.float64))
    other = make_problem(config(tmp_path, "other", ["data.batch_size=5", "seed=4"]))
    assert not torch.equal(other.game.real, games[0].real)


def test_processes_share_the_game_by_rows(tmp_path):
    cfg = config(tmp_path, "shared", ["data.batch_size=4"])
    problem, method = make_problem(cfg), cfg.method.build()
    halves = [
        BatchSampler(problem.real_stream(8, 0), 1, 4, method, 0, rank=rank, world_size=2)()
        for rank in (0, 1)
    ]
    for rank, half in enumerate(halves):
        rows = slice(2 * rank, 2 * rank + 2)
        assert torch.equal(half.real, problem.game.real[rows])
        assert torch.equal(half.latent, problem.game.latent[rows])
        assert torch.equal(half.interpolation, problem.game.interpolation[rows])
    with pytest.raises(ValueError, match="cannot be split among 3 processes"):
        BatchSampler(problem.real_stream(12, 0), 1, 4, method, 0, rank=0, world_size=3)()


def converged_run(tmp_path, seed: int):
    """The run of ``seed`` stopped where ``‖v‖`` first falls below :data:`FLOOR`, and the
    fraction of its steps since ``‖v‖`` first fell below :data:`LINEAR` (found by a pilot:
    training is deterministic, so the second run retraces the first)."""
    train(config(tmp_path, "pilot", [f"seed={seed}", f"train.steps={PILOT}"]))
    norms = field_norms(tmp_path / "pilot")
    steps = min([s for s, v in norms.items() if v < FLOOR] or [PILOT])
    linear = min(s for s, v in norms.items() if v < LINEAR)
    run_dir = tmp_path / "converged"
    overrides = [f"seed={seed}", f"train.steps={steps}", f"train.checkpoint_every={steps}"]
    train(config(tmp_path, run_dir.name, overrides))
    assert field_norms(run_dir)[steps] == norms[steps]
    return run_dir, steps, (steps - linear) / steps


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    """``seed -> (run directory, steps)`` of :func:`converged_run`, each trained once."""
    runs: dict[int, tuple] = {}

    def get(seed: int):
        if seed not in runs:
            runs[seed] = converged_run(tmp_path_factory.mktemp(f"seed-{seed}"), seed)
        return runs[seed]

    return get


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow  # trains to convergence
def test_the_measured_rate_is_the_spectral_radius_on_the_field(capsys, converged, seed):
    run_dir, _, window = converged(seed)
    record = run_verdict(run_dir, k=4, path_angle=False, window=window)
    assert record["verdict"] == "converging", record["reason"]
    rate = record["measured_rate_per_step"]
    scheme = field_rate(capsys, run_dir)
    on_field = scheme["on_field"]
    assert on_field["converged"]
    assert rate == pytest.approx(on_field["rate_per_step"], rel=1e-2)
    assert 1 - rate > 0.03  # far from 1, so that the comparison below means something
    assert math.log(rate) == pytest.approx(math.log(on_field["rate_per_step"]), rel=2e-2)
    # The plain largest-magnitude radius is the eigenvalue 1 of the families of equilibria.
    assert scheme["spectral_radius"] == pytest.approx(1.0, abs=1e-6)


def radius_on_field(run_dir, lr: float) -> float:
    """The update's rate per step on the field at the run's last checkpoint, at rate ``lr``."""
    run = RunDirectory.open(run_dir)
    _, state = run.load()
    lrs = [f"optim.g.lr={lr}", f"optim.d.lr={lr}", f"out_dir={run_dir}"]
    cfg = load_config(run_dir / "config.yaml", lrs)
    players, method = run.players(state), cfg.method.build()
    game = evaluation_batch(cfg, method, players.latent_dim, 1, 0)
    field = evaluation_field(players.generator, players.discriminator, method, game)
    jacobian = JacobianOperator(field, (state["theta"], state["psi"]))
    scheme = build_analysis_scheme(cfg, "run")
    spectrum = field_scheme_spectrum(scheme, {1.0: jacobian.matvec}, jacobian.sizes)
    return spectrum.to_dict()["rate_per_step"]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow  # trains until it diverges
def test_beyond_the_stable_range_it_diverges_at_the_spectral_radius(
    tmp_path, capsys, converged, seed
):
    """From the converged point, on at the first of 1.5, 2, 3, 4 times the rate where the
    update grows by at least 5% a step."""
    run_dir, steps, _ = converged(seed)
    lr, rho = next(
        (c * LR, r) for c in (1.5, 2, 3, 4) if (r := radius_on_field(run_dir, c * LR)) > 1.05
    )
    grow = int(math.ceil(math.log(1e7) / math.log(rho)))  # to ‖v‖ ≈ 1e-3: still linear
    diverging = tmp_path / "diverging"
    shutil.copytree(run_dir, diverging)
    total = steps + grow
    more = [f"optim.g.lr={lr}", f"optim.d.lr={lr}", f"train.steps={total}"]
    more += [f"out_dir={diverging}", f"train.checkpoint_every={total}"]
    train(load_config(diverging / "config.yaml", more), resume=True)
    record = run_verdict(diverging, k=4, path_angle=False, window=0.7 * grow / total)
    assert record["verdict"] == "diverging", record["reason"]
    growth = record["measured_rate_per_step"]
    assert growth == pytest.approx(rho, rel=1e-2)
    assert growth == pytest.approx(record["spectral_radius_per_step"], rel=1e-2)
    at_end = field_rate(capsys, diverging)["on_field"]["rate_per_step"]
    assert growth == pytest.approx(at_end, rel=1e-2)
    assert math.log(growth) == pytest.approx(math.log(rho), rel=5e-2)
