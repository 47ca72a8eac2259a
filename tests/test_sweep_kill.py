"""A sweep killed with ``kill -9`` at a random moment and run again loses nothing: real
processes, real kills. The killed sweep's workers stop (none trains on as an orphan), the
report of the partial sweep counts only finished runs, and the re-run ends with every cell's
``metrics.jsonl`` and the report's ``results.csv`` equal to an uninterrupted sweep's."""

import csv
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convergan.studies.launch import run_sweep
from convergan.studies.report import write_report
from convergan.studies.spec import load_sweep_spec
from convergan.studies.workers import stop_orphans

ROOT = Path(__file__).resolve().parents[1]
CELLS = ["method=gan,seed=0", "method=gan,seed=1", "method=r1,seed=0", "method=r1,seed=1"]
TINY = {
    "model.width": 8,
    "model.depth": 1,
    "data.batch_size": 64,
    "eval.w1_samples": 200,
    "train.sample_every": 0,
    "train.steps": 600,
    "train.log_every": 5,
    "train.checkpoint_every": 100,
    "train.eval_every": 150,
}


def write_spec(path: Path, launcher: dict, axes: dict | None = None, **overrides) -> Path:
    spec = {
        "name": "kill",
        "base": str(ROOT / "configs/toy2d/circle.yaml"),
        "axes": axes or {"method": ["gan", "r1"], "seed": [0, 1]},
        "overrides": {**TINY, **overrides},
        "launcher": launcher,
    }
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


