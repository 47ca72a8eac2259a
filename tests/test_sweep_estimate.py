"""Issue 24, "before long work, say how long", for sweeps: before its first cell trains, a
sweep says how long it will take (from a few timed steps of its first cell, or from its
finished cells), and above an hour how to make it shorter."""

import contextlib
import io
import json
from pathlib import Path

import pytest
from cli_helpers import run

from convergan.cli.main import main
from convergan.studies.estimate import (
    StepRate,
    SweepWork,
    estimate_line,
    sweep_estimate_message,
    wall_seconds,
)
from convergan.studies.planning import plan, to_run
from convergan.studies.spec import load_sweep_spec

ROOT = Path(__file__).resolve().parents[1]
TIMED = "timed on 4 steps of seed=0"


def work(steps, jobs=1, most_jobs=1, budgets=None, axis=("seed", 3), evaluations=None):
    budgets = budgets or [None] * len(steps)
    evaluations = evaluations or [0] * len(steps)
    return SweepWork(list(steps), budgets, evaluations, jobs, most_jobs, axis)


def test_a_long_cpu_sweep_says_so_with_every_override_that_shortens_it():
    # 120 cells of 1,000 steps at 0.5 s, 2 at a time: 120 * 1000 * 0.5 / 2 = 30,000 s.
    line, long = sweep_estimate_message(
        work([1000] * 120, jobs=2, most_jobs=4, axis=("method.gamma", 6)),
        StepRate(0.5, TIMED, on_gpu=False),
    )
    assert long
    assert line.startswith(
        "wall time: about 8 h 20 min of training for 120 cells, 2 at a time "
        "(120,000 steps at 0.5 s a step on the CPU; timed on 4 steps of seed=0). "
        "That is over an hour; shorter: "
    )
    assert "--axis method.gamma=[...] with fewer than its 6 values" in line
    assert "train.steps=20 (about 10 min in all)" in line  # 600 s * 2 jobs / 120 / 0.5
    assert "--jobs 4" in line and "a GPU (device=cuda)" in line


def test_a_long_gpu_sweep_at_full_parallelism_suggests_neither_a_gpu_nor_more_jobs():
    line, long = sweep_estimate_message(
        work([10_000] * 8, jobs=4, most_jobs=4), StepRate(2.0, TIMED, True)
    )
    # 8 * 10,000 * 2 / 4 = 40,000 s
    assert long and "about 11 h 07 min" in line and "on the GPU" in line
    assert "device=cuda" not in line and "--jobs" not in line


def test_cells_too_many_for_ten_minutes_ask_for_fewer_steps_without_a_number():
    line, _ = sweep_estimate_message(work([100] * 10_000), StepRate(1.0, TIMED, False))
    assert "fewer steps (train.steps=N)" in line and "train.steps=0" not in line


def test_a_short_sweep_gets_one_line_without_advice():
    line, long = sweep_estimate_message(work([50, 50]), StepRate(0.01, TIMED, False, 0.5))
    # 2 * (0.5 + 50 * 0.01) = 2 s, one at a time
    assert not long
    assert line == (
        "wall time: about 2 s of training for 2 cells, one at a time (100 steps at 0.01 s a "
        "step on the CPU, 0.5 s setup a cell; timed on 4 steps of seed=0)"
    )


def test_the_wall_time_is_at_least_the_longest_cell_and_budgets_cap_cells():
    rate = StepRate(1.0, TIMED, False)
    assert wall_seconds(work([1000, 10, 10], jobs=3), rate) == 1000.0  # not 1020 / 3
    assert wall_seconds(work([100, 100], jobs=2), StepRate(1.0, TIMED, False, 5.0)) == 105.0
    assert wall_seconds(work([1000, 1000], budgets=[60.0, None]), rate) == 1060.0
    # 21 evaluations of 2 s on top of 2,000 steps at 0.1 s: 200 + 42 s
    timed = StepRate(0.1, TIMED, False, eval_seconds=2.0)
    assert wall_seconds(work([2000], evaluations=[21]), timed) == pytest.approx(242.0)


