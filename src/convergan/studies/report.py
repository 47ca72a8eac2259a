"""``convergan report DIR``: tables (CSV, Markdown), figures and one self-contained HTML page
for a sweep or a single run.

Written into ``OUT`` (default ``DIR/report``):

- ``results.csv``: one row per run: its axis values, status, steps, error, the final (and
  best) value of every logged eval/spectrum metric, the run's verdict from its logged
  diagnostics (``convergan verdict``'s trend rules) and the exact Dirac verdict;
- ``summary.csv``: one row per cell (runs grouped over seeds): n, mean, std and the 95%
  Student-t interval of each metric (see :mod:`convergan.studies.aggregate`);
- ``comparisons.csv``: Welch tests of the cells of each family, Holm-adjusted;
- ``report.md``: the same tables in Markdown, with the figures linked;
- ``figures/*.png``: learning curves with bands over seeds, the final metric against a
  numeric axis, final samples per cell;
- ``report.html``: all of it in one file, figures embedded as base64 PNG, no network.

The files appear together (:class:`~convergan.files.StagedFiles`): each is written and fsynced
under a temp name, and only when all are complete are they renamed over the previous report,
so a report killed at any moment (or stopped by a full disk) leaves the previous report whole,
never new tables beside an old page.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from convergan.files import StagedFiles
from convergan.studies import figures
from convergan.studies.aggregate import (
    CellSummary,
    best,
    compare_axis,
    headline,
    pairwise,
    report_metrics,
    summarize,
)
from convergan.studies.html import html_page
from convergan.studies.markdown import markdown
from convergan.studies.results import read_sweep, run_config
from convergan.studies.tables import (
    Report,
    axis_columns,
    run_measured_verdict,
    significance,
    unfinished,
    verdict_of,
)
from convergan.studies.theory import dirac_verdict


def write_report(
    directory: str | Path, out: str | Path | None = None, progress: bool = False
) -> Report:
    """Read the sweep (or run) in ``directory`` and write every report file into ``out``;
    ``progress``: bars on stderr for the runs read and the figures drawn."""
    sweep = read_sweep(directory, progress)
    out = Path(out) if out is not None else Path(directory) / "report"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    metrics = report_metrics(sweep)
    cells = summarize(sweep, metrics)
    head = headline(sweep)
    report = Report(sweep, cells, metrics, head, pairwise(sweep, cells, head) if head else [])
    report.out = out
    with StagedFiles() as staged:
        for name, write in (
            ("results.csv", _write_results_csv),
            ("summary.csv", _write_summary_csv),
            ("comparisons.csv", _write_comparisons_csv),
        ):
            with staged.open(out / name, "w", newline="") as file:
                write(report, file)
        _draw_figures(report, out / "figures", staged, progress)
        staged.write_text(out / "report.md", markdown(report))
        staged.write_text(out / "report.html", html_page(report))
    return report


# ----------------------------------------------------------------------------- CSV files


def _write_results_csv(report: Report, file) -> None:
    sweep, metrics = report.sweep, report.metrics
    best_metrics = [m for m in metrics if any(best(r, m) is not None for r in sweep.runs)]
    header = [
        "run",
        *axis_columns(sweep),
        "status",
        "steps",
        "train_seconds",
        "error",
        *[f"final {m}" for m in metrics],
        *[f"best {m}" for m in best_metrics],
        "verdict",
        "measured_rate_per_step",
        "dirac_verdict",
        "dirac_spectral_radius",
    ]
    writer = csv.writer(file)
    writer.writerow(header)
    for run in sweep.runs:
        verdict = dirac_verdict(run_config(run))
        measured, rate = run_measured_verdict(run)
        writer.writerow(
            [
                run.name,
                *[run.values.get(a, "") for a in axis_columns(sweep)],
                run.status,
                run.last_step if run.last_step is not None else "",
                _number(run.record.get("train_seconds_total")),
                run.error or "",
                *[_number(run.final(m)) for m in metrics],
                *[_number(best(run, m)) for m in best_metrics],
                measured,
                _number(rate),
                verdict.verdict if verdict else "",
                _number(verdict.spectral_radius if verdict else None),
            ]
        )


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def _write_summary_csv(report: Report, file) -> None:
    axes = [a for a in axis_columns(report.sweep) if a != "seed"]
    stats = ("n", "mean", "std", "ci_low", "ci_high")
    header = [*axes, "runs", "done", "diverged", "failed", "unfinished"]
    for kind, table in (("final", "final"), ("best", "best")):
        for m in report.metrics:
            if any(m in getattr(c, table) for c in report.cells):
                header += [f"{kind} {m} {s}" for s in stats]
    header += ["dirac_verdict"]
    writer = csv.writer(file)
    writer.writerow(header)
    for cell in report.cells:
        row: list[Any] = [cell.values.get(a, "") for a in axes]
        row += [len(cell.runs), cell.count("done") + cell.count("single")]
        row += [cell.count("diverged"), cell.count("failed"), unfinished(cell.runs)]
        for table in ("final", "best"):
            for m in report.metrics:
                if not any(m in getattr(c, table) for c in report.cells):
                    continue
                i = getattr(cell, table).get(m)
                row += [i.n if i else 0] + [
                    _number(getattr(i, s) if i else None) for s in ("mean", "std", "low", "high")
                ]
        row.append(verdict_of(cell))
        writer.writerow(row)


def _write_comparisons_csv(report: Report, file) -> None:
    writer = csv.writer(file)
    writer.writerow(["family", "a", "b", "mean_a", "mean_b", "welch_p", "holm_p", "sig_5pct"])
    for c in report.comparisons:
        writer.writerow(
            [c.family, c.a, c.b, _number(c.mean_a), _number(c.mean_b), _number(c.p)]
            + [_number(c.p_holm), significance(c).replace("–", "")]
        )


# ----------------------------------------------------------------------------- figures


def panels(report: Report) -> dict[str, list[CellSummary]]:
    """The cells per panel: per ``base`` label (one per problem) when another axis varies
    within each base; one panel when ``base`` is what the sweep compares."""
    if compare_axis(report.sweep, report.cells) == "base":
        return {"": report.cells}
    groups: dict[str, list[CellSummary]] = {}
    for cell in report.cells:
        groups.setdefault(str(cell.values.get("base", "")), []).append(cell)
    return groups


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "all"


def _draw_figures(
    report: Report, folder: Path, staged: StagedFiles, progress: bool = False
) -> None:
    import sys

    from tqdm import tqdm

    def save(figure, path: Path, **savefig) -> None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", **savefig)
        report.figure_data[path] = buffer.getvalue()
        with staged.open(path) as file:
            file.write(report.figure_data[path])

    metric, name = report.headline, report.sweep.name
    groups = panels(report)
    bar = tqdm(groups.items(), total=len(groups), desc="report: figures", unit="panel",
               leave=False, disable=not progress, file=sys.stderr)  # fmt: skip
    for panel, cells in bar:
        title = f"{name}: {panel}" if panel else name
        if metric:
            path = folder / f"curves-{_slug(panel)}.png"
            if figures.learning_curves(cells, metric, path, title, save=save):
                report.figures.append(
                    (path.stem, path, f"{metric} against the step ({panel or 'all cells'})")
                )
        path = folder / f"samples-{_slug(panel)}.png"
        if figures.sample_grid(cells, path, title, save=save):
            report.figures.append((path.stem, path, f"final samples ({panel or 'all cells'})"))
    axis = report.sweep.report_axis or _numeric_axis(report)
    if metric and axis:
        path = folder / f"final-vs-{_slug(axis)}.png"
        if figures.final_vs_axis(report.cells, metric, axis, path, name, save=save):
            report.figures.append((path.stem, path, f"final {metric} against {axis}"))


def _numeric_axis(report: Report) -> str | None:
    for axis in report.sweep.axes:
        if axis in ("seed", "base"):
            continue
        values = [c.values.get(axis) for c in report.cells]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            if len(set(values)) > 1:
                return axis
    return None
