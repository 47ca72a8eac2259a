"""Running a sweep: plan the cells, refuse changed ones, submit the rest with submitit.

``local`` runs each cell as a subprocess (submitit's ``LocalExecutor``), at most ``jobs`` at a
time; ``slurm`` submits the cells as one job array (``#SBATCH --array=0-N%parallelism``);
``debug`` runs them in this process, one after the other (submitit's ``DebugExecutor``).
Whatever the launcher, a cell is :func:`convergan.studies.cells.run_cell` on one run
directory, so a sweep can be interrupted anywhere and re-run: finished cells are skipped,
interrupted ones resume from their last checkpoint.

Cores: a local sweep runs ``jobs`` cells of ``threads`` torch threads each and never more
than the cores it may use (``os.sched_getaffinity``); asking for more is lowered with a note.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convergan.config import load_config
from convergan.config.schema import Config, ConfigError, config_to_dict
from convergan.studies.cells import (
    FINAL,
    cell_status,
    comparable,
    config_difference,
    last_checkpoint_step,
    read_cell,
    run_cell,
    write_cell,
)
from convergan.studies.grid import Cell, cell_overrides, expand
from convergan.studies.spec import SweepSpec

RUNS = "runs"
SWEEP_FILE = "sweep.json"


class SweepChanged(ConfigError):
    """The spec would change a cell that already ran."""


@dataclass
class PlannedCell:
    cell: Cell
    run_dir: Path
    config: Config
    status: str  # as on disk before this sweep: pending, interrupted, done, ...

    @property
    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def local_jobs(spec: SweepSpec, cores: int | None = None) -> tuple[int, str | None]:
    """Cells at once for a local sweep and, when the spec asked for more, why it got fewer."""
    cores = cores or available_cores()
    threads = spec.launcher.threads
    most = max(1, cores // threads)
    asked = spec.launcher.jobs
    if asked is None:
        return most, None
    if asked > most:
        return most, (
            f"note: {asked} jobs x {threads} threads would oversubscribe {cores} cores; "
            f"running {most} at a time"
        )
    return asked, None


def plan(spec: SweepSpec, out_dir: Path) -> list[PlannedCell]:
    """Every cell with its validated config and current status. Raises :class:`ConfigError`
    naming the cell for a bad axis value, and :class:`SweepChanged` when the spec would
    change a cell that already started or finished."""
    planned = []
    for cell in expand(spec):
        run_dir = Path(out_dir) / RUNS / cell.name
        try:
            config = load_config(cell.base, cell_overrides(spec, cell, run_dir))
        except ConfigError as error:
            raise ConfigError(f"cell {cell.name}: {error}") from None
        record = read_cell(run_dir)
        status = cell_status(record)
        started = status in FINAL or last_checkpoint_step(run_dir) is not None
        if record is not None and started:
            changes = config_difference(
                comparable(record.get("config", {})), comparable(config_to_dict(config))
            )
            if changes:
                shown = "; ".join(changes[:3]) + ("; ..." if len(changes) > 3 else "")
                raise SweepChanged(
                    f"cell {cell.name} already ran with another config ({shown}); "
                    f"use another --out or delete {run_dir}"
                )
        planned.append(PlannedCell(cell, run_dir, config, status))
    return planned


def write_sweep_record(spec: SweepSpec, out_dir: Path, planned: list[PlannedCell]) -> None:
    """``sweep.json``: what ``status`` and ``report`` read (the cells, in grid order, with
    their axis values) and the spec it came from."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "name": spec.name,
        "description": spec.description,
        "spec": str(spec.source) if spec.source else None,
        "spec_text": spec.source.read_text(encoding="utf-8") if spec.source else None,
        # What actually ran, command-line overrides and axes included.
        "effective_spec": {
            "base": {k or "base": str(v) for k, v in spec.bases.items()},
            "axes": spec.axes,
            "zip": spec.zipped,
            "overrides": spec.overrides,
            "launcher": dataclasses.asdict(spec.launcher),
        },
        "axes": spec.axis_keys,
        "bases": {k: str(v) for k, v in spec.bases.items()},
        "report": {"metric": spec.report.metric, "axis": spec.report.axis},
        "launcher": spec.launcher.name,
        "cells": [
            {"name": p.cell.name, "values": dict(p.cell.values), "run_dir": f"{RUNS}/{p.cell.name}"}
            for p in planned
        ],
    }
    tmp = out_dir / f".{SWEEP_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, out_dir / SWEEP_FILE)


def to_run(planned: list[PlannedCell], retry_failed: bool = False) -> list[PlannedCell]:
    again = ("pending", "interrupted", "failed") if retry_failed else ("pending", "interrupted")
    return [p for p in planned if p.status in again]


