"""``convergan study toy2d``: the shipped sweep ``toy2d-methods``, narrowed from
the command line, run through the same sweep and report path as ``convergan sweep``.

Besides the report (``OUT/report``) it writes the study's own summary into ``OUT``:
``study.md`` (method × problem, final W1 as mean ± 95% t-interval half-width over seeds),
``study.json``, ``verdicts.md`` and ``verdicts.json`` (each run's verdict beside its final
W1 and ‖v‖: :mod:`convergan.studies.verdict_table`), and per problem ``w1-<problem>.png``
(learning curves with bands) and ``samples-<problem>.png`` (final samples of every run).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from convergan.config.shipped import CONFIGS, shipped_file
from convergan.files import write_text
from convergan.options import ConfigError
from convergan.studies.spec import SweepSpec, load_sweep_spec

SPEC = "toy2d-methods"  # shipped sweep spec (package data)
METRIC = "eval/w1"


def toy2d_spec(
    problems: Sequence[str],
    methods: Sequence[str],
    seeds: Sequence[int] | None,
    steps: int,
    overrides: dict,
) -> SweepSpec:
    """The shipped spec with its problems, methods, seeds and steps replaced."""
    spec = load_sweep_spec(SPEC)
    bases = {}
    for problem in problems:
        path = shipped_file(CONFIGS, f"toy2d/{problem}")
        if path is None:
            raise ConfigError(f"no shipped config for 2D problem {problem!r} (toy2d/{problem})")
        bases[problem] = path
    axes = {"method": list(methods), "seed": list(seeds) if seeds else spec.axes["seed"]}
    return dataclasses.replace(
        spec,
        bases=bases,
        axes=axes,
        overrides={**spec.overrides, **_schedule(steps), **overrides},
    )


def _schedule(steps: int) -> dict:
    """20 evaluations and 4 checkpoints per run, whatever its length (the spec's values for
    its 2000 steps)."""
    every = max(1, steps // 20)
    return {
        "train.steps": steps,
        "train.eval_every": every,
        "train.log_every": every,
        "train.checkpoint_every": max(1, steps // 4),
    }


def write_study_summary(report, out: Path) -> Path:
    """``study.md``, ``study.json`` and the per-problem figures from a written report."""
    cells = report.cells
    problems = list(dict.fromkeys(str(c.values.get("base")) for c in cells))
    methods = list(dict.fromkeys(str(c.values.get("method")) for c in cells))
    lookup = {(str(c.values.get("base")), str(c.values.get("method"))): c for c in cells}
    from convergan.studies.tables import mean_ci

    n_seeds = max(len(c.runs) for c in cells)
    lines = [
        f"Final W1 (exact EMD, POT) of the EMA generator: mean ± half-width of the 95% "
        f"Student-t interval over {n_seeds} seed(s); diverged runs marked †.",
        "",
        "| method | " + " | ".join(problems) + " |",
        "|---|" + "---|" * len(problems),
    ]
    for m in methods:
        row = []
        for p in problems:
            cell = lookup.get((p, m))
            text = mean_ci(cell.final.get(METRIC)) if cell else ""
            if cell and cell.count("diverged"):
                text += f" †{cell.count('diverged')}"
            row.append(text)
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    path = out / "study.md"
    write_text(path, "\n".join(lines) + "\n")
    rows = []
    for (p, m), cell in lookup.items():
        interval = cell.final.get(METRIC)
        rows.append(
            {
                "problem": p,
                "method": m,
                "final_w1": interval.mean if interval else None,
                "final_w1_ci": [interval.low, interval.high] if interval else None,
                "seeds": [r.values.get("seed") for r in cell.runs],
                "final_w1_per_seed": [r.final(METRIC) for r in cell.runs],
                "status": [r.status for r in cell.runs],
            }
        )
    write_text(out / "study.json", json.dumps(rows, indent=1))
    _write_verdicts(report, out)
    figures = report.out / "figures"
    for problem in problems:
        for source, target in (("curves", "w1"), ("samples", "samples")):
            figure = figures / f"{source}-{problem}.png"
            if figure.is_file():
                shutil.copyfile(figure, out / f"{target}-{problem}.png")
    return path


def _write_verdicts(report, out: Path) -> None:
    """``verdicts.md`` and ``verdicts.json``: each run's verdict beside its outcome
    (:mod:`convergan.studies.verdict_table`)."""
    from convergan.studies.verdict_table import verdict_checks, verdict_markdown, verdict_rows

    rows = verdict_rows(report.sweep.runs)
    checks = verdict_checks(rows)
    write_text(out / "verdicts.md", verdict_markdown(rows, checks))
    record = {"runs": [r.to_dict() for r in rows], "checks": checks}
    write_text(out / "verdicts.json", json.dumps(record, indent=1))
