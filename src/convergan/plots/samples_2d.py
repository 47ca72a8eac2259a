"""Figures for the 2D problems: samples with the discriminator's landscape, W1 curves.

Everything uses matplotlib's object API (``matplotlib.figure.Figure``), never ``pyplot``:
no global figure state, no backend is selected or forced at import, and it works headless
(``Figure.savefig`` renders with the Agg canvas). Pass ``ax`` to draw into a figure of your
own, e.g. one panel per training method.

D's logit is coloured on one fixed, symmetric scale (:data:`LOGIT_RANGE`, white = 0 where D
is undecided), so the landscapes of different runs, saved as separate files, compare; a
figure of several runs (:func:`samples_panels_figure`) has one colour bar and one legend,
both outside the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import cm, colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn

from convergan.files import save_figure
from convergan.ticks import plain_log_ticks

__all__ = [
    "default_bounds",
    "logit_norm",
    "plot_samples",
    "plot_w1_curves",
    "samples_panels_figure",
    "save_samples_figure",
    "save_samples_panels",
]

Bounds = tuple[float, float, float, float]
"""``(xmin, xmax, ymin, ymax)``."""

REAL_COLOR = "tab:blue"
FAKE_COLOR = "tab:orange"
GRID_RESOLUTION = 200
LOGIT_RANGE = 5.0
"""D(x) is coloured on [−5, 5]: probabilities 0.7 % to 99.3 %; beyond, the colour saturates."""
LOGIT_CMAP = "RdBu_r"
CONTOUR_ALPHA = 0.35  # light enough that the samples stay visible on a saturated contour
Panel = tuple[str, "Tensor | np.ndarray", "Tensor | np.ndarray", "nn.Module | None"]
"""``(title, real, fake, discriminator)`` of one panel of :func:`samples_panels_figure`."""


def logit_norm(limit: float = LOGIT_RANGE) -> colors.Normalize:
    """The colour norm of D's logit: linear on ``[−limit, limit]``, centred on 0."""
    if not limit > 0:
        raise ValueError(f"the logit colour range must be positive, got {limit}")
    return colors.Normalize(-limit, limit)


def _to_numpy(name: str, points: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(points, Tensor):
        points = points.detach().cpu().to(torch.float64).numpy()
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2), got {array.shape}")
    return array


def default_bounds(real: Tensor | np.ndarray) -> Bounds:
    """The real data's (``n x 2``) bounding box, padded by 25 % (at least 0.5) on each side.

    Based on the real data only, so a diverging generator does not rescale the picture;
    generated points outside it are simply off-screen.
    """
    real = _to_numpy("real", real)
    finite = real[np.isfinite(real).all(axis=1)]
    if len(finite) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    low, high = finite.min(axis=0), finite.max(axis=0)
    pad = np.maximum(0.25 * (high - low), 0.5)
    return (low[0] - pad[0], high[0] + pad[0], low[1] - pad[1], high[1] + pad[1])


@torch.no_grad()
def _discriminator_grid(discriminator: nn.Module, bounds: Bounds) -> tuple[np.ndarray, ...]:
    """``D`` on a ``GRID_RESOLUTION²`` grid over ``bounds``, in D's device and dtype."""
    reference = next(discriminator.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.float32
    xs = np.linspace(bounds[0], bounds[1], GRID_RESOLUTION)
    ys = np.linspace(bounds[2], bounds[3], GRID_RESOLUTION)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = torch.as_tensor(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1))
    values = discriminator(points.to(device=device, dtype=dtype)).reshape(grid_x.shape)
    return grid_x, grid_y, values.detach().cpu().to(torch.float64).numpy()


def plot_samples(
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    discriminator: nn.Module | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    bounds: Bounds | None = None,
    *,
    norm: colors.Normalize | None = None,
    colorbar: bool = True,
    legend: bool = True,
) -> Axes:
    """Scatter real (blue) and generated (orange) samples over D's filled contour.

    The contour shows the raw logit ``D(x)`` (high = "real" in this library's convention),
    evaluated on a grid without gradients; with R1 converged it should be flat on the data.
    Its colours follow ``norm`` (default :func:`logit_norm`: fixed and symmetric, so panels
    compare), with a colour bar beside the axes when ``colorbar``. The legend sits above the
    axes, off the data. ``bounds`` defaults to the padded bounding box of ``real``. Returns
    the axes drawn into (a new single-panel ``Figure`` when ``ax`` is ``None``: ``ax.figure``).
    """
    real_points = _to_numpy("real", real)
    fake_points = _to_numpy("fake", fake)
    if bounds is None:
        bounds = default_bounds(real_points)
    if len(bounds) != 4 or not (bounds[0] < bounds[1] and bounds[2] < bounds[3]):
        raise ValueError(f"bounds must be (xmin, xmax, ymin, ymax) with min < max, got {bounds}")
    if ax is None:
        ax = Figure(figsize=(5, 5), layout="constrained").add_subplot()
    norm = norm or logit_norm()
    if discriminator is not None:
        grid_x, grid_y, values = _discriminator_grid(discriminator, bounds)
        if np.isfinite(values).any():
            levels = np.linspace(norm.vmin, norm.vmax, 21)
            contour = ax.contourf(grid_x, grid_y, values, levels=levels, cmap=LOGIT_CMAP,
                                  norm=norm, alpha=CONTOUR_ALPHA, extend="both")  # fmt: skip
            if colorbar:
                ax.figure.colorbar(contour, ax=ax, label="D(x) (logit)", shrink=0.8)
    size = 4.0 if max(len(real_points), len(fake_points)) > 1000 else 8.0
    ax.scatter(*real_points.T, s=size, c=REAL_COLOR, alpha=0.6, linewidths=0, label="real")
    # Generated points on top, opaque and edged in black: a saturated contour (an
    # unregularized D) must not swallow them.
    ax.scatter(*fake_points.T, s=size, c=FAKE_COLOR, alpha=0.9, linewidths=0.3,
               edgecolors="black", label="generated")  # fmt: skip
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_aspect("equal")
    ax.set_xlabel("x₁", fontsize="small")
    ax.set_ylabel("x₂", fontsize="small")
    if legend:  # above the axes, under the title: never over the data
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize="small",
                  markerscale=3, frameon=False)  # fmt: skip
    if title is not None:
        ax.set_title(title, pad=22 if legend else None)
    return ax


