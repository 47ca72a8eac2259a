"""One checkpoint opened once for every run-level analysis (issue 21): the Dirac-GAN's tiny
operators solved densely, the verdict without a checkpoint, the path-angle on the run's own
evaluation game, and the verdict's saved parts reused only while their inputs are unchanged."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import TINY_CIRCLE

from convergan.analysis.verdict_rules import Assessment
from convergan.analysis.verdict_statistics import Trend
from convergan.cli.main import main
from convergan.config import load_config
from convergan.runs import train
from convergan.runs.path_angle import run_path_angle
from convergan.runs.verdict_local import local_can_change
from convergan.training.directory import RunDirectory

ROOT = Path(__file__).resolve().parents[1]
DIRAC = ROOT / "configs" / "dirac.yaml"
CIRCLE = ROOT / "configs" / "toy2d" / "circle.yaml"
TINY_2D = [
    *TINY_CIRCLE,
    "method=nsgan-r1",
    "eval.diagnostics.samples=48",
    "eval.diagnostics.every=3",
    "train.checkpoint_every=3",
    "train.keep_last=5",
]


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def dirac_run(tmp_path_factory) -> Path:
    """The trainable Dirac-GAN (R1, γ = 0.5, SimGD at lr 0.1) 600 steps in: ‖v‖ has shrunk
    by 0.976^600 ≈ 5e-7, so its Jacobian is the equilibrium's."""
    run_dir = tmp_path_factory.mktemp("dirac") / "run"
    overrides = [f"out_dir={run_dir}", "train.sample_every=0", "train.steps=600"]
    train(load_config(DIRAC, [*overrides, "train.checkpoint_every=300", "train.progress=false"]))
    return run_dir


