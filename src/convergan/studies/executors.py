"""submitit executors for a sweep's launcher, and the SLURM route: one job array, its sbatch
file (for a dry run), and waiting for its cells' records."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from convergan.studies.cells import FINAL, cell_status, read_cell, run_cell
from convergan.studies.planning import PlannedCell
from convergan.studies.spec import SweepSpec


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


def wait_for_records(todo: list[PlannedCell], show_progress: bool, log) -> None:
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
