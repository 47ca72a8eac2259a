"""A cell's life: its record on disk, and the job that trains it.

Each cell is an ordinary run directory (``convergan resume/sample/eval`` work on it) plus one
file of the sweep's own, ``cell.json``::

    {"status": "running" | "done" | "diverged" | "failed", "error": "...",
     "config": {...resolved config...}, "overrides": {...}, "host": ..., "pid": ...,
     "pid_start": ..., "sweep": {"pid": ..., "pid_start": ...}, "attempts": n,
     "started": t, "finished": t, "train_seconds": s, "job_id": ...,
     "startup_seconds": s, "device": "cuda:0" | "cpu"}

``startup_seconds`` is how long the worker process took from its start to the cell's training
(Python, torch and convergan starting), kept for the first cell a fresh worker process runs
(later cells of the same worker start at once; ``null`` for them and in-process runs);
``device`` is the device a ``done`` cell trained on, ``device: auto`` resolved. The sweep's
wall-time estimate (:mod:`convergan.studies.estimate`) reads both.

``done``, ``diverged`` (a NaN/Inf stopped the run: an outcome, not a bug) and ``failed`` (any
other exception; the traceback is in ``error.txt``) are final. A ``running`` record whose
process is gone (same host, pid not alive, or alive but started at another time: a reused pid)
is ``interrupted``: the next sweep resumes it from its last checkpoint. A cell without
``cell.json`` is ``pending``. A cell that a live process holds is never written by another
(:func:`held_by`).

The resolved config is stored so that a re-run can tell whether the spec still describes the
same experiment; keys that do not change the result (``out_dir``, ``train.progress``) are left
out of the comparison.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from convergan.files import write_text
from convergan.training.directory import RunDirectory

FINAL = ("done", "diverged", "failed")
IGNORED_KEYS = (("out_dir",), ("train", "progress"))


def read_cell(run_dir: Path) -> dict[str, Any] | None:
    """The cell's record; ``None`` when it has none (pending). A damaged record (records are
    written atomically, so a failing disk or a hand edit) is not taken for "pending": a
    warning names it, and the status is read from the run directory instead
    (:func:`recovered_record`)."""
    path = RunDirectory(run_dir).cell_file
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        problem = None if isinstance(record, dict) else "not a JSON object"
    except (OSError, ValueError) as error:
        record, problem = None, type(error).__name__
    if problem is None:
        return record
    return recovered_record(Path(run_dir), f"{path} is damaged ({problem})")


_WARNED: set[str] = set()


def recovered_record(run_dir: Path, problem: str) -> dict[str, Any] | None:
    """A record for a cell whose ``cell.json`` is damaged, from its run directory: the run's
    outcome (done, diverged) when training ended, ``done`` when its last checkpoint reached
    ``train.steps``, ``interrupted`` (resumed by the next sweep) when it has checkpoints,
    else ``None`` (pending). Warns once per cell on stderr."""
    run = RunDirectory(run_dir)
    outcome, step = run.outcome(), run.latest_step()
    if outcome is not None:
        record = {"status": outcome["status"], "error": outcome.get("error")}
    elif step is not None:
        try:
            planned = run.config.train.steps
        except Exception:  # noqa: BLE001 - no readable config.yaml either: resume decides
            planned = None
        record = {"status": "done" if step == planned else "interrupted", "error": None}
    else:
        record = None
    status = record["status"] if record else "pending"
    if problem not in _WARNED:
        _WARNED.add(problem)
        print(f"warning: {problem}; status read from the run directory: {status}", file=sys.stderr)
    return None if record is None else {**record, "damaged_record": problem}


def write_cell(run_dir: Path, record: dict[str, Any]) -> None:
    """Write atomically (temp file + rename): a killed writer never leaves half a record."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(RunDirectory(run_dir).cell_file, json.dumps(record, indent=1, default=str))


def cell_status(record: dict[str, Any] | None) -> str:
    """pending, running, interrupted, done, diverged or failed."""
    if record is None:
        return "pending"
    status = record.get("status", "pending")
    if status == "running" and not _alive(record):
        return "interrupted"
    return status


def _alive(record: dict[str, Any]) -> bool:
    if record.get("host") != socket.gethostname():
        return True  # another node (SLURM): trust the record
    pid = record.get("pid")
    return isinstance(pid, int) and process_alive(pid, record.get("pid_start"))


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/PID/stat`` field 22);
    ``None`` where there is no ``/proc``. A pid and its start time name one process even
    after the pid is reused."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def process_age(pid: int | None = None) -> float | None:
    """Seconds since process ``pid`` (this one by default) started: the system's uptime less
    the process's start, both from ``/proc``; ``None`` where there is no ``/proc``."""
    start = process_start(os.getpid() if pid is None else pid)
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return None if start is None else max(0.0, uptime - start / os.sysconf("SC_CLK_TCK"))


def process_alive(pid: int, start: int | None = None) -> bool:
    """Whether process ``pid`` runs (and, given ``start``, is still the one that started
    then rather than a later process with a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    # A killed process whose parent died too may stay a zombie where nothing reaps orphans
    # (some containers' init): it exists for kill(0) but runs no more.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    if state in ("Z", "X"):
        return False
    return start is None or process_start(pid) in (None, start)


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """The resolved config without the keys that do not change a run's results."""
    config = json.loads(json.dumps(config, default=str))
    for path in IGNORED_KEYS:
        node = config
        for key in path[:-1]:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return config