def test_spectrum_of_the_dirac_gan_is_solved_densely(dirac_run, capsys):
    code, out, err = cli(capsys, "spectrum", dirac_run, "--k", 1, "--json", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    assert record["spectra"]["LR"]["solver"] == "dense"
    # Mescheder et al. (2018): J = [[0, -f'(0)], [f'(0), -γ]] at the equilibrium, f'(0) = 1/2,
    # eigenvalues (−γ ± sqrt(γ² − 4 f'(0)²))/2 = −1/4 ± i sqrt(3)/4 at γ = 1/2.
    ((re, im),) = record["eigenvalues"]
    assert re == pytest.approx(-0.25, abs=1e-5)
    assert abs(im) == pytest.approx(math.sqrt(3) / 4, abs=1e-5)
    code, out, err = cli(capsys, "spectrum", dirac_run, "--k", 3, "--quiet")
    assert code == 2 and "1 <= k <= n = 2" in err and "Traceback" not in err


def test_verdict_without_a_checkpoint_reads_the_diagnostics(dirac_run, tmp_path, capsys):
    fresh = tmp_path / "no-checkpoint"
    fresh.mkdir()
    for name in ("config.yaml", "metrics.jsonl", "run.json"):
        shutil.copy(dirac_run / name, fresh / name)
    code, out, err = cli(capsys, "verdict", fresh, "--no-spectrum", "--json", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    last = max(r["step"] for r in RunDirectory.open(dirac_run).metrics())
    assert record["step"] == last and record["checkpoint"] is False
    assert record["verdict"] == "converging" and record["spectral_radius"] is None
    assert record["path_angle"] is None and record["dirac_verdict"] == "converges"
    code, out, err = cli(capsys, "verdict", fresh, "--json", "--quiet")  # spectrum asked for
    assert code == 0, err
    assert "no checkpoint" in json.loads(out)["local_note"]


def logged(slope: float, change: float, scatter: float, points: int = 30) -> Assessment:
    """What the rules read from a run's logs: a trend (no noise measured, no floor)."""
    half = abs(slope) / 4
    trend = Trend(0, 100, points, slope, slope - half, slope + half, change, scatter,
                  2 * scatter, points, 1.0, True)  # fmt: skip
    return Assessment("", "", trend, None, None)


def test_the_local_picture_runs_only_where_it_can_change_the_verdict():
    # A clear trend beyond its fluctuations: ρ may contradict it (the diverging and
    # converging rules).
    assert local_can_change(logged(-0.01, -1.0, 0.1))
    assert local_can_change(logged(+0.01, +1.0, 0.1))
    # Without diagnostics, too few of them, or no trend beyond the fluctuations: it cannot.
    assert not local_can_change(Assessment("", "", None, None, None))
    assert not local_can_change(logged(math.nan, math.nan, math.nan, points=2))
    assert not local_can_change(logged(-0.01, -0.05, 0.1))


@pytest.fixture(scope="module")
def circle_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("circle") / "run"
    train(load_config(CIRCLE, [*TINY_2D, "seed=3", f"out_dir={run_dir}", "train.steps=12"]))
    return run_dir


def test_the_verdicts_path_angle_is_on_the_runs_evaluation_game(circle_run, capsys):
    code, out, err = cli(capsys, "verdict", circle_run, "--json", "--quiet", "--spectrum", "never")
    assert code == 0, err
    record = json.loads(out)
    assert record["evaluation_game"] == {"samples": 48, "seed": 3, "games": 2}
    angle = record["path_angle"]
    run = RunDirectory.open(circle_run)
    same = run_path_angle(run, 9, 12, points=21, samples=48, seed=3)
    other = run_path_angle(run, 9, 12, points=21, samples=48, seed=0)
    assert angle["profile"]["cosine"] == pytest.approx(same["cosine"], rel=1e-6)
    assert not np.allclose(angle["profile"]["cosine"], other["cosine"], rtol=1e-3)


def test_the_saved_local_picture_is_reused_only_for_the_same_checkpoint(circle_run, capsys):
    argv = ("verdict", circle_run, "--json", "--spectrum", "always", "--k", 2)
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    assert "matvec" in err  # ARPACK ran
    first = json.loads(out)
    code, out, err = cli(capsys, *argv, "--html", circle_run / "page.html")
    assert code == 0, err
    assert "matvec" not in err and "path-angle" not in err  # both parts read back
    assert json.loads(out)["update_eigenvalues"] == first["update_eigenvalues"]
    assert (circle_run / "page.html").read_text().startswith("<!")
    checkpoint = RunDirectory.open(circle_run).checkpoints.path_for(12)
    os.utime(checkpoint, ns=(checkpoint.stat().st_atime_ns, checkpoint.stat().st_mtime_ns + 10**9))
    code, out, err = cli(capsys, *argv)
    assert code == 0 and "matvec" in err  # another file at step 12: computed again
    # ... from the start vectors the first computation saved, one per solve, of its length.
    again = json.loads(out)
    assert again["spectral_radius"] == pytest.approx(first["spectral_radius"], rel=1e-4)
    vectors = torch.load(circle_run / "verdict" / "start-vectors.pt", weights_only=True)
    n = sum(p.numel() for p in RunDirectory.open(circle_run).players().generator.parameters())
    n += sum(p.numel() for p in RunDirectory.open(circle_run).players().discriminator.parameters())
    assert {key: v.shape for key, v in vectors.items()} == {
        "LR": (n,),
        "LM": (n,),
        "altgd update": (n,),
    }


def test_a_checkpoint_rotated_away_while_the_verdict_reads_it_is_replaced(
    circle_run, tmp_path, monkeypatch
):
    # A run still training deletes its oldest kept checkpoint after writing a newer one; here
    # the path-angle's starting checkpoint goes just as the verdict opens the newest, and the
    # verdict is taken again over the checkpoints then on disk.
    from convergan.runs import at_step
    from convergan.runs.verdict import run_verdict

    run_dir = tmp_path / "run"
    shutil.copytree(circle_run, run_dir)
    steps = RunDirectory.open(run_dir).steps()
    original = at_step.CheckpointAt.__init__
    calls = []

    def rotated(self, run, step, *args, **kwargs):
        calls.append(step)
        if len(calls) == 1:
            (run_dir / "checkpoints" / f"step-{steps[-2]:08d}.pt").unlink()
        original(self, run, step, *args, **kwargs)

    monkeypatch.setattr(at_step.CheckpointAt, "__init__", rotated)
    record = run_verdict(run_dir, spectrum=False, path_angle=True, reuse=False)
    assert calls[:2] == [steps[-1], steps[-2]] and record["step"] == steps[-1]
    assert (record["path_angle"]["from"], record["path_angle"]["to"]) == (steps[-3], steps[-1])