def tiny_spec(path: Path, steps: int, launcher: str = "debug") -> Path:
    spec = {
        "name": "tiny",
        "base": str(ROOT / "configs/toy2d/circle.yaml"),
        "axes": {"seed": [0, 1]},
        "overrides": {
            "model.width": 8,
            "model.depth": 1,
            "train.steps": steps,
            "train.sample_every": 0,
            "eval.metrics": [],
        },
        "launcher": {"name": launcher},
    }
    path.write_text(json.dumps(spec))
    return path


def test_a_sweep_prints_its_estimate_before_the_first_cell_and_dry_runs_reuse_finished_cells(
    tmp_path, capsys
):
    spec, out = tiny_spec(tmp_path / "tiny.json", steps=12), tmp_path / "out"
    code, _, err = run(capsys, "sweep", spec, "--out", out, "--dry-run")
    assert code == 0 and "wall time: not estimated in a dry run" in err + _
    both = io.StringIO()  # stdout and stderr in the order written, as on a terminal
    with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
        code = main(["sweep", str(spec), "--out", str(out), "--no-progress"])
    assert code == 0, both.getvalue()
    err = both.getvalue()
    lines = err.splitlines()
    estimate = next(i for i, line in enumerate(lines) if line.startswith("wall time: about"))
    first_cell = next(i for i, line in enumerate(lines) if ": done (" in line)
    assert estimate < first_cell, err
    assert "for 2 cells, one at a time (24 steps at" in lines[estimate]
    assert "timed on 4 steps of seed=0)" in lines[estimate]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["seed=0", "seed=1"]  # no probe
    for name in ("seed=0", "seed=1"):  # where each trained; no worker process of their own
        record = json.loads((out / "runs" / name / "cell.json").read_text())
        assert record["device"] == "cpu" and record["startup_seconds"] is None
    # A third seed: the dry run estimates it from the two finished cells, training nothing.
    code, text, _ = run(capsys, "sweep", spec, "--out", out, "--dry-run", "--axis", "seed=[0,1,2]")
    assert code == 0
    assert "wall time: about" in text and "for 1 cell, one at a time (12 steps" in text
    assert "from 2 finished cells" in text
    assert not (out / "runs" / "seed=2").exists()


def test_no_estimate_starts_at_once(tmp_path, capsys):
    spec = tiny_spec(tmp_path / "tiny.json", steps=3)
    code, _, err = run(capsys, "sweep", spec, "--out", tmp_path / "out", "--no-estimate")
    assert code == 0 and "wall time" not in err


@pytest.mark.parametrize("launcher", ["debug", "slurm"])
def test_a_sweep_of_ten_million_steps_a_cell_is_said_to_take_over_an_hour(tmp_path, launcher):
    spec = load_sweep_spec(tiny_spec(tmp_path / "long.json", steps=10_000_000, launcher=launcher))
    planned = plan(spec, tmp_path / "out")
    line = estimate_line(spec, planned, to_run(planned, False), jobs=1, most_jobs=2)
    if launcher == "slurm":  # the probe would train on the login node: not there
        assert line.startswith("wall time: not estimated for slurm")
        return
    # Five steps are trained in a scratch folder, so even a step of 0.2 ms makes over an hour.
    assert "of training for 2 cells" in line and "That is over an hour" in line
    assert "--axis seed=[...] with fewer than its 2 values" in line
    assert "--jobs 2" in line and "device=cuda" in line
    assert not (tmp_path / "out" / "runs").exists()


def test_study_toy2d_names_its_own_flags_to_shorten_it():
    from convergan.studies.estimate import Overrides

    flags = Overrides("fewer --methods, --problems or --seeds", "--steps {steps}", "--jobs {jobs}")
    line, long = sweep_estimate_message(
        work([2000] * 120, jobs=1, most_jobs=2, axis=("method", 6)),
        StepRate(0.1, TIMED, False),
        flags,
    )
    # 120 * 2000 * 0.1 = 24,000 s; 600 s / 120 cells / 0.1 s = 50 steps
    assert long and "--axis" not in line and "train.steps" not in line
    assert "fewer cells (fewer --methods, --problems or --seeds)" in line
    assert "--steps 50 (about 10 min in all)" in line and "--jobs 2 (more cells at once)" in line
