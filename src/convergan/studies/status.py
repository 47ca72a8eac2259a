"""``convergan sweep status DIR``: one line per cell, its state and its last metrics."""

from __future__ import annotations

import math
from pathlib import Path

from convergan.studies.results import RunResult, Sweep, read_sweep

ORDER = ("pending", "running", "interrupted", "done", "diverged", "failed")


def status_table(directory: str | Path, metrics: list[str] | None = None) -> str:
    """A plain-text table of every cell: status, step reached of the planned steps, the last
    value of each eval metric, the training time and the error of failed cells."""
    sweep = read_sweep(directory)
    metrics = metrics or headline_metrics(sweep)
    header = ["cell", "status", "step", *[m.split("/")[-1] for m in metrics], "seconds", "error"]
    rows = [header]
    for run in sweep.runs:
        planned = (run.record.get("config") or {}).get("train", {}).get("steps")
        step = "" if run.last_step is None else str(run.last_step)
        if planned:
            step = f"{step or 0}/{planned}"
        values = [_last(run, m) for m in metrics]
        seconds = run.record.get("train_seconds_total")
        rows.append(
            [
                run.name,
                run.status,
                step,
                *values,
                "" if seconds is None else f"{seconds:.1f}",
                (run.error or "")[:80],
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    counts = {s: sum(r.status == s for r in sweep.runs) for s in ORDER}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return "\n".join([*lines, "", f"{len(sweep.runs)} cells: {summary}"])


def headline_metrics(sweep: Sweep) -> list[str]:
    """The eval metrics the runs logged (``eval/grad_*`` diagnostics left out)."""
    names: dict[str, None] = {}
    for run in sweep.runs:
        names.update(
            (m, None)
            for m in run.metric_names()
            if m.startswith("eval/") and not m.startswith("eval/grad")
        )
    if sweep.report_metric and sweep.report_metric in names:
        names = {sweep.report_metric: None, **names}
    return list(names)


def _last(run: RunResult, metric: str) -> str:
    _, values = run.curve(metric)
    if not values:
        return ""
    value = values[-1]
    return f"{value:.4g}" if math.isfinite(value) else str(value)