def config_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys set on both sides whose values differ, e.g. ``["train.steps: 50 -> 100"]``."""
    changes = []
    # Keys on one side only are schema additions or removals between convergan versions,
    # not a change of the experiment: comparing them would refuse every sweep after an upgrade.
    for key in sorted(set(old) & set(new), key=str):
        a, b = old[key], new[key]
        dotted = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_difference(a, b, dotted + ".")
        elif a != b:
            changes.append(f"{dotted}: {a} -> {b}")
    return changes


def run_cell(
    run_dir: str,
    config_dict: dict[str, Any],
    threads: int = 1,
    sweep: dict | None = None,
    fresh_process: bool = False,
) -> dict[str, Any]:
    """Train one cell (resuming from its last checkpoint when it has one) and record the
    outcome in ``cell.json``. This is the job submitit runs: it never raises for a failed
    run, so one cell's error does not look like the launcher's. A cell that a live process
    holds is left to it, record untouched: the result's status is then ``busy``, its error
    names the holder. ``sweep``: the pid (and start time) of the sweep that runs the cell,
    kept in the record. ``fresh_process``: the cell is the first of a worker process of its
    own, whose start-up the record keeps (``startup_seconds``)."""
    start_worker(threads)
    if not _is_first_task():
        return _train_quietly(config_dict)
    from convergan.config.schema import config_from_dict
    from convergan.field import DivergenceError
    from convergan.runs import train

    run_dir_path = Path(run_dir)
    holder = held_by(run_dir_path)
    if holder:
        return {"status": "busy", "error": holder, "train_seconds": 0.0}
    previous = read_cell(run_dir_path) or {}
    previous.pop("damaged_record", None)
    record = {
        **previous,
        "status": "running",
        "error": None,
        "config": config_dict,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_start": process_start(os.getpid()),
        "sweep": sweep,
        "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID"),
        "attempts": previous.get("attempts", 0) + 1,
        "started": time.time(),
        "threads": threads,
        "startup_seconds": process_age() if fresh_process else None,
        "device": None,  # known once the cell is done
    }
    write_cell(run_dir_path, record)
    started = time.perf_counter()
    try:
        config = config_from_dict(config_dict)
        # Rows logged after the last checkpoint are trimmed by the resumed run itself, under
        # the run's lock: trimming here, before the lock, would replace the file under a live
        # writer (an orphaned worker of a killed sweep) and lose its rows.
        resume = last_checkpoint_step(run_dir_path) is not None
        result = train(config, resume=resume, progress=False)
        record.update(status="done", steps=result.steps, device=result.device)
    except DivergenceError as error:
        record.update(status="diverged", error=str(error))
    except Exception as error:  # noqa: BLE001 - isolate the cell, keep the traceback
        record.update(status="failed", error=f"{type(error).__name__}: {error}".splitlines()[0])
        write_text(RunDirectory(run_dir_path).cell_error_file, traceback.format_exc())
    record.update(finished=time.time(), train_seconds=time.perf_counter() - started)
    record["train_seconds_total"] = (
        previous.get("train_seconds_total", 0.0) + record["train_seconds"]
    )
    write_cell(run_dir_path, record)
    return {k: record[k] for k in ("status", "error", "train_seconds")}


def held_by(run_dir: Path) -> str | None:
    """The live process that holds the cell, described, or ``None``: a ``running`` record of
    a live process on this host, or the run's lock (a worker between its record and its run, a
    ``convergan resume`` of the cell). Checked before a cell's record is written, so a
    second writer never overwrites a live one's record or trims its log."""
    from convergan.training.lock import RunDirectoryError, RunLock, RunLockedError

    record = read_cell(run_dir)
    here = record is not None and record.get("host") == socket.gethostname()
    # Records of other hosts cannot be checked (a SLURM task on a dead node says running
    # forever): there, the lock alone decides.
    if here and cell_status(record) == "running" and record.get("pid") != os.getpid():
        return f"pid {record.get('pid')} on {record.get('host')} (its record says running)"
    lock = RunLock(run_dir)
    try:
        lock.acquire()
    except RunLockedError:
        return lock_holder(run_dir)
    except RunDirectoryError:
        return None  # unwritable: the run itself fails and its record says why
    lock.release()
    return None


def lock_holder(directory: Path) -> str:
    """The process that holds ``directory``'s lock, as its holder wrote itself down."""
    from convergan.training.lock import RunLock

    return RunLock(directory).holder()


def _is_first_task() -> bool:
    """In a multi-task SLURM cell (DDP), export torch.distributed's variables from SLURM's
    and let only task 0 keep the record; the others just train."""
    if int(os.environ.get("SLURM_NTASKS", "1")) <= 1 or "SUBMITIT_EXECUTOR" not in os.environ:
        return True
    import submitit.helpers

    environment = submitit.helpers.TorchDistributedEnvironment().export()
    return environment.rank == 0


def _train_quietly(config_dict: dict[str, Any]) -> dict[str, Any]:
    from convergan.config.schema import config_from_dict
    from convergan.runs import train

    config = config_from_dict(config_dict)
    train(config, resume=last_checkpoint_step(Path(config.out_dir)) is not None, progress=False)
    return {"status": "done", "error": None, "train_seconds": 0.0}


def start_worker(threads: int) -> None:
    """What a worker does before its first cell: limit torch to ``threads`` threads and import
    torch and the training (the sweep's estimate times it in a fresh process)."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    import torch

    import convergan.runs  # noqa: F401 - imported here, so a worker's start-up is timed whole

    torch.set_num_threads(threads)


def last_checkpoint_step(run_dir: Path) -> int | None:
    """The step of the newest checkpoint file of ``run_dir``, if any."""
    return RunDirectory(run_dir).latest_step()
