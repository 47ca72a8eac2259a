"""A run's verdict as one self-contained HTML page (``convergan verdict --html``): the
verdict, the numbers behind it, the rules, and figures embedded as base64 PNG; no script and
no external resource, like the sweep report; the style is :mod:`convergan.plots.page_style`."""

from __future__ import annotations

import base64
from html import escape

from convergan.analysis.verdict_statistics import diagnostics_series
from convergan.plots.page_style import STYLE
from convergan.runs.verdict import verdict_text

# What each verdict word means, in the terms the page's numbers use.
WORDS = """<dl class="words" id="words">
<dt>converging</dt><dd>the field norm ‖v‖ shrinks beyond its own fluctuations: the run
approaches a stationary point, at the rate shown (per step)</dd>
<dt>at equilibrium</dt><dd>the true field is within the sampling noise of the evaluation game,
and the players stay at the floor they reached</dd>
<dt>at noise floor</dt><dd>no trend; the field stands out of its noise, and ‖v‖ and its noise η
stay at the lowest levels they reached: the players hold a floor set by the learning rate and
the training noise, as a converging method does with fresh minibatches</dd>
<dt>oscillating</dt><dd>no trend, away from an equilibrium: a deterministic orbit, or a field
or noise that rose far above its floor (a discriminator that keeps sharpening)</dd>
<dt>diverging</dt><dd>‖v‖ grows beyond its fluctuations, or stopped being finite</dd>
<dt>inconclusive</dt><dd>the evidence does not decide (too few looks, a field its sampling
noise swamps, or a local picture that contradicts the trend); the reason says which</dd>
</dl>"""


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
        WORDS,
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
