"""The report as one self-contained HTML file: inline CSS, figures as base64 PNG data URIs,
no script and no external resource, so it opens from disk, offline, in any browser.

Tables carry ids (``summary``, ``comparisons``, ``runs``) and every row a ``data-cell`` or
``data-run`` attribute; figures are ``<figure data-figure=NAME>``: the browser test finds
them by these."""

from __future__ import annotations

import base64
from html import escape

from convergan.plots.page_style import STYLE
from convergan.studies.tables import (
    CI_NOTE,
    Report,
    comparison_rows,
    grid_note,
    partial_note,
    result_rows,
    spec_yaml,
    summary_rows,
)


def _table(table_id: str, header: list[str], rows: list[list[str]], key: str, names) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for name, row in zip(names, rows):
        cells = []
        for h, value in zip(header, row):
            css = f' class="status-{escape(value)}"' if h == "status" else ""
            cells.append(f"<td{css}>{escape(value)}</td>")
        body.append(f'<tr data-{key}="{escape(name)}">{"".join(cells)}</tr>')
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def html_page(report: Report) -> str:
    sweep = report.sweep
    counts: dict[str, int] = {}
    for run in sweep.runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(sweep.name)}: convergan report</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(sweep.name)}</h1>",
    ]
    if sweep.description:
        parts.append(f"<p>{escape(sweep.description)}</p>")
    if grid_note(sweep):
        parts.append(f'<p id="grid">{escape(grid_note(sweep))}</p>')
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    parts.append(f"<p>{len(sweep.runs)} runs: {escape(summary)}.</p>")
    if partial_note(sweep):
        parts.append(f'<p id="partial"><strong>{escape(partial_note(sweep))}</strong></p>')
    header, rows = summary_rows(report)
    parts += [
        f"<h2>Summary over seeds (headline metric: {escape(report.headline or '–')})</h2>",
        f'<p class="note">{escape(CI_NOTE)}</p>',
        _table("summary", header, rows, "cell", [c.label for c in report.cells]),
    ]
    if report.comparisons:
        header, rows = comparison_rows(report)
        names = [f"{c.family}:{c.a}:{c.b}" for c in report.comparisons]
        parts += [
            f"<h2>Pairwise comparisons of final {escape(report.headline or '')}</h2>",
            '<p class="note">Welch\'s t-test per pair within a family; '
            "p-values Holm-adjusted per family.</p>",
            _table("comparisons", header, rows, "comparison", names),
        ]
    if report.figures:
        parts.append("<h2>Figures</h2>")
        for name, path, caption in report.figures:
            data = base64.b64encode(report.figure_bytes(path)).decode("ascii")
            parts.append(
                f'<figure data-figure="{escape(name)}">'
                f'<img alt="{escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{escape(caption)}</figcaption></figure>"
            )
    header, rows = result_rows(report)
    parts += [
        "<h2>Runs</h2>",
        _table("runs", header, rows, "run", [r.name for r in sweep.runs]),
        '<p class="note">Tables as CSV beside this page: results.csv (one row per run), '
        "summary.csv (one row per cell), comparisons.csv.</p>",
    ]
    if sweep.effective_spec:
        parts += [
            "<h2>The sweep as run</h2>",
            f'<pre id="spec">{escape(spec_yaml(sweep, report.out))}</pre>',
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
