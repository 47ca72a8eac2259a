"""Running a sweep: plan the cells, refuse changed ones, submit the rest with submitit.

``local`` runs each cell as a subprocess (submitit's ``LocalExecutor``), at most ``jobs`` at a
time; ``slurm`` submits the cells as one job array (``#SBATCH --array=0-N%parallelism``);
``debug`` runs them in this process, one after the other (submitit's ``DebugExecutor``).
Whatever the launcher, a cell is :func:`convergan.studies.cells.run_cell` on one run
directory, so a sweep can be interrupted anywhere and re-run: finished cells are skipped,
interrupted ones resume from their last checkpoint.

One sweep at a time per directory: a sweep holds the lock of its ``--out`` folder
(``OUT/.lock``, the same ``flock`` as a run's) while it plans and runs, and a second sweep
into it is refused in one line naming the first. The kernel drops the lock of a killed sweep;
the next one then stops the killed sweep's workers that still run
(:func:`~convergan.studies.workers.stop_orphans`) before it plans.

Planning is :mod:`convergan.studies.planning`, the local workers
:mod:`convergan.studies.workers`, the submitit executors and SLURM
:mod:`convergan.studies.executors`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from convergan.options import ConfigError
from convergan.studies.cells import cell_status, lock_holder, read_cell
from convergan.studies.estimate import SWEEP_OVERRIDES, Overrides, estimate_line
from convergan.studies.executors import submit_slurm, wait_for_records
from convergan.studies.planning import (
    MAX_CELLS,
    PlannedCell,
    check_grid_size,
    plan,
    to_run,
    write_sweep_record,
)
from convergan.studies.spec import SweepSpec
from convergan.studies.workers import local_jobs, most_local_jobs, run_local, stop_orphans
from convergan.training.lock import RunDirectoryError, RunLock, RunLockedError

__all__ = ["SweepBusy", "run_sweep"]


class SweepBusy(ConfigError):
    """``--out`` is taken: another sweep runs into it (one line naming it). A
    :class:`ConfigError` so that every command that runs sweeps reports it in one line."""


def run_sweep(
    spec: SweepSpec,
    out_dir: Path,
    *,
    retry_failed: bool = False,
    wait: bool = True,
    progress: bool = True,
    max_cells: int = MAX_CELLS,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    estimate: bool = True,
    overrides: Overrides = SWEEP_OVERRIDES,
) -> dict[str, int]:
    """Run every cell that is not final yet; returns the count of cells per status. Raises
    :class:`SweepBusy` when another sweep runs into ``out_dir``. ``estimate``: say the wall
    time before the first cell trains (:mod:`convergan.studies.estimate`), naming
    ``overrides`` to shorten a long one."""
    out_dir = Path(out_dir)
    check_grid_size(spec, max_cells)  # before anything is built or written
    lock = lock_sweep(out_dir)
    try:
        stop_orphans(out_dir, log)
        settings = (retry_failed, wait, progress, max_cells, log, estimate, overrides)
        return _run(spec, out_dir, *settings)
    finally:
        lock.release()


def lock_sweep(out_dir: Path) -> RunLock:
    """The sweep directory's lock, taken; :class:`SweepBusy` naming the holder."""
    lock = RunLock(out_dir)
    try:
        lock.acquire()
    except RunLockedError:
        raise SweepBusy(
            f"{out_dir} is in use by another sweep, {lock_holder(out_dir)}; wait for it to finish "
            "(`convergan sweep status` shows its cells) or choose another --out"
        ) from None
    except RunDirectoryError as error:
        raise SweepBusy(str(error).replace("out_dir", "--out")) from None
    return lock


def cells_at_once(spec: SweepSpec) -> tuple[int, int]:
    """``(jobs, most)``: the cells the launcher runs at once, and the most it could."""
    if spec.launcher.name == "local":
        return local_jobs(spec)[0], most_local_jobs(spec)
    if spec.launcher.name == "slurm":
        parallelism = spec.launcher.slurm.array_parallelism
        return parallelism, parallelism
    return 1, 1


def _run(
    spec, out_dir, retry_failed, wait, progress, max_cells, log, estimate, overrides
) -> dict[str, int]:
    planned = plan(spec, out_dir, max_cells)
    write_sweep_record(spec, out_dir, planned)
    todo = to_run(planned, retry_failed)
    skipped = len(planned) - len(todo)
    running = [p.cell.name for p in planned if p.status == "running"]
    elsewhere = f"{len(running)} running elsewhere (left to it), " if running else ""
    log(
        f"sweep {spec.name}: {len(planned)} cells, {skipped - len(running)} already final, "
        f"{elsewhere}{len(todo)} to run ({spec.launcher.name} launcher) -> {out_dir}"
    )
    if todo:
        if estimate:
            log(estimate_line(spec, planned, todo, *cells_at_once(spec), overrides=overrides))
        launcher = spec.launcher.name
        if launcher == "slurm":
            submit_slurm(spec, out_dir, todo, log)
            if not wait:
                log(f"submitted; follow it with `convergan sweep status {out_dir}`")
                return _counts(planned)
            wait_for_records(todo, progress, log)
        else:
            run_local(spec, out_dir, todo, len(planned), skipped, progress, log)
    return _counts(plan(spec, out_dir, max_cells))


def _counts(planned: list[PlannedCell]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in planned:
        status = cell_status(read_cell(p.run_dir))
        counts[status] = counts.get(status, 0) + 1
    return counts
