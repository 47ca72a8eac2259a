"""Running a sweep's cells on this machine: ``jobs`` submitit workers (subprocesses, or this
process for ``debug``) take cells from a shared queue, a progress bar reports each finished
cell, Ctrl-C or SIGTERM stops them all, and cells orphaned by a dead worker are recorded as
failed.

A sweep killed outright (``kill -9``, a lost terminal) cannot stop its workers, so each worker
watches its sweep and stops itself within a second of the sweep's death (the cell it was
training reads as interrupted and resumes from its last checkpoint). The next sweep into the
same directory stops any worker of an earlier sweep that still runs before it plans
(:func:`stop_orphans`), so no two processes ever train one cell.

Cores: a local sweep runs ``jobs`` cells of ``threads`` torch threads each and never more
than the cores it may use (``os.sched_getaffinity``); asking for more is lowered with a note.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

from convergan.studies.cells import (
    FINAL,
    cell_status,
    process_alive,
    process_start,
    read_cell,
    run_cell,
    write_cell,
)
from convergan.studies.executors import make_executor
from convergan.studies.planning import PlannedCell
from convergan.studies.spec import SweepSpec

CLAIMS = "claims"  # OUT/claims/<sweep invocation>/: claimed cells and worker pids
BUSY = "busy"  # OUT/claims/<invocation>/<cell>/busy: the cell's holder, when not run
WATCH_SECONDS = 0.25  # how often a worker checks that its sweep still runs
ORPHAN_GRACE = 10.0  # seconds a new sweep waits for an earlier sweep's workers to stop


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def most_local_jobs(spec: SweepSpec, cores: int | None = None) -> int:
    """The most cells a local sweep runs at once: the cores over each cell's threads."""
    return max(1, (cores or available_cores()) // spec.launcher.threads)


def local_jobs(spec: SweepSpec, cores: int | None = None) -> tuple[int, str | None]:
    """Cells at once for a local sweep and, when the spec asked for more, why it got fewer."""
    cores = cores or available_cores()
    threads = spec.launcher.threads
    most = most_local_jobs(spec, cores)
    asked = spec.launcher.jobs
    if asked is None:
        return most, None
    if asked > most:
        return most, (
            f"note: {asked} jobs x {threads} threads would oversubscribe {cores} cores; "
            f"running {most} at a time"
        )
    return asked, None


def run_local(spec, out_dir, todo, total, skipped, show_progress, log) -> None:
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
    claims = out_dir / CLAIMS / uuid.uuid4().hex  # this invocation's queue
    claims.mkdir(parents=True)
    cells = [(p.cell.name, str(p.run_dir), p.config_dict) for p in todo]
    threads = spec.launcher.threads
    sweep = {"pid": os.getpid(), "pid_start": process_start(os.getpid())}  # workers watch it
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
            busy = claims / p.cell.name / BUSY
            if busy.is_file():  # another process holds the cell: its record is left to it
                reported.add(p.cell.name)
                counts["not run"] = counts.get("not run", 0) + 1
                bar.update(1)
                bar.write(f"{p.cell.name}: not run, held by {busy.read_text(encoding='utf-8')}")
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

    looked = [0.0]

    def show_running() -> None:
        """The bar counts a running cell by the share of its steps done (read once a second),
        so it and its estimate move inside a cell, not only when one finishes."""
        if not show_progress or time.time() - looked[0] < 1.0:
            return
        looked[0] = time.time()
        bar.n = round(skipped + len(reported) + running_share(todo, reported, claims), 2)
        bar.refresh()

    previous_handler = _terminate_as_interrupt()
    workers: list = []
    try:
        if debug:
            executor.submit(run_worker, str(claims), cells, threads, sweep).result()
        else:
            workers = [
                executor.submit(run_worker, str(claims), cells, threads, sweep) for _ in range(jobs)
            ]
        while workers:
            time.sleep(0.2)
            report_finished()
            show_running()
            for job in [w for w in workers if w.done()]:
                workers.remove(job)
                _check_worker(job, log)
                left = [c for c in cells if not (claims / c[0]).exists()]
                if left:  # the worker died with cells left: replace it
                    workers.append(executor.submit(run_worker, str(claims), cells, threads, sweep))
        report_finished()
        _fail_orphans(todo, started)
        report_finished()
    except KeyboardInterrupt:
        _stop(workers, claims)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        bar.close()


def running_share(todo: list[PlannedCell], finished: set[str], claims: Path) -> float:
    """The cells claimed by a worker and not yet finished, each counted by the share of its
    planned steps that its metrics.jsonl has logged (its tail only: the files grow long);
    below 1 each, so a cell counts fully only when its record says it finished."""
    from convergan.training.directory import RunDirectory

    share = 0.0
    for p in todo:
        if p.cell.name not in finished and (claims / p.cell.name).is_dir():
            step = RunDirectory(p.run_dir).last_logged_step() or 0
            share += min(step / max(1, p.config.train.steps), 0.99)
    return share


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


def run_worker(
    claims: str, cells: list[tuple[str, str, dict]], threads: int, sweep: dict | None = None
) -> int:
    """A local worker: claim cells in order (``mkdir`` is atomic, so no two workers take the
    same one) and run each; returns how many it ran. In a process of its own it watches
    ``sweep`` (pid and start time of the sweep that started it) and stops when that is gone.
    It leaves its pid and start time in the claims folder, for :func:`_stop` and
    :func:`stop_orphans`; a cell held by another process gets a ``busy`` note there."""
    if sweep is not None and sweep["pid"] != os.getpid():
        _watch_sweep(sweep)
    (Path(claims) / f"worker-{os.getpid()}.pid").write_text(
        str(process_start(os.getpid()) or ""), encoding="utf-8"
    )
    ran = 0
    fresh = sweep is not None and sweep["pid"] != os.getpid()  # a process of its own, new
    for name, run_dir, config_dict in cells:
        try:
            os.mkdir(Path(claims) / name)
        except FileExistsError:
            continue
        result = run_cell(run_dir, config_dict, threads, sweep, fresh_process=fresh)
        fresh = False  # the next cell finds Python and torch started
        if result["status"] == "busy":
            (Path(claims) / name / BUSY).write_text(result["error"], encoding="utf-8")
        else:
            ran += 1
    return ran


def _watch_sweep(sweep: dict) -> None:
    """Stop this worker (SIGKILL, as :func:`_stop` does) once its sweep is gone: a sweep
    killed with ``kill -9`` cannot stop its workers itself, and a worker left training would
    hold its cell against the next sweep."""

    def watch() -> None:
        while process_alive(sweep["pid"], sweep.get("pid_start")):
            time.sleep(WATCH_SECONDS)
        stop()

    def stop() -> None:
        print(
            f"convergan: sweep pid {sweep['pid']} is gone; stopping its worker pid {os.getpid()} "
            "(its cell resumes from its last checkpoint when the sweep is run again)",
            file=sys.stderr,
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGKILL)

    if not process_alive(sweep["pid"], sweep.get("pid_start")):
        stop()  # gone before this worker started: claim nothing
    threading.Thread(target=watch, name="watch-sweep", daemon=True).start()


def stop_orphans(out_dir: Path, log, grace: float = ORPHAN_GRACE) -> list[int]:
    """Stop the workers of earlier sweeps into ``out_dir`` that still run (a sweep killed
    with ``kill -9``; they stop themselves within a second, or, started by an older
    convergan, never): wait up to ``grace`` seconds for them, then SIGKILL the rest. Called
    with the sweep directory's lock held, so no live sweep owns them. The cells they were
    training read as interrupted and resume from their last checkpoints. Finished claims
    folders are removed. Returns the pids found."""
    root = Path(out_dir) / CLAIMS
    orphans = []
    for marker in sorted(root.glob("*/worker-*.pid")):
        try:
            pid = int(marker.stem.split("-")[1])
            start = int(marker.read_text(encoding="utf-8") or 0) or None
        except (ValueError, OSError):
            continue
        if pid != os.getpid() and process_alive(pid, start):
            orphans.append((pid, start))
    if orphans:
        pids = ", ".join(str(pid) for pid, _ in orphans)
        log(
            f"{len(orphans)} worker(s) of an earlier sweep into {out_dir} still running "
            f"(pid {pids}); stopping them before planning"
        )
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(process_alive(*o) for o in orphans):
            time.sleep(0.1)
        killed = [pid for pid, start in orphans if process_alive(pid, start)]
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(process_alive(*o) for o in orphans):
            time.sleep(0.05)
        log(
            f"stopped: {len(orphans) - len(killed)} stopped themselves, {len(killed)} killed"
            + (f" (pid {', '.join(map(str, killed))})" if killed else "")
            + "; their cells resume from their last checkpoints"
        )
    if root.is_dir():
        for folder in root.iterdir():
            shutil.rmtree(folder, ignore_errors=True)
    return [pid for pid, _ in orphans]


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