def save_samples_figure(
    path: str | Path,
    real: Tensor | np.ndarray,
    fake: Tensor | np.ndarray,
    discriminator: nn.Module | None = None,
    title: str | None = None,
    bounds: Bounds | None = None,
) -> Path:
    """Draw :func:`plot_samples` into a new figure and save it (format from the suffix).

    Creates missing parent folders. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 5.6), layout="constrained")
    plot_samples(real, fake, discriminator, ax=figure.add_subplot(), title=title, bounds=bounds)
    save_figure(figure, path, dpi=120)
    return path


def samples_panels_figure(
    panels: Sequence[Panel],
    *,
    columns: int = 4,
    panel_size: float = 4.2,
    bounds: Bounds | None = None,
    norm: colors.Normalize | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per ``(title, real, fake, discriminator)``: the same bounds (default: the
    first panel's real data), one colour norm for every D contour (default
    :func:`logit_norm`), one colour bar and one legend outside the panels."""
    if not panels:
        raise ValueError("samples_panels_figure needs at least one panel")
    norm = norm or logit_norm()
    bounds = bounds or default_bounds(panels[0][1])
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(panel_size * columns + 1.2, panel_size * rows + 0.9),
                    layout="constrained")  # fmt: skip
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name, real, fake, discriminator) in zip(axes, panels):
        plot_samples(real, fake, discriminator, ax=ax, title=name, bounds=bounds, norm=norm,
                     colorbar=False, legend=False)  # fmt: skip
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    if any(panel[3] is not None for panel in panels):
        mappable = cm.ScalarMappable(norm=norm, cmap=LOGIT_CMAP)
        figure.colorbar(mappable, ax=axes[: len(panels)].tolist(), label="D(x) (logit)",
                        extend="both", shrink=0.8, alpha=CONTOUR_ALPHA)  # fmt: skip
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=2, markerscale=3,
                  frameon=False)  # fmt: skip
    if title is not None:
        figure.suptitle(title)
    return figure


def save_samples_panels(path: str | Path, panels: Sequence[Panel], **kwargs) -> Path:
    """Save :func:`samples_panels_figure` (same keyword arguments) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(samples_panels_figure(panels, **kwargs), path, dpi=110)
    return path


def plot_w1_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str | None = "Wasserstein-1 to the data",
    log_scale: bool = True,
) -> Path:
    """One line per method: ``curves[name] = (steps, w1_values)``; saves to ``path``.

    The y-axis is logarithmic by default (convergence at a linear rate is a straight line);
    it falls back to linear when a value is ≤ 0. Non-finite values are dropped from a line.
    Returns the path written.
    """
    if not curves:
        raise ValueError("plot_w1_curves needs at least one curve")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    all_positive = True
    for name, (steps, values) in curves.items():
        steps_array = np.asarray(steps, dtype=np.float64).reshape(-1)
        values_array = np.asarray(values, dtype=np.float64).reshape(-1)
        if steps_array.shape != values_array.shape:
            raise ValueError(
                f"curve {name!r}: {len(steps_array)} steps but {len(values_array)} values"
            )
        keep = np.isfinite(steps_array) & np.isfinite(values_array)
        all_positive &= bool((values_array[keep] > 0).all())
        marker = "." if keep.sum() < 30 else None  # mark points only on short curves
        ax.plot(steps_array[keep], values_array[keep], label=name, marker=marker)
    if log_scale and all_positive:
        ax.set_yscale("log")
        plain_log_ticks(ax)
    ax.set_xlabel("step")
    ax.set_ylabel("W1 (EMD)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if title is not None:
        ax.set_title(title)
    save_figure(figure, path, dpi=120)
    return path