def sweep_command(spec: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "convergan", "sweep", str(spec), "--out", str(out)]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same cells, uninterrupted, in this process: their logs and report."""
    threads = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("reference")
    spec = load_sweep_spec(write_spec(folder / "debug.yaml", {"name": "debug"}))
    try:
        assert run_sweep(spec, folder / "out", progress=False) == {"done": 4}
    finally:
        torch.set_num_threads(threads)
    write_report(folder / "out")
    return folder / "out"


def logs(out: Path) -> dict[str, str]:
    return {cell: (out / "runs" / cell / "metrics.jsonl").read_text() for cell in CELLS}


def results(out: Path) -> list[dict]:
    """results.csv without the training time (wall clock, never equal)."""
    with (out / "report" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in rows]


def records(out: Path) -> dict[str, dict | None]:
    """Each cell's cell.json as written (None before its first start)."""
    found = {}
    for cell in CELLS:
        path = out / "runs" / cell / "cell.json"
        found[cell] = json.loads(path.read_text()) if path.is_file() else None
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line holds ``text`` (the killed sweep's workers and
    submitit controllers name their sweep's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in command and running(int(entry.name)):
                found.append(int(entry.name))
    return found


def logged_rows(out: Path) -> int:
    total = 0
    for path in (out / "runs").glob("*/metrics.jsonl") if (out / "runs").is_dir() else []:
        try:
            total += path.read_bytes().count(b"\n")
        except OSError:
            pass
    return total


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.slow  # a sweep in a subprocess, killed and run again
def test_a_sweep_killed_at_a_random_moment_and_run_again_loses_nothing(tmp_path, reference, seed):
    spec = write_spec(tmp_path / "local.yaml", {"name": "local", "jobs": 1})
    out = tmp_path / "out"
    # The moment of the kill: a seeded random point of the sweep's progress (a fraction of
    # the rows the whole sweep logs), so it falls inside the run however loaded the machine.
    total = sum(text.count("\n") for text in logs(reference).values())
    moment = int(random.Random(seed).uniform(0.05, 0.5) * total)
    sweep = subprocess.Popen(
        [*sweep_command(spec, out), "--no-progress"], env=ENV, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while logged_rows(out) < moment and sweep.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(sweep.pid, signal.SIGKILL)  # `kill -9` of the sweep alone, as a user would
    killed = time.monotonic()
    sweep.wait()
    workers = {r["pid"] for r in records(out).values() if r}
    workers |= {int(p.stem.split("-")[1]) for p in (out / "claims").glob("*/worker-*.pid")}
    assert workers, "the sweep was killed before it started a worker"

    # Its workers notice and stop within a moment (at least half the sweep's training was
    # left: orphans would still be at it), and no submitit controller lingers either.
    while time.monotonic() < killed + 3 and any(running(pid) for pid in workers):
        time.sleep(0.05)
    assert not [pid for pid in workers if running(pid)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and processes_mentioning(str(out)):
        time.sleep(0.1)
    assert not processes_mentioning(str(out))

    # The partial sweep's report counts finished runs only and says so.
    states = records(out)
    finished = {cell for cell, record in states.items() if record and record["status"] == "done"}
    assert len(finished) < len(CELLS), "killed after the sweep ended"
    report = write_report(out)
    assert "Partial sweep" in (report.out / "report.md").read_text()
    with (report.out / "summary.csv").open() as f:
        summary = {row["method"]: row for row in csv.DictReader(f)}
    for method, row in summary.items():
        cells = [c for c in CELLS if c.startswith(f"method={method},")]
        done = [c for c in cells if c in finished]
        assert int(row["unfinished"]) == len(cells) - len(done)
        assert int(row["final eval/w1 n"]) == len(done)
        bests = [
            min(json.loads(line)["eval/w1"] for line in logs_of(out, c) if "eval/w1" in line)
            for c in done
        ]
        if bests:
            assert math.isclose(float(row["best eval/w1 mean"]), sum(bests) / len(bests))
        else:
            assert row["best eval/w1 mean"] == ""

    # Run again: every cell finishes, exactly as if never interrupted.
    rerun = subprocess.run(
        [*sweep_command(spec, out), "--no-progress"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert [r["status"] for r in records(out).values()] == ["done"] * 4
    assert logs(out) == logs(reference)
    write_report(out)
    assert results(out) == results(reference)


def logs_of(out: Path, cell: str) -> list[str]:
    path = out / "runs" / cell / "metrics.jsonl"
    return path.read_text().splitlines() if path.is_file() else []


def test_the_next_sweep_stops_workers_that_outlived_their_sweep(tmp_path):
    """A worker that does not watch its sweep (an older convergan, or one the watch has not
    stopped yet) is stopped by the next sweep into the folder, which names it; one that
    stops by itself within the grace period is waited for."""
    out = tmp_path / "out"
    claims = out / "claims" / "earlier"
    claims.mkdir(parents=True)
    stubborn = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    quitting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    for process in (stubborn, quitting):
        (claims / f"worker-{process.pid}.pid").write_text("")
    lines: list[str] = []
    started = time.monotonic()
    try:
        found = stop_orphans(out, lines.append, grace=3.0)
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
        assert quitting.wait(timeout=10) == 0  # stopped by itself, not killed
    finally:
        for process in (stubborn, quitting):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert sorted(found) == sorted([stubborn.pid, quitting.pid])
    assert time.monotonic() - started < 15
    text = "\n".join(lines)
    assert str(stubborn.pid) in lines[0] and str(quitting.pid) in lines[0]
    assert f"1 stopped themselves, 1 killed (pid {stubborn.pid})" in text
    assert not list((out / "claims").iterdir())  # finished claims are cleared


def test_a_cell_held_by_a_live_process_is_left_to_it(tmp_path, capsys):
    """The sweep never writes the record of (nor trains, nor reports as done) a cell whose
    run directory a live process holds; once it is free, the next sweep runs it."""
    axes = {"method": ["gan"], "seed": [0, 1]}
    steps = {"train.steps": 40, "train.eval_every": 20, "train.checkpoint_every": 20}
    spec = load_sweep_spec(write_spec(tmp_path / "debug.yaml", {"name": "debug"}, axes, **steps))
    out = tmp_path / "out"
    held = out / "runs" / CELLS[1]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from convergan.training.lock import RunLock; "
            f"lock = RunLock({str(held)!r}); lock.acquire(); print('locked', flush=True); "
            "sys.stdin.read()",
        ],
        env=ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    threads = torch.get_num_threads()
    try:
        assert holder.stdout.readline().strip() == "locked"
        counts = run_sweep(spec, out, progress=False)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        torch.set_num_threads(threads)
    assert counts == {"done": 1, "pending": 1}
    printed = capsys.readouterr()
    assert f"{CELLS[1]}: not run, held by pid {holder.pid}" in printed.out + printed.err
    assert not (held / "cell.json").exists() and not (held / "metrics.jsonl").exists()
    try:
        assert run_sweep(spec, out, progress=False) == {"done": 2}
    finally:
        torch.set_num_threads(threads)
    assert json.loads(logs_of(out, CELLS[1])[-1])["step"] == 40


@pytest.mark.slow  # runs a reference sweep
def test_a_sample_image_cut_off_by_a_kill_does_not_stop_the_report(tmp_path, reference):
    """A worker killed while it wrote its final samples leaves a truncated PNG; the report of
    the partial sweep still draws, showing that run's status in its panel."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(reference, out)
    image = sorted((out / "runs" / CELLS[0] / "samples").glob("step-*.png"))[-1]
    image.write_bytes(image.read_bytes()[:40])
    report = write_report(out)
    assert any(name.startswith("samples") for name, _, _ in report.figures)