def run_sweep(
    spec: SweepSpec,
    out_dir: Path,
    *,
    retry_failed: bool = False,
    wait: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> dict[str, int]:
    """Run every cell that is not final yet; returns the count of cells per status."""
    out_dir = Path(out_dir)
    planned = plan(spec, out_dir)
    write_sweep_record(spec, out_dir, planned)
    todo = to_run(planned, retry_failed)
    skipped = len(planned) - len(todo)
    log(
        f"sweep {spec.name}: {len(planned)} cells, {skipped} already final, "
        f"{len(todo)} to run ({spec.launcher.name} launcher) -> {out_dir}"
    )
    if todo:
        launcher = spec.launcher.name
        if launcher == "slurm":
            submit_slurm(spec, out_dir, todo, log)
            if not wait:
                log(f"submitted; follow it with `convergan sweep status {out_dir}`")
                return _counts(planned)
            _wait_for_records(todo, progress, log)
        else:
            _run_local(spec, out_dir, todo, len(planned), skipped, progress, log)
    return _counts(plan(spec, out_dir))


def _counts(planned: list[PlannedCell]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in planned:
        status = cell_status(read_cell(p.run_dir))
        counts[status] = counts.get(status, 0) + 1
    return counts


def make_executor(spec: SweepSpec, out_dir: Path):
    """submitit's ``AutoExecutor`` for the spec's launcher, with its parameters."""
    import submitit

    launcher = spec.launcher
    executor = submitit.AutoExecutor(folder=out_dir / "submitit" / "%j", cluster=launcher.name)
    if launcher.name == "local":
        executor.update_parameters(timeout_min=launcher.timeout_minutes, name=spec.name)
    elif launcher.name == "slurm":
        executor.update_parameters(**slurm_parameters(spec))
    return executor


def slurm_parameters(spec: SweepSpec) -> dict[str, Any]:
    """The spec's SLURM settings as submitit ``AutoExecutor`` parameters."""
    launcher = spec.launcher
    s = launcher.slurm
    params: dict[str, Any] = {
        "name": spec.name,
        "timeout_min": s.time_minutes,
        "nodes": s.nodes,
        "tasks_per_node": s.tasks_per_node,
        "cpus_per_task": s.cpus_per_task or launcher.threads,
        "gpus_per_node": s.gpus_per_node,
        "slurm_array_parallelism": s.array_parallelism,
    }
    if s.mem_gb is not None:
        params["mem_gb"] = s.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(s, key) is not None:
            params[f"slurm_{key}"] = getattr(s, key)
    if s.setup:
        params["slurm_setup"] = list(s.setup)
    if s.additional:
        params["slurm_additional_parameters"] = dict(s.additional)
    return params


def sbatch_script(spec: SweepSpec, out_dir: Path, n_cells: int) -> str:
    """The sbatch file submitit would submit for an array of ``n_cells`` (a dry run: rendered
    by submitit's own template, with nothing submitted)."""
    from submitit.slurm.slurm import _convert_mem, _make_sbatch_string

    translated = {
        "name": "job_name",
        "timeout_min": "time",
        "mem_gb": "mem",
        "tasks_per_node": "ntasks_per_node",
    }
    params = {}
    for key, value in slurm_parameters(spec).items():
        key = translated.get(key, key)
        params[key.removeprefix("slurm_")] = value
    if "mem" in params:
        params["mem"] = _convert_mem(params["mem"])
    folder = out_dir / "submitit" / "%j"
    command = f"{sys.executable} -u -m submitit.core._submit {folder}"
    return _make_sbatch_string(command=command, folder=folder, map_count=n_cells, **params)


def submit_slurm(spec: SweepSpec, out_dir: Path, todo: list[PlannedCell], log) -> list:
    """Submit ``todo`` as one job array; returns submitit's jobs."""
    executor = make_executor(spec, out_dir)
    threads = spec.launcher.threads
    with executor.batch():
        jobs = [executor.submit(run_cell, str(p.run_dir), p.config_dict, threads) for p in todo]
    log(f"submitted job array {jobs[0].job_id.split('_')[0]} with {len(jobs)} cells")
    return jobs


def _run_local(spec, out_dir, todo, total, skipped, show_progress, log) -> None:
    """Run ``todo`` on ``jobs`` submitit workers (subprocesses, or this process for
    ``debug``) that take cells from a shared queue, so Python and torch start once per worker
    rather than once per cell. A worker that dies is replaced while cells remain."""
    from tqdm import tqdm

    debug = spec.launcher.name == "debug"
    jobs, note = (1, None) if debug else local_jobs(spec)
    jobs = min(jobs, len(todo))
    if note:
        log(note)
    executor = make_executor(spec, out_dir)
    claims = out_dir / "claims" / uuid.uuid4().hex  # this invocation's queue
    claims.mkdir(parents=True)
    cells = [(p.cell.name, str(p.run_dir), p.config_dict) for p in todo]
    threads = spec.launcher.threads
    bar = tqdm(
        total=total,
        initial=skipped,
        desc=spec.name,
        unit="cell",
        disable=not show_progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    counts = {"done": 0, "diverged": 0, "failed": 0}
    reported: set[str] = set()
    started = time.time()

    def report_finished() -> None:
        for p in todo:
            if p.cell.name in reported:
                continue
            record = read_cell(p.run_dir) or {}
            if record.get("status") in FINAL and record.get("finished", 0) >= started:
                reported.add(p.cell.name)
                counts[record["status"]] += 1
                bar.update(1)
                bar.set_postfix(counts, refresh=True)
                detail = f": {record['error']}" if record.get("error") else ""
                seconds = record.get("train_seconds", 0.0)
                bar.write(f"{p.cell.name}: {record['status']} ({seconds:.1f} s){detail}")

    previous_handler = _terminate_as_interrupt()
    workers: list = []
    try:
        if debug:
            executor.submit(run_worker, str(claims), cells, threads).result()
        else:
            workers = [
                executor.submit(run_worker, str(claims), cells, threads) for _ in range(jobs)
            ]
        while workers:
            time.sleep(0.2)
            report_finished()
            for job in [w for w in workers if w.done()]:
                workers.remove(job)
                _check_worker(job, log)
                left = [c for c in cells if not (claims / c[0]).exists()]
                if left:  # the worker died with cells left: replace it
                    workers.append(executor.submit(run_worker, str(claims), cells, threads))
        report_finished()
        _fail_orphans(todo, started)
        report_finished()
    except KeyboardInterrupt:
        _stop(workers, claims)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        bar.close()


def _stop(workers: list, claims: Path) -> None:
    """Stop the workers now. submitit's ``cancel`` sends SIGINT, which a process started in
    the background (``nohup ... &``) ignores, and its task runner ignores SIGTERM (it waits for
    a requeue); so the cells' own processes get SIGKILL, then the controllers. The killed
    cells read as interrupted and resume from their checkpoints next time. Each worker left
    its pid in the claims folder."""
    for marker in claims.glob("worker-*.pid"):
        try:
            os.kill(int(marker.stem.split("-")[1]), signal.SIGKILL)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
    for job in workers:
        process = getattr(job, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()


def run_worker(claims: str, cells: list[tuple[str, str, dict]], threads: int) -> int:
    """A local worker: claim cells in order (``mkdir`` is atomic, so no two workers take the
    same one) and run each; returns how many it ran."""
    ran = 0
    (Path(claims) / f"worker-{os.getpid()}.pid").touch()
    for name, run_dir, config_dict in cells:
        try:
            os.mkdir(Path(claims) / name)
        except FileExistsError:
            continue
        run_cell(run_dir, config_dict, threads)
        ran += 1
    return ran


def _check_worker(job, log) -> None:
    try:
        job.result()
    except Exception as error:  # noqa: BLE001 - a worker killed from outside, say
        log(f"worker {job.job_id} died: {' '.join(str(error).split())[-300:]}")


def _fail_orphans(todo: list[PlannedCell], started: float) -> None:
    """Cells whose worker died mid-run (their record says running, the process is gone):
    recorded as failed, so the sweep's outcome is complete; the next sweep with
    ``--retry-failed`` resumes them from their checkpoint."""
    for p in todo:
        record = read_cell(p.run_dir)
        if record and record.get("started", 0) >= started and cell_status(record) == "interrupted":
            record.update(status="failed", error="its worker process died", finished=time.time())
            write_cell(p.run_dir, record)


def _terminate_as_interrupt():
    """SIGTERM (a `kill`, a closing terminal) cancels the running cells like Ctrl-C does."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return signal.getsignal(signal.SIGTERM)


def _wait_for_records(todo: list[PlannedCell], show_progress: bool, log) -> None:
    """For ``slurm --wait``: poll the cells' records until all are final."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="cell", disable=not show_progress, file=sys.stderr)
    pending = list(todo)
    while pending:
        still = [p for p in pending if cell_status(read_cell(p.run_dir)) not in FINAL]
        bar.update(len(pending) - len(still))
        pending = still
        if pending:
            time.sleep(10)
    bar.close()
