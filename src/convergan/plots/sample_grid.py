"""One figure of many runs' samples: rows (a report's cells) by columns (their seeds).

Drawn from the samples themselves, not by pasting each run's own picture, so the grid has
what a figure of several runs needs: 2D points on one pair of axes limits (the first panel's
real data, padded) with ticks only on the outer panels, one colour scale for every
discriminator contour with a single colour bar, one legend; images at two screen pixels or
more per image pixel (an 8 x 8 grid of 28 x 28 images is 242 pixels wide, too small to read
at one). Each view a grid can draw is in :data:`GRID_PANELS`; a problem whose view is not
there keeps its own pictures (:func:`sample_grid_figure` returns ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from matplotlib import cm
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from convergan.plots.images import image_grid
from convergan.plots.samples_2d import (
    CONTOUR_ALPHA,
    LOGIT_CMAP,
    default_bounds,
    logit_norm,
    plot_samples,
)

__all__ = ["GRID_PANELS", "GridPanel", "sample_grid_figure"]

PANEL_INCHES = 3.0  # a 2D panel: 300 px at the report's 100 dpi
DPI = 100
IMAGE_ZOOM = 2  # screen pixels per image pixel at least
TICK_SIZE = 9  # points: the ticks of a panel, readable at the figure's own size

GridPanel = tuple[str, Any]
"""``(title, samples)``: ``samples`` has ``real``, ``fake`` and ``discriminator``
(a :class:`~convergan.runs.sampling.FinalSamples`), or is ``None`` (the title says why)."""


def _points_panels(axes: list[Axes], panels: list[GridPanel], figure: Figure) -> None:
    drawn = [samples for _, samples in panels if samples is not None]
    bounds = default_bounds(drawn[0].real)
    norm = logit_norm()
    for ax, (_, samples) in zip(axes, panels):
        if samples is None:
            continue
        plot_samples(samples.real, samples.fake.cpu(), samples.discriminator, ax=ax,
                     bounds=bounds, norm=norm, colorbar=False, legend=False)  # fmt: skip
        ax.tick_params(labelsize=TICK_SIZE)
    mappable = cm.ScalarMappable(norm=norm, cmap=LOGIT_CMAP)
    figure.colorbar(mappable, ax=axes, label="D(x) (logit)", extend="both", shrink=0.6,
                    alpha=CONTOUR_ALPHA)  # fmt: skip
    handles, labels = next(ax for ax in axes if ax.has_data()).get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=2, markerscale=3,
                  frameon=False)  # fmt: skip


def _points_size(panels: list[GridPanel]) -> float:
    return PANEL_INCHES


def _image_panels(axes: list[Axes], panels: list[GridPanel], figure: Figure) -> None:
    for ax, (_, samples) in zip(axes, panels):
        if samples is None:
            continue
        pixels = image_grid(samples.fake.cpu())
        gray = pixels.shape[-1] == 1
        ax.imshow(pixels[..., 0] if gray else pixels, cmap="gray" if gray else None,
                  vmin=0, vmax=255, interpolation="nearest")  # fmt: skip


def _image_size(panels: list[GridPanel]) -> float:
    """Inches a side: at least :data:`IMAGE_ZOOM` screen pixels per image pixel."""
    tiles = max(image_grid(s.fake.cpu()).shape[:2] for _, s in panels if s is not None)
    return max(PANEL_INCHES, IMAGE_ZOOM * max(tiles) / DPI)


DrawPanels = Callable[[list[Axes], list[GridPanel], Figure], None]
GRID_PANELS: dict[str, tuple[DrawPanels, Callable[[list[GridPanel]], float], bool]] = {
    # view: (draw the panels, inches a panel, whether the panels share their data axes)
    "points-2d": (_points_panels, _points_size, True),
    "image-grid": (_image_panels, _image_size, False),
}


def sample_grid_figure(
    view: str, rows: Sequence[tuple[str, Sequence[GridPanel]]], title: str
) -> Figure | None:
    """Rows of panels (``(row label, [(panel title, samples), ...])``) in one figure, for a
    view in :data:`GRID_PANELS`; ``None`` for another view or when no panel has samples."""
    if view not in GRID_PANELS:
        return None
    panels = [panel for _, row in rows for panel in row]
    if not any(samples is not None for _, samples in panels):
        return None
    draw, size, shared = GRID_PANELS[view]
    inches = size(panels)
    n_rows, n_cols = len(rows), max(len(row) for _, row in rows)
    figure = Figure(figsize=(inches * n_cols + 1.6, inches * n_rows + 1.2), layout="constrained")
    grid = figure.subplots(n_rows, n_cols, squeeze=False, sharex=shared, sharey=shared)
    used: list[Axes] = []
    for i, (_, row) in enumerate(rows):
        for j in range(n_cols):
            ax = grid[i][j]
            if j >= len(row):
                ax.set_visible(False)
                continue
            used.append(ax)
            panel_title, samples = row[j]
            ax.set_title(panel_title, fontsize=10)
            if samples is None:  # axes off: the ticks of shared axes are everyone's
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            elif not shared:
                ax.set_xticks([])
                ax.set_yticks([])
    draw(used, panels, figure)
    for i, (label, _) in enumerate(rows):
        grid[i][0].set_ylabel(label, fontsize=10, fontweight="bold")
    if shared:
        for ax in used:
            ax.label_outer()
    figure.suptitle(title, fontsize=11)
    return figure
