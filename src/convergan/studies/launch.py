"""Running a sweep: plan the cells, refuse changed ones, submit the rest with submitit.

``local`` runs each cell as a subprocess (submitit's ``LocalExecutor``), at most ``jobs`` at a
time; ``slurm`` submits the cells as one job array (``#SBATCH --array=0-N%parallelism``);
``debug`` runs them in this process, one after the other (submitit's ``DebugExecutor``).
Whatever the launcher, a cell is :func:`convergan.studies.cells.run_cell` on one run
directory, so a sweep can be interrupted anywhere and re-run: finished cells are skipped,
interrupted ones resume from their last checkpoint.

Planning is :mod:`convergan.studies.planning`, the local workers
:mod:`convergan.studies.workers`, the submitit executors and SLURM
:mod:`convergan.studies.executors`; their names that the command line uses are re-exported
here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from convergan.studies.cells import cell_status, read_cell
from convergan.studies.executors import sbatch_script, submit_slurm, wait_for_records
from convergan.studies.planning import (
    PlannedCell,
    SweepChanged,
    plan,
    to_run,
    write_sweep_record,
)
from convergan.studies.spec import SweepSpec
from convergan.studies.workers import local_jobs, run_local

__all__ = ["SweepChanged", "local_jobs", "plan", "run_sweep", "sbatch_script", "to_run"]


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
            wait_for_records(todo, progress, log)
        else:
            run_local(spec, out_dir, todo, len(planned), skipped, progress, log)
    return _counts(plan(spec, out_dir))


def _counts(planned: list[PlannedCell]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in planned:
        status = cell_status(read_cell(p.run_dir))
        counts[status] = counts.get(status, 0) + 1
    return counts
