"""The sweep's wall-time estimate and what its finished cells record: each local worker's
start-up (Python, torch, convergan) is counted once, and the device a finished cell trained on
is read from its record (``device: auto`` resolved), not from its config. Built on synthetic
cell records: nothing here trains."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from convergan.studies import cells, estimate, workers
from convergan.studies.cells import process_age, write_cell
from convergan.studies.estimate import StepRate, SweepWork, estimate_line, sweep_estimate_message
from convergan.studies.planning import plan
from convergan.studies.spec import load_sweep_spec
from convergan.training.loop import TrainResult

ROOT = Path(__file__).resolve().parents[1]


def sweep(tmp_path: Path, launcher: str, steps: int, seeds: int, device: str = "cpu"):
    """The spec and planned cells of a sweep over ``seeds`` seeds (nothing on disk yet)."""
    spec = {
        "name": "tiny",
        "base": str(ROOT / "configs/toy2d/circle.yaml"),
        "axes": {"seed": list(range(seeds))},
        "overrides": {"model.width": 8, "train.steps": steps, "device": device},
        "launcher": {"name": launcher},
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(spec))
    loaded = load_sweep_spec(path)
    return loaded, plan(loaded, tmp_path / "out")


def finished(cell, train_seconds: float, steps: int = 100, **record) -> None:
    """A synthetic record of a cell done in one attempt."""
    done = {"status": "done", "attempts": 1, "steps": steps, "train_seconds": train_seconds}
    write_cell(cell.run_dir, {**done, **record})


def test_one_worker_start_up_is_added_to_the_wall_time_and_said():
    work = SweepWork([20, 20, 20, 20], [None] * 4, [0] * 4, 2, 2, None)
    # 4 cells of 20 steps at 1 s, two workers: 40 s each, after 3 s of start-up once
    line, _ = sweep_estimate_message(work, StepRate(1.0, "timed", False, startup_seconds=3.0))
    assert line == (
        "wall time: about 43 s of training for 4 cells, 2 at a time (80 steps at 1 s a "
        "step on the CPU, 3 s start-up a worker; timed)"
    )


@pytest.mark.parametrize("launcher", ["local", "debug"])
def test_the_start_up_is_read_from_the_records_of_a_workers_first_cell(tmp_path, launcher):
    spec, planned = sweep(tmp_path, launcher, steps=100, seeds=4)
    finished(planned[0], 10.0, startup_seconds=3.0, device="cpu")  # a worker's first cell
    finished(planned[1], 20.0, startup_seconds=None, device="cpu")  # its second
    line = estimate_line(spec, planned, planned[2:], jobs=1, most_jobs=1, probe=False)
    # 0.1 and 0.2 s a step: 0.15; 2 cells x 100 steps one at a time = 30 s, + 3 s start-up for
    # the local launcher's worker process; the debug launcher trains in the sweep's process.
    startup = 3.0 if launcher == "local" else 0.0
    expected = f"about {round(30 + startup)} s of training for 2 cells"
    assert expected in line and "200 steps at 0.15 s a step on the CPU" in line
    assert ("3 s start-up a worker" in line) == (launcher == "local")


def test_a_local_sweep_without_recorded_start_up_times_one(tmp_path, monkeypatch):
    spec, planned = sweep(tmp_path, "local", steps=100, seeds=2)
    monkeypatch.setattr(
        estimate, "probe_rate", lambda cell, threads: StepRate(0.5, "probed", False)
    )
    monkeypatch.setattr(estimate, "worker_startup_seconds", lambda threads: 7.0)
    line = estimate_line(spec, planned, planned, jobs=2, most_jobs=2)
    # two workers at once: 100 steps x 0.5 s each, after 7 s of start-up
    assert "about 57 s of training for 2 cells, 2 at a time" in line
    assert "7 s start-up a worker; probed)" in line


def test_timing_a_worker_start_up_runs_a_fresh_worker(monkeypatch):
    assert estimate.worker_startup_seconds(1) > 0  # the command ran (0 means it failed)
    monkeypatch.setattr(estimate.sys, "executable", "/nonexistent/python")
    assert estimate.worker_startup_seconds(1) == 0.0  # said by the workers themselves, later


def test_a_workers_first_cell_alone_is_marked_as_starting_the_process(tmp_path, monkeypatch):
    seen = []

    def fake_run_cell(run_dir, config_dict, threads, sweep, fresh_process=False):
        seen.append((Path(run_dir).name, fresh_process))
        return {"status": "done"}

    monkeypatch.setattr(workers, "run_cell", fake_run_cell)
    monkeypatch.setattr(workers, "_watch_sweep", lambda sweep: None)
    cell_list = [(name, str(tmp_path / name), {}) for name in ("a", "b", "c")]
    (tmp_path / "own").mkdir()
    workers.run_worker(str(tmp_path / "own"), cell_list, 1, {"pid": os.getpid() + 1})
    assert seen == [("a", True), ("b", False), ("c", False)]
    seen.clear()  # the debug launcher: the worker is the sweep's own process
    (tmp_path / "debug").mkdir()
    workers.run_worker(str(tmp_path / "debug"), cell_list, 1, {"pid": os.getpid()})
    assert seen == [("a", False), ("b", False), ("c", False)]


@pytest.mark.skipif(not Path("/proc/uptime").is_file(), reason="process ages come from /proc")
def test_process_age_is_the_time_since_the_process_started():
    before = time.monotonic()
    child = subprocess.Popen(["sleep", "30"])
    after = time.monotonic()
    try:
        time.sleep(0.3)
        low = time.monotonic() - after
        age = process_age(child.pid)
        high = time.monotonic() - before
    finally:
        child.kill()
        child.wait()
    tick = 1 / os.sysconf("SC_CLK_TCK")  # /proc counts in clock ticks
    assert low - 2 * tick <= age <= high + 2 * tick


def test_a_finished_cell_records_its_device_and_its_worker_start_up(tmp_path, monkeypatch):
    import convergan.runs

    spec, planned = sweep(tmp_path, "local", steps=5, seeds=1, device="auto")
    cell = planned[0]

    def fake_train(config, resume=False, progress=None):  # trained "on a GPU"
        return TrainResult(Path(config.out_dir), 5, {}, True, "cuda:0")

    monkeypatch.setattr(convergan.runs, "train", fake_train)
    monkeypatch.setattr(cells, "process_age", lambda pid=None: 4.25)
    cells.run_cell(str(cell.run_dir), cell.config_dict, 1, None, fresh_process=True)
    record = cells.read_cell(cell.run_dir)
    assert record["status"] == "done" and record["device"] == "cuda:0"
    assert record["startup_seconds"] == 4.25
    # A second attempt in a process already started keeps neither of the first's.
    monkeypatch.setattr(convergan.runs, "train", lambda *a, **k: 1 / 0)
    cells.run_cell(str(cell.run_dir), cell.config_dict, 1, None)
    record = cells.read_cell(cell.run_dir)
    assert record["status"] == "failed" and record["device"] is None
    assert record["startup_seconds"] is None


def cells_on_two_devices(tmp_path):
    """A ``device: auto`` sweep: two cells done on a GPU at 0.01 s a step, one on a CPU at
    1 s a step, one from before records named the device (unknown: not used); two to run."""
    spec, planned = sweep(tmp_path, "debug", steps=1_000_000, seeds=6, device="auto")
    finished(planned[0], 1.0, device="cuda:0")
    finished(planned[1], 1.0, device="cuda:0")
    finished(planned[2], 100.0, device="cpu")
    finished(planned[3], 50.0)  # no device: a record of an older version
    return spec, planned, planned[4:]


def test_device_auto_cells_that_trained_on_a_gpu_are_read_as_gpu_cells(tmp_path, monkeypatch):
    spec, planned, todo = cells_on_two_devices(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # auto resolves to cuda
    line = estimate_line(spec, planned, todo, jobs=1, most_jobs=1, probe=False)
    # 2 x 1,000,000 steps x 0.01 s = 20,000 s: long, but no GPU to suggest; one at a time.
    assert "2,000,000 steps at 0.01 s a step on the GPU; from 2 finished cells" in line
    assert "about 5 h 33 min" in line and "device=cuda" not in line


def test_device_auto_cells_run_on_a_cpu_take_the_cpu_cells_rate(tmp_path, monkeypatch):
    spec, planned, todo = cells_on_two_devices(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = estimate_line(spec, planned, todo, jobs=1, most_jobs=1, probe=False)
    assert "2,000,000 steps at 1 s a step on the CPU; from 1 finished cell)" in line
    assert "a GPU (device=cuda)" in line
