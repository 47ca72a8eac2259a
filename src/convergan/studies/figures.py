"""Report figures: learning curves with bands over seeds, a final metric against a numeric
axis, and the final samples of every run of a cell side by side. Matplotlib's object API
(``Figure``), so no global state and no display is touched."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convergan.files import save_figure
from convergan.studies.aggregate import CellSummary, t_interval
from convergan.studies.results import RunResult
from convergan.ticks import plain_log_ticks

SAMPLE_PANEL, SAMPLE_DPI = 3.2, 100

BAND = "95% Student-t interval over seeds"
# How a figure reaches its file: ``save(figure, path, dpi=...)``, atomic by default (a report
# passes its staging writer, so its figures appear together with its tables).
Save = Callable[..., Any]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def curve_band(runs: list[RunResult], metric: str):
    """Per logged step: the mean over the runs that logged it and its t-interval."""
    by_step: dict[int, list[float]] = {}
    for run in runs:
        for step, value in zip(*run.curve(metric)):
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    stats = [t_interval(by_step[s]) for s in steps]
    return steps, stats


def learning_curves(
    cells: list[CellSummary],
    metric: str,
    path: Path,
    title: str,
    log_y: bool = True,
    save: Save = save_figure,
) -> bool:
    """One line per cell: the mean of ``metric`` over its seeds against the step, with the
    t-interval as a band. Returns False (and writes nothing) when no run logged ``metric``
    at two steps or more."""
    # A curve needs a run that logged the metric twice; final values of runs that stopped at
    # different steps (a time budget) are not a curve.
    if not any(len(run.curve(metric)[0]) >= 2 for cell in cells for run in cell.runs):
        return False
    curves = [(cell, *curve_band(cell.runs, metric)) for cell in cells]
    figure = _figure(7.5, 4.2)
    ax = figure.subplots()
    for cell, steps, stats in curves:
        if not steps:
            continue
        means = [s.mean for s in stats]
        (line,) = ax.plot(steps, means, lw=1.6, label=_label(cell, _constant(cells)))
        low = [s.low if math.isfinite(s.low) else s.mean for s in stats]
        high = [s.high if math.isfinite(s.high) else s.mean for s in stats]
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.18, lw=0)
    if log_y and all(s.mean > 0 for _, _, stats in curves for s in stats if math.isfinite(s.mean)):
        ax.set_yscale("log")
        plain_log_ticks(ax)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{title}\nmean over seeds; band: {BAND}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(curves) > 6 else 1)
    save(figure, path, dpi=100)
    return True


def final_vs_axis(
    cells: list[CellSummary],
    metric: str,
    axis: str,
    path: Path,
    title: str,
    save: Save = save_figure,
) -> bool:
    """Final ``metric`` (mean and t-interval) against the numeric ``axis``, one line per
    combination of the other axes. False when the axis is not numeric."""
    lines: dict[str, list[tuple[float, CellSummary]]] = {}
    for cell in cells:
        x = cell.values.get(axis)
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return False
        lines.setdefault(_label(cell, (axis, *_constant(cells))), []).append((float(x), cell))
    figure = _figure(6.5, 4.2)
    ax = figure.subplots()
    xs_all = []
    for label, points in lines.items():
        points.sort(key=lambda p: p[0])
        xs = [x for x, _ in points]
        stats = [c.final[metric] for _, c in points]
        means = [s.mean for s in stats]
        errors = [s.half_width if math.isfinite(s.half_width) else 0.0 for s in stats]
        ax.errorbar(xs, means, yerr=errors, marker="o", capsize=3, lw=1.4, label=label)
        xs_all += xs
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 100:
        ax.set_xscale("log")
    ax.set_xlabel(axis)
    ax.set_ylabel(f"final {metric}")
    ax.set_title(f"{title}\nerror bars: {BAND}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(figure, path, dpi=100)
    return True


def final_sample_image(run: RunResult) -> Path | None:
    """The run's last EMA sample image (``samples/step-N.png``)."""
    from convergan.training.directory import RunDirectory

    images = RunDirectory(run.run_dir).sample_images()
    return images[-1] if images else None


def _read_image(path: Path | None):
    """The image's pixels; ``None`` when there is none or it cannot be read (a run killed
    while it wrote the image leaves it cut off: its panel then shows the run's status)."""
    if path is None:
        return None
    from matplotlib.image import imread

    try:
        return imread(path)
    except (OSError, SyntaxError, ValueError):  # PIL: "not a PNG file", truncated data
        return None


def sample_grid(cells: list[CellSummary], path: Path, title: str, save: Save = save_figure) -> bool:
    """Rows: cells; columns: their runs (seeds); each panel the run's final samples."""
    rows = [(cell, [_read_image(final_sample_image(r)) for r in cell.runs]) for cell in cells]
    if not any(image is not None for _, images in rows for image in images):
        return False
    n_cols = max(len(images) for _, images in rows)
    # SAMPLE_PANEL inches at SAMPLE_DPI: about 320 px a panel, the size the runs drew them
    figure = _figure(SAMPLE_PANEL * n_cols + 0.6, SAMPLE_PANEL * len(rows) + 0.5)
    axes = figure.subplots(len(rows), n_cols, squeeze=False)
    for i, (cell, images) in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j >= len(images):
                continue
            run = cell.runs[j]
            if images[j] is not None:
                pixels = images[j]
                ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None)
            else:
                ax.text(0.5, 0.5, run.status, ha="center", va="center", transform=ax.transAxes)
            seed = run.values.get("seed")
            ax.set_title(f"seed {seed}" if seed is not None else run.status, fontsize=8)
            if j == 0:
                ax.set_ylabel(_label(cell, _constant(cells)), fontsize=8)
    figure.suptitle(f"{title}: final samples (EMA generator)", fontsize=10)
    save(figure, path, dpi=SAMPLE_DPI)
    return True


def _constant(cells: list[CellSummary]) -> tuple[str, ...]:
    """Axes with one value over ``cells`` (say the panel's problem): left out of labels."""
    keys = dict.fromkeys(k for c in cells for k in c.values)
    return tuple(k for k in keys if len({repr(c.values.get(k)) for c in cells}) == 1)


def _label(cell: CellSummary, without: tuple[str, ...]) -> str:
    parts = [
        str(v) if k in ("method", "base") else f"{k}={v}"
        for k, v in cell.values.items()
        if k not in without
    ]
    return ", ".join(parts) or "run"
