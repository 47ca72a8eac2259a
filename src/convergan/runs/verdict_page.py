"""A run's verdict as one self-contained HTML page (``convergan verdict --html``): the
verdict, the numbers behind it, the rules, and figures embedded as base64 PNG; no script and
no external resource, like the sweep report; the style is :mod:`convergan.plots.page_style`."""

from __future__ import annotations

import base64
from html import escape

from convergan.analysis.verdict_rules import diagnostics_series
from convergan.plots.page_style import STYLE
from convergan.runs.verdict import verdict_text


def _figure(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure data-figure="{escape(name)}"><img alt="{escape(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def verdict_html(record: dict, rows: list[dict]) -> str:
    """The page for ``record`` (:func:`~convergan.runs.verdict.run_verdict`) and the run's
    metrics rows (for the diagnostics' curves)."""
    from convergan.plots import verdict as plots

    series = diagnostics_series(rows)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(record['run'])}: convergan verdict</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(record['run'])}</h1>",
        f'<p id="verdict"><strong>{escape(record["verdict"])}</strong>: '
        f"{escape(record['reason'])}</p>",
        "<h2>The evidence</h2>",
        f'<pre id="numbers">{escape(verdict_text(record))}</pre>',
    ]
    if len(series["step"]):
        caption = "‖v‖ and its players' parts on the evaluation game; the fit over the window"
        parts.append(
            _figure("field-norm", plots.field_norm_figure(series, record["trend"]), caption)
        )
        caption = "cosine between the field and the last displacement; distance moved per step"
        parts.append(_figure("motion", plots.motion_figure(series), caption))
    if record["spectral_radius"] is not None:
        caption = f"leading eigenvalues at checkpoint {record['step']}"
        parts.append(_figure("eigenvalues", plots.eigenvalue_figure(record), caption))
    if record["path_angle"] is not None:
        caption = "cosine between the field and the segment between the last two checkpoints"
        parts.append(_figure("path-angle", plots.path_angle_figure(record["path_angle"]), caption))
    parts.append("</body></html>")
    return "\n".join(parts)
