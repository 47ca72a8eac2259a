"""The report as Markdown (``report.md``, and the summary table ``convergan report`` prints)."""

from __future__ import annotations

from convergan.studies.aggregate import compare_axis
from convergan.studies.tables import (
    CI_NOTE,
    Report,
    comparison_rows,
    grid_note,
    partial_note,
    result_rows,
    spec_line,
    spec_yaml,
    summary_rows,
)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: Report) -> str:
    sweep = report.sweep
    counts: dict[str, int] = {}
    for run in sweep.runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    parts = [
        f"# {sweep.name}",
        "",
        *([spec_line(sweep), ""] if sweep.description else []),
        *([grid_note(sweep), ""] if grid_note(sweep) else []),
        f"{len(sweep.runs)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ".",
        "",
        *([f"**{partial_note(sweep)}**", ""] if partial_note(sweep) else []),
        f"## Summary over seeds (headline metric: {report.headline or '–'})",
        "",
        CI_NOTE,
        "",
        markdown_table(*summary_rows(report)),
        "",
    ]
    if report.comparisons:
        axis = compare_axis(sweep, report.cells)
        parts += [
            f"## Pairwise comparisons of final {report.headline} ({axis})",
            "",
            "Welch's t-test per pair within a family, p-values Holm-adjusted per family.",
            "",
            markdown_table(*comparison_rows(report)),
            "",
        ]
    if report.figures:
        parts += ["## Figures", ""]
        parts += [f"![{caption}](figures/{path.name})" for _, path, caption in report.figures]
        parts.append("")
    parts += ["## Runs", "", markdown_table(*result_rows(report)), ""]
    if sweep.effective_spec:
        parts += ["## The sweep as run", "", "```yaml", spec_yaml(sweep, report.out), "```", ""]
    return "\n".join(parts)
