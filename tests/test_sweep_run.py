"""Running sweeps: local subprocess workers killed midway and resumed, isolated failures,
refused spec changes, the status table, and the SLURM job array submitit would submit."""

import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from convergan.cli.main import main
from convergan.studies.executors import sbatch_script
from convergan.studies.launch import run_sweep
from convergan.studies.results import read_sweep
from convergan.studies.spec import load_sweep_spec, with_launcher
from convergan.studies.status import status_table

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "model.width": 16,
    "model.depth": 1,
    "data.batch_size": 64,
    "eval.w1_samples": 200,
    "train.sample_every": 0,
    "train.log_every": 20,
}


def write_spec(path: Path, axes: dict, launcher: dict, **overrides) -> Path:
    spec = {
        "name": "tiny",
        "base": str(ROOT / "configs/toy2d/circle.yaml"),
        "axes": axes,
        "overrides": {**TINY, **overrides},
        "launcher": launcher,
    }
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def metrics_of(sweep_dir: Path) -> dict[str, list[dict]]:
    """Every cell's metrics.jsonl records, as written."""
    return {
        run.name: [json.loads(line) for line in (run.run_dir / "metrics.jsonl").open()]
        for run in read_sweep(sweep_dir).runs
    }


@pytest.mark.slow
def test_local_sweep_killed_midway_resumes_to_identical_results(tmp_path, one_thread):
    steps = {"train.steps": 80, "train.checkpoint_every": 20, "train.eval_every": 20}
    axes = {"method": ["gan", "r1"], "seed": [0, 1]}
    local = write_spec(tmp_path / "local.yaml", axes, {"name": "local", "jobs": 2}, **steps)
    debug = write_spec(tmp_path / "debug.yaml", axes, {"name": "debug"}, **steps)

    # The local launcher, killed (SIGKILL to its whole process group: the sweep and its
    # submitit workers) once a cell has a checkpoint but has not finished. A thread watches
    # for that moment while this process computes the reference.
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "convergan", "sweep", str(local), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, start_new_session=True, env=env, stderr=subprocess.DEVNULL)

    def kill_midway():
        deadline = time.monotonic() + 180
        try:
            while time.monotonic() < deadline and process.poll() is None:
                runs = list((out / "runs").glob("*")) if (out / "runs").exists() else []
                started = [r for r in runs if list((r / "checkpoints").glob("step-*.pt"))]
                finished = [r for r in runs if '"done"' in _text(r / "cell.json")]
                if any(r not in finished for r in started):
                    break
                time.sleep(0.05)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    watcher = threading.Thread(target=kill_midway)
    watcher.start()
    # The reference: the same cells, uninterrupted, in this process.
    try:
        counts = run_sweep(load_sweep_spec(debug), tmp_path / "reference", progress=False)
    finally:
        watcher.join()
    assert counts == {"done": 4}
    for _ in range(100):  # SIGKILL takes effect asynchronously: wait for the workers to go
        sweep = read_sweep(out)
        statuses = [r.status for r in sweep.runs]
        if "running" not in statuses:
            break
        time.sleep(0.1)
    assert "interrupted" in statuses, statuses  # killed mid-run, after a checkpoint
    assert "interrupted" in status_table(out)

    # Re-running the same command finishes the sweep: done cells are skipped, interrupted
    # ones resume from their checkpoint.
    done_before = {r.name: r.record["attempts"] for r in sweep.runs if r.status == "done"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    resumed = read_sweep(out)
    assert [r.status for r in resumed.runs] == ["done"] * 4
    for run in resumed.runs:
        if run.name in done_before:
            assert run.record["attempts"] == done_before[run.name]  # skipped, not rerun
    assert any(r.record["attempts"] == 2 for r in resumed.runs)
    assert metrics_of(out) == metrics_of(tmp_path / "reference")


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_failed_and_diverged_cells_are_recorded_and_the_others_finish(
    tmp_path, monkeypatch, one_thread
):
    import convergan.runs as runs_api

    real_train = runs_api.train

    def train(config, **kwargs):
        if config.seed == 1 and config.method.to_dict()["name"] == "gan":
            raise RuntimeError("simulated crash\nsecond line")
        return real_train(config, **kwargs)

    monkeypatch.setattr(runs_api, "train", train)
    spec = write_spec(tmp_path / "s.yaml", {"method": ["gan"], "seed": [0, 1]}, {"name": "debug"})
    spec_data = json.loads(spec.read_text())
    spec_data["zip"] = [{"optim.g.lr": [1e-4, 1e10], "optim.d.lr": [1e-4, 1e10]}]
    spec_data["overrides"]["train.steps"] = 20
    spec.write_text(json.dumps(spec_data))
    code = main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 1  # some cell failed
    runs = {r.name: r for r in read_sweep(tmp_path / "out").runs}
    assert runs["method=gan,seed=0,optim.g.lr=0.0001,optim.d.lr=0.0001"].status == "done"
    assert (
        runs["method=gan,seed=0,optim.g.lr=10000000000.0,optim.d.lr=10000000000.0"].status
        == "diverged"
    )
    assert (
        "training diverged at step"
        in runs["method=gan,seed=0,optim.g.lr=10000000000.0,optim.d.lr=10000000000.0"].error
    )
    crashed = runs["method=gan,seed=1,optim.g.lr=0.0001,optim.d.lr=0.0001"]
    assert crashed.status == "failed" and crashed.error == "RuntimeError: simulated crash"
    assert "Traceback" in (crashed.run_dir / "error.txt").read_text()
    table = status_table(tmp_path / "out")
    assert "2 failed" in table and "1 diverged" in table and "1 done" in table

    # Re-running skips all (final) cells; --retry-failed runs the crashed ones again.
    monkeypatch.setattr(runs_api, "train", real_train)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    assert read_sweep(tmp_path / "out").runs[2].record["attempts"] == 1
    main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--retry-failed", "--no-progress"])
    runs = {r.name: r for r in read_sweep(tmp_path / "out").runs}
    assert runs["method=gan,seed=1,optim.g.lr=0.0001,optim.d.lr=0.0001"].status == "done"
    assert runs["method=gan,seed=1,optim.g.lr=0.0001,optim.d.lr=0.0001"].record["attempts"] == 2


def test_a_spec_change_that_alters_a_finished_cell_is_refused(tmp_path, capsys, one_thread):
    spec = write_spec(tmp_path / "s.yaml", {"seed": [0]}, {"name": "debug"}, **{"train.steps": 4})
    out = str(tmp_path / "out")
    assert main(["sweep", str(spec), "--out", out, "--no-progress"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(spec), "--out", out, "train.steps=8"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convergan: error: cell seed=0 already ran with another config")
    assert "\n" not in err
    assert "train.steps: 4 -> 8" in err
    # Adding a seed is not a change of the finished cell: it runs the new one only.
    assert main(["sweep", str(spec), "--out", out, "--axis", "seed=[0,1]", "--no-progress"]) == 0
    assert [r.record["attempts"] for r in read_sweep(out).runs] == [1, 1]
    # The report of a real sweep records what ran, command-line axes included.
    from convergan.studies.report import write_report

    md = (write_report(out).out / "report.md").read_text()
    assert "## The sweep as run" in md and "train.steps: 4" in md and "- 1" in md


def test_usage_errors_are_one_line(tmp_path, capsys):
    for argv, message in (
        (["sweep", str(tmp_path / "missing.yaml")], "sweep spec not found"),
        (["sweep", "status", str(tmp_path)], "neither a sweep directory"),
        (["report", str(tmp_path / "nope")], "no such directory"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and message in err and "\n" not in err


FAKE_SBATCH = """#!/bin/sh
cp "$1" "{folder}/submitted.sh"
echo "Submitted batch job 4242"
"""


def test_slurm_submits_one_job_array_with_the_spec_parameters(tmp_path, monkeypatch, capsys):
    """submitit's real SLURM path, with ``sbatch`` and ``srun`` replaced by scripts that keep
    the sbatch file: the job array and its resources are what the spec asks for."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(folder=tmp_path))
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod((bin_dir / tool).stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    slurm = {
        "partition": "gpu",
        "time_minutes": 30,
        "gpus_per_node": 1,
        "cpus_per_task": 4,
        "mem_gb": 8,
        "array_parallelism": 2,
        "account": "gans",
        "setup": ["module load cuda"],
    }
    spec_file = write_spec(
        tmp_path / "s.yaml",
        {"method": ["gan", "r1"], "seed": [0, 1, 2]},
        {"name": "slurm", "slurm": slurm},
        **{"train.steps": 4},
    )
    out = tmp_path / "out"
    code = main(["sweep", str(spec_file), "--out", str(out), "--no-wait"])
    assert code == 0
    script = (tmp_path / "submitted.sh").read_text()
    expected = [
        "#SBATCH --array=0-5%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=30",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8GB",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --account=gans",
        "#SBATCH --job-name=tiny",
        "module load cuda",
    ]
    for line in expected:
        assert line in script, line
    assert "submitit.core._submit" in script
    pickles = list((out / "submitit").glob("*/*_submitted.pkl"))
    assert len(pickles) == 6  # one pickled cell per array task
    assert "submitted job array 4242 with 6 cells" in capsys.readouterr().err

    # The dry run renders the same sbatch file with submitit's template and submits nothing.
    spec = with_launcher(load_sweep_spec(spec_file), name="slurm")
    dry = sbatch_script(spec, tmp_path / "dry", 6)
    for line in expected:
        assert line in dry, line
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "dry"), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "#SBATCH --array=0-5%2" in printed and "method=r1,seed=2" in printed
    assert not (tmp_path / "dry" / "submitit").exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.slow  # two sweeps in subprocesses
def test_a_second_sweep_into_a_running_ones_folder_is_refused_and_no_row_is_lost(
    tmp_path, one_thread
):
    steps = {"train.steps": 300, "train.checkpoint_every": 50, "train.eval_every": 100}
    axes = {"method": ["gan", "r1"], "seed": [0]}
    local = write_spec(tmp_path / "local.yaml", axes, {"name": "local", "jobs": 1}, **steps)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "convergan", "sweep", str(local), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    first = subprocess.Popen([*command, "--no-progress"], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if f'"pid": {first.pid},' in _text(out / ".lock"):
                break
            time.sleep(0.02)
        assert first.poll() is None, "the first sweep ended before the second started"
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        running_still = first.poll() is None
    finally:
        assert first.wait(timeout=300) == 0
    assert running_still
    assert second.returncode == 2
    err = second.stderr.strip()
    assert "\n" not in err and "in use by another sweep" in err and f"pid {first.pid} " in err

    # The first sweep's rows are all there: its runs equal the same cells run alone.
    debug = write_spec(tmp_path / "debug.yaml", axes, {"name": "debug"}, **steps)
    assert run_sweep(load_sweep_spec(debug), tmp_path / "reference", progress=False) == {"done": 2}
    assert metrics_of(out) == metrics_of(tmp_path / "reference")
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "2 already final, 0 to run" in again.stderr


def test_a_grid_of_a_million_cells_is_refused_within_seconds(tmp_path, capsys, monkeypatch):
    """Counted, not built: 2 bases x 10^5 (five axes of 10) x a zipped group of 5 rows."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to ask on
    spec = {
        "name": "huge",
        "base": {
            "a": str(ROOT / "configs/toy2d/circle.yaml"),
            "b": str(ROOT / "configs/toy2d/circle.yaml"),
        },
        "axes": {
            f"train.{key}": list(range(1, 11))
            for key in ("steps", "log_every", "eval_every", "keep_last")
        },
        "zip": [{"optim.g.lr": [1e-4, 2e-4, 3e-4, 4e-4, 5e-4], "optim.d.lr": [1e-4] * 5}],
    }
    spec["axes"]["seed"] = list(range(10))
    path = tmp_path / "huge.yaml"
    path.write_text(json.dumps(spec))
    out = tmp_path / "out"
    for extra in ([], ["--dry-run"]):
        started = time.monotonic()
        with pytest.raises(SystemExit) as exit_info:
            main(["sweep", str(path), "--out", str(out), *extra])
        assert time.monotonic() - started < 20
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and "\n" not in err
        assert "1,000,000 cells (2 x 10 x 10 x 10 x 10 x 10 x 5)" in err, err
        assert "--max-cells" in err
    assert not out.exists()  # refused before anything was written

    # The limit is a flag; above 1,000 cells a sweep without a terminal needs --yes.
    small = write_spec(tmp_path / "small.yaml", {"seed": list(range(12))}, {"name": "debug"})
    with pytest.raises(SystemExit):
        main(["sweep", str(small), "--out", str(out), "--max-cells", "10"])
    assert "the grid has 12 cells" in capsys.readouterr().err
    assert main(["sweep", str(small), "--out", str(out), "--max-cells", "12", "--dry-run"]) == 0
    assert "seed=11" in capsys.readouterr().out
    many = write_spec(tmp_path / "many.yaml", {"seed": list(range(1001))}, {"name": "debug"})
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(many), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and "\n" not in err
    assert "1,001 cells (more than 1,000); pass --yes" in err
    assert not (out / "runs").exists()
