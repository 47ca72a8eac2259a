"""The verdict reads the local picture training already computed (``eval.spectrum``).

A tiny circle run logs a converged in-training look at its last checkpoint; the verdict must
take ρ from that look without a solve, and that ρ must be the update radius
``convergan spectrum --scheme run --preconditioned`` computes at the same checkpoint on the
look's game. A look that did not converge is not read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import TINY_CIRCLE

import convergan.runs.verdict_local as verdict_local
from convergan.config import load_config
from convergan.runs import train
from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint
from convergan.runs.verdict import verdict_of_run
from convergan.training.directory import RunDirectory

CIRCLE = Path(__file__).resolve().parents[1] / "configs" / "toy2d" / "circle.yaml"
TINY = [
    *TINY_CIRCLE,
    "method=nsgan-r1",
    "method.gamma=1.0",
    "eval.diagnostics.samples=48",
    "eval.diagnostics.every=3",
    "train.checkpoint_every=12",
    "train.steps=24",
    "eval.spectrum.every=12",
    "eval.spectrum.k=2",
    "eval.spectrum.samples=32",
]


def tiny_run(tmp_path, products: int) -> Path:
    run_dir = tmp_path / f"products-{products}"
    overrides = [*TINY, f"out_dir={run_dir}", f"eval.spectrum.products={products}"]
    train(load_config(CIRCLE, overrides))
    return run_dir


def look_at(run_dir: Path, step: int) -> dict:
    rows = RunDirectory.open(run_dir).metrics()
    return next(r for r in rows if r.get("step") == step and "spectrum/update_radius" in r)


@pytest.fixture
def ask_for_the_local_picture(monkeypatch):
    """The verdict asks for the local picture (whatever the logs say), and a solve is
    recorded instead of run."""
    solves = []

    def solve(at, *args, **kwargs):
        solves.append(at.step)
        return verdict_local.no_local() | {"spectral_radius": 7.0, "spectral_radius_per_step": 7.0,
                                           "period": 1, "leading_eigenvalues": {}}  # fmt: skip

    monkeypatch.setattr(verdict_local, "local_can_change", lambda logged: True)
    monkeypatch.setattr(verdict_local, "local_picture", solve)
    return solves


def test_a_converged_look_at_the_checkpoint_is_read_not_solved(tmp_path, ask_for_the_local_picture):
    run_dir = tiny_run(tmp_path, products=0)  # the look solves to the float32 tolerance
    look = look_at(run_dir, 24)
    assert look["spectrum/converged"] == 1.0
    record = verdict_of_run(run_dir, k=2, path_angle=False, reuse=False)
    assert ask_for_the_local_picture == []  # no solve
    assert record["spectral_radius"] == look["spectrum/update_radius"]
    assert record["spectral_radius_per_step"] == pytest.approx(
        look["spectrum/update_radius"] ** (1 / record["period"]), rel=1e-12
    )
    assert record["spectral_radius_residual"] == look["spectrum/max_residual"]
    assert "in-training look at step 24" in record["local_note"]
    # the same quantity as convergan spectrum's update radius at that checkpoint and game
    run = RunDirectory.open(run_dir)
    settings = SpectrumSettings(k=2, which=("LM",), samples=32, seed=run.config.seed,
                                schemes=("run",), preconditioned=True, lr_bound=False)  # fmt: skip
    fresh = analyze_checkpoint(run, 24, settings)
    assert record["spectral_radius"] == pytest.approx(fresh["spectral_radius"], rel=1e-4)
    assert record["period"] == fresh["schemes"][0]["period"]
    # --spectrum always solves anyway
    verdict_of_run(run_dir, k=2, spectrum="always", path_angle=False, reuse=False)
    assert ask_for_the_local_picture == [24]


def test_a_look_that_did_not_converge_is_not_read(tmp_path, ask_for_the_local_picture):
    run_dir = tiny_run(tmp_path, products=3)  # Ritz values from 3 products: not converged
    assert look_at(run_dir, 24)["spectrum/converged"] == 0.0
    record = verdict_of_run(run_dir, k=2, path_angle=False, reuse=False)
    assert ask_for_the_local_picture == [24]
    assert record["spectral_radius"] == 7.0
