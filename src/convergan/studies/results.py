"""Reading a sweep (or a single run) back from disk: cells, their status and their metrics.

A *sweep directory* holds ``sweep.json`` (written by ``convergan sweep``) and ``runs/<cell>``;
a *run directory* holds ``config.yaml`` and ``metrics.jsonl`` (a training-loop monitor's folder,
``monitor.json`` and ``metrics.jsonl``, reads as one). Both read as a list of
:class:`RunResult`; a single run is a sweep of one cell without axes.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convergan.studies.cells import cell_status, read_cell
from convergan.training.monitor_folder import is_monitor_folder

SWEEP_FILE = "sweep.json"
# A run in one of these states has no final values yet: a report lists it and counts it
# apart, never in n, a mean, an interval or a comparison.
UNFINISHED = ("pending", "running", "interrupted")


@dataclass
class RunResult:
    name: str
    values: dict[str, Any]  # axis -> value, seed included
    run_dir: Path
    status: str
    record: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl, one per step
    planned: dict[str, Any] = field(default_factory=dict)  # base and overrides, from sweep.json

    @property
    def error(self) -> str | None:
        return self.record.get("error")

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    @property
    def last_step(self) -> int | None:
        return self.rows[-1]["step"] if self.rows else None

    def curve(self, metric: str) -> tuple[list[int], list[float]]:
        """(steps, values) of ``metric`` where it was logged and finite."""
        steps, values = [], []
        for row in self.rows:
            value = row.get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                steps.append(row["step"])
                values.append(float(value))
        return steps, values

    def final(self, metric: str) -> float | None:
        """The last logged value, when it was logged at the run's last step (a run that
        diverged before its final evaluation has no final value)."""
        steps, values = self.curve(metric)
        if not steps or self.status not in ("done", "single") or steps[-1] != self.last_step:
            return None
        return values[-1]

    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for row in self.rows:
            names.update((k, None) for k in row if k != "step")
        return list(names)


@dataclass
class Sweep:
    directory: Path
    name: str
    axes: list[str]
    runs: list[RunResult]
    report_metric: str | None = None
    report_axis: str | None = None
    description: str = ""
    is_single_run: bool = False
    effective_spec: dict | None = None  # bases, axes, zip, overrides, launcher as run


def read_sweep_file(path: Path) -> dict[str, Any]:
    """``sweep.json`` as a mapping with a list of cells; ``ValueError`` (one line naming the
    file) when it is damaged."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record.get("cells"), list):
            raise ValueError("not a mapping with a list of cells")
        fields = {"name", "run_dir", "values"}
        if not all(isinstance(c, dict) and fields <= set(c) for c in record["cells"]):
            raise ValueError("a cell without its name, run_dir and values")
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} is damaged ({type(error).__name__}: {error}); move it away and run the "
            "sweep's spec into the same --out to write it again (finished cells are kept)"
        ) from None
    return record


def read_sweep(directory: str | Path, progress: bool = False) -> Sweep:
    """The sweep (or the single run) in ``directory``; raises ``ValueError`` (one line) when
    it is neither. ``progress``: a bar of the runs read on stderr."""
    from convergan.training.directory import RunDirectory  # torch: not on --help's path

    directory = Path(directory)
    sweep_file = directory / SWEEP_FILE
    if sweep_file.is_file():
        from tqdm import tqdm

        record = read_sweep_file(sweep_file)
        runs = []
        cells = tqdm(record["cells"], desc="report: reading runs", unit="run", leave=False,
                     disable=not progress, file=sys.stderr)  # fmt: skip
        for cell in cells:
            run_dir = directory / cell["run_dir"]
            cell_record = read_cell(run_dir)
            runs.append(
                RunResult(
                    cell["name"],
                    dict(cell["values"]),
                    run_dir,
                    cell_status(cell_record),
                    cell_record or {},
                    RunDirectory(run_dir).metrics(),
                    {k: cell[k] for k in ("base", "overrides") if k in cell},
                )
            )
        report = record.get("report") or {}
        return Sweep(
            directory,
            record.get("name") or directory.name,
            list(record.get("axes") or []),
            runs,
            report.get("metric"),
            report.get("axis"),
            record.get("description") or "",
            effective_spec=record.get("effective_spec"),
        )
    single = RunDirectory(directory)
    if single.is_run() or is_monitor_folder(directory):
        rows = single.metrics()
        # A run that diverged says so (``outcome.json``); otherwise it is "single": done, or
        # still training, as its rows show.
        outcome = single.outcome() or {}
        status = "diverged" if outcome.get("status") == "diverged" else "single"
        run = RunResult(directory.name, {}, directory, status, outcome, rows)
        return Sweep(directory, directory.name, [], [run], is_single_run=True)
    raise ValueError(
        f"{directory} is neither a sweep directory (no {SWEEP_FILE}) nor a run directory "
        "(no config.yaml) nor a training-loop monitor's folder (no monitor.json)"
    )


def run_config(run: RunResult) -> dict[str, Any]:
    """The run's resolved config: from its cell record, else its ``config.yaml``, else (a cell
    that has not started) the config its sweep planned for it."""
    if run.record.get("config"):
        return run.record["config"]
    from convergan.training.directory import RunDirectory

    saved = RunDirectory(run.run_dir).config_record()
    if saved is not None:
        return saved
    if run.planned.get("base"):
        from convergan.config import ConfigError, load_config
        from convergan.config.schema import config_to_dict

        try:
            return config_to_dict(load_config(run.planned["base"], run.planned["overrides"]))
        except (ConfigError, OSError):
            return {}
    return {}
