"""The report's content as rows of text: the :class:`Report` record, number formatting and the
summary, comparison and per-run tables that both renderings show (Markdown in
:mod:`convergan.studies.markdown`, HTML in :mod:`convergan.studies.html`). Writing the report's
files is :mod:`convergan.studies.report`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from convergan.analysis.verdict_rules import logged_verdict
from convergan.config.shipped import CONFIGS, shipped_name
from convergan.studies.aggregate import CellSummary, Comparison, Interval
from convergan.studies.results import Sweep, run_config
from convergan.studies.theory import dirac_verdict

CI_NOTE = (
    "Intervals are 95% Student-t intervals for the mean over seeds, "
    "mean ± t₀.₉₇₅,ₙ₋₁ · s/√n; runs that diverged or failed are counted, not averaged."
)


@dataclass
class Report:
    sweep: Sweep
    cells: list[CellSummary]
    metrics: list[str]
    headline: str | None
    comparisons: list[Comparison]
    figures: list[tuple[str, Path, str]] = field(default_factory=list)  # (name, path, caption)
    out: Path = Path(".")
    # The figures' PNG bytes by path, while they are staged (not yet at their paths).
    figure_data: dict[Path, bytes] = field(default_factory=dict)

    def figure_bytes(self, path: Path) -> bytes:
        return self.figure_data[path] if path in self.figure_data else Path(path).read_bytes()


# ----------------------------------------------------------------------------- values


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:.{digits}g}"


def mean_ci(interval: Interval | None) -> str:
    """``0.123 ± 0.045`` (mean ± half-width of the interval); the mean alone for n = 1."""
    if interval is None or interval.n == 0:
        return "–"
    if interval.n == 1:
        return fmt(interval.mean)
    half = interval.half_width
    half_text = f"{half:.0f}" if abs(half) >= 100 else fmt(half, 2)
    return f"{fmt(interval.mean)} ± {half_text}"


def verdict_of(cell: CellSummary) -> str:
    configs = [run_config(r) for r in cell.runs]
    config = next((c for c in configs if c), None)
    verdict = dirac_verdict(config) if config else None
    return verdict.text if verdict else "–"


def run_measured_verdict(run) -> tuple[str | None, float | None]:
    """``(verdict, rate)`` of a run from its logged diagnostics (``convergan verdict``'s trend
    rules, without the local picture), for a run that trained to its end; ``diverged`` for
    one that diverged; ``(None, None)`` for a run pending, running, interrupted or failed:
    what did not happen is not judged."""
    if run.status == "diverged":
        return "diverged", None
    if run.status not in ("done", "single"):
        return None, None
    return logged_verdict(run.rows)


def measured_verdict(run) -> str:
    """The run's measured verdict, with its measured rate when converging; "–" when it has
    none (:func:`run_measured_verdict`)."""
    verdict, rate = run_measured_verdict(run)
    if verdict is None:
        return "–"
    return f"{verdict} ({rate:.6g}/step)" if verdict == "converging" else verdict


def measured_verdicts(cell: CellSummary) -> str:
    """How many of the cell's judged runs got each measured verdict (``converging 2,
    oscillating 1``); runs not judged (:func:`run_measured_verdict`) are not counted."""
    counts: dict[str, int] = {}
    for run in cell.runs:
        verdict, _ = run_measured_verdict(run)
        if verdict is not None:
            counts[verdict] = counts.get(verdict, 0) + 1
    return ", ".join(f"{v} {n}" for v, n in sorted(counts.items())) or "–"


def significance(comparison: Comparison) -> str:
    """``yes`` or ``no`` at 5% (Holm-adjusted); ``–`` when the test has no data (a side with
    fewer than two final values, or no variance on either): never "no" without a test."""
    if not math.isfinite(comparison.p_holm):
        return "–"
    return "yes" if comparison.significant else "no"


def axis_columns(sweep: Sweep) -> list[str]:
    return list(sweep.axes)


def unfinished(runs) -> int:
    return sum(not r.finished for r in runs)


def grid_note(sweep: Sweep) -> str | None:
    """The axes as run, read from the runs (a sweep narrowed with ``--axis`` or overrides
    differs from its spec's description): ``As run: method ∈ {gan, r1} (2) × seed ∈ {0, 1}
    (2) = 4 runs.``"""
    if sweep.is_single_run or not sweep.axes:
        return None
    axes = []
    for axis in sweep.axes:
        values = list(dict.fromkeys(_plain(r.values.get(axis)) for r in sweep.runs))
        axes.append(f"{axis} ∈ {{{', '.join(values)}}} ({len(values)})")
    return f"As run: {' × '.join(axes)} = {len(sweep.runs)} runs."


def _plain(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def partial_note(sweep: Sweep) -> str | None:
    """For a sweep with runs still pending, running or interrupted: what the tables count."""
    left = [r for r in sweep.runs if not r.finished]
    if not left:
        return None
    counts: dict[str, int] = {}
    for run in left:
        counts[run.status] = counts.get(run.status, 0) + 1
    states = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (
        f"Partial sweep: {len(left)} of {len(sweep.runs)} runs have not finished ({states}). "
        "They are listed under Runs and counted as unfinished; n, means, intervals, best "
        "values and comparisons use finished runs only."
    )


# ----------------------------------------------------------------------------- tables


def summary_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """The headline table: one row per cell."""
    axes = [a for a in report.sweep.axes if a != "seed"]
    shown = [m for m in report.metrics if not m.startswith(("eval/grad", "diagnostics/"))][:4]
    extra = [m for m in report.metrics if m.startswith("spectrum/")]
    extra += [m for m in report.metrics if m == "diagnostics/field_norm"]
    shown += [m for m in extra if m not in shown]
    header = [*axes, "runs", "n", *[f"final {m}" for m in shown]]
    if report.headline and any(report.headline in c.best for c in report.cells):
        header.append(f"best {report.headline}")
    header += ["diverged", "failed"]
    partial = partial_note(report.sweep) is not None
    if partial:
        header.append("unfinished")
    header += ["measured verdicts", "Dirac verdict (same method, scheme, lr)"]
    rows = []
    for cell in report.cells:
        used = cell.final.get(report.headline) if report.headline else None
        row = [str(cell.values.get(a, "")) for a in axes] + [str(len(cell.runs))]
        row.append(str(used.n if used else 0))  # values in the headline interval
        row += [mean_ci(cell.final.get(m)) for m in shown]
        if report.headline and any(report.headline in c.best for c in report.cells):
            row.append(mean_ci(cell.best.get(report.headline)))
        row += [str(cell.count("diverged")), str(cell.count("failed"))]
        row += [str(unfinished(cell.runs))] if partial else []
        row.append(measured_verdicts(cell))
        row.append(verdict_of(cell))
        rows.append(row)
    return header, rows


def result_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    sweep = report.sweep
    shown = [m for m in report.metrics if not m.startswith("eval/grad")][:4]
    header = ["run", "status", "steps", *[f"final {m}" for m in shown], "verdict", "error"]
    rows = [
        [
            r.name,
            r.status,
            "" if r.last_step is None else str(r.last_step),
            *[fmt(r.final(m)) for m in shown],
            measured_verdict(r),
            (r.error or "")[:120],
        ]
        for r in sweep.runs
    ]
    return header, rows


def comparison_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["family", "a", "b", "mean a", "mean b", "Welch p", "Holm p", "significant (5%)"]
    rows = [
        [c.family, c.a, c.b, fmt(c.mean_a), fmt(c.mean_b), fmt(c.p, 2), fmt(c.p_holm, 2)]
        + [significance(c)]
        for c in report.comparisons
    ]
    return header, rows


def spec_yaml(sweep: Sweep, folder: Path | None = None) -> str:
    """The effective spec (command-line overrides and axes included) as YAML, its base configs
    as a report may show them (:func:`portable_path`, relative to the report's ``folder``)."""
    import yaml

    spec = dict(sweep.effective_spec)
    if isinstance(spec.get("base"), dict):
        spec["base"] = {k: portable_path(v, folder) for k, v in spec["base"].items()}
    return yaml.safe_dump(spec, sort_keys=False, width=100).strip()


def portable_path(path: str, folder: Path | None) -> str:
    """A config path as a report shows it: a shipped config by its name (``toy2d/circle``,
    which a spec's ``base`` accepts), another absolute path relative to ``folder`` (so the
    report names no machine's folders and still leads to the file beside it); a relative path
    as recorded."""
    if not Path(path).is_absolute():
        return path
    name = shipped_name(CONFIGS, path)
    if name is not None:
        return name
    if folder is None:
        return Path(path).name
    try:
        return Path(os.path.relpath(path, Path(folder).resolve())).as_posix()
    except ValueError:  # pragma: no cover - another drive on Windows
        return Path(path).name
