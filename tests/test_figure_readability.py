"""Figures a reader should not squint at (issue: stability-map colours, cut labels, 2D panels).

Each test checks the property itself: colours on either side of ρ = 1, label texts, where
labels and legends sit relative to the figure and the data, shared colour norms across panels.
"""

from __future__ import annotations

import colorsys

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colorbar import Colorbar
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure

from convergan.plots.dirac import trajectories_gif
from convergan.plots.dirac_maps import radius_colors, stability_maps_figure
from convergan.plots.samples_2d import logit_norm, plot_samples, samples_panels_figure
from convergan.schemes import AltGD, SimGD


def hue_saturation(rgba) -> tuple[float, float]:
    h, _, s = colorsys.rgb_to_hls(*rgba[:3])
    return h, s


def warm(hue: float) -> bool:
    """Yellow, orange or red (crimson wraps past 1)."""
    return hue < 0.17 or hue > 0.9


def hue_distance(a: float, b: float) -> float:
    return min(abs(a - b), 1 - abs(a - b))


@pytest.mark.parametrize("epsilon", [1e-3, 0.02, 0.1])
def test_radius_colours_change_hue_at_one_and_are_never_white(epsilon):
    cmap, norm = radius_colors()
    below = hue_saturation(cmap(norm(1 - epsilon)))
    above = hue_saturation(cmap(norm(1 + epsilon)))
    assert 0.5 < below[0] < 0.7  # blue
    assert warm(above[0])
    assert hue_distance(below[0], above[0]) > 0.3
    assert min(below[1], above[1]) > 0.4  # saturated: no white band around ρ = 1
    assert norm(1.0) == pytest.approx(0.5)  # log scale centred on 1 over (0.5, 2)


def render(figure: Figure):
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def inside(inner, outer, slack: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - slack
        and inner.y0 >= outer.y0 - slack
        and inner.x1 <= outer.x1 + slack
        and inner.y1 <= outer.y1 + slack
    )


def test_stability_maps_label_the_learning_rate_and_colour_cells_by_side_of_one():
    lrs = torch.logspace(-2, 1, 14, dtype=torch.float64)
    gammas = torch.logspace(-2, 1, 12, dtype=torch.float64)
    figure = stability_maps_figure(schemes=(SimGD, AltGD(lr=0.5)), lrs=lrs, gammas=gammas)
    panels = [ax for ax in figure.axes if ax.get_title() in ("simgd", "altgd")]
    assert [ax.get_ylabel() for ax in panels] == ["learning rate h", "learning-rate factor"]
    renderer = render(figure)
    for ax in panels:
        for label in (ax.xaxis.label, ax.yaxis.label):
            assert inside(label.get_window_extent(renderer), figure.bbox)
    mesh = panels[0].collections[0]
    radius = np.asarray(mesh.get_array()).ravel()
    colours = mesh.to_rgba(radius)
    stable, unstable = colours[radius < 0.999], colours[radius > 1.001]
    assert len(stable) and len(unstable)
    assert all(0.5 < hue_saturation(c)[0] < 0.7 for c in stable)
    assert all(warm(hue_saturation(c)[0]) for c in unstable)
    colorbars = [ax for ax in figure.axes if ax.get_ylabel() == "spectral radius ρ"]
    assert len(colorbars) == 1
    assert any(np.allclose(line.get_ydata(), 1.0) for line in colorbars[0].lines)  # the break


def test_gif_frames_leave_a_blank_margin_so_no_label_is_cut(tmp_path):
    frames = iio.imread(trajectories_gif(tmp_path / "t.gif", steps=6, frames=2), index=None)
    drawn = (frames < 200).any(-1)  # any non-background pixel
    for frame in drawn:
        assert not frame[:2].any() and not frame[-2:].any()  # top and bottom rows
        assert not frame[:, :2].any() and not frame[:, -2:].any()
    assert drawn[-1][-40:].any()  # the x labels are there, just above the margin


def circle_points(n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    angle = 2 * torch.pi * torch.rand(n, generator=g)
    return torch.stack([angle.cos(), angle.sin()], 1)


class Linear(torch.nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[scale, 0.0]]))

    def forward(self, x):
        return x @ self.weight.T


def contours(ax) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


def test_single_panel_legend_is_off_the_data_and_colours_use_the_fixed_scale():
    figure = Figure(figsize=(6, 5.6), layout="constrained")
    ax = plot_samples(circle_points(), circle_points(seed=1), Linear(2.0), ax=figure.add_subplot())
    renderer = render(figure)
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    assert inside(legend, figure.bbox)
    (contour,) = contours(ax)
    assert (contour.norm.vmin, contour.norm.vmax) == (-5.0, 5.0)
    assert contour.extend == "both"
    np.testing.assert_allclose(contour.to_rgba(0.0)[:3], (0.97, 0.97, 0.97), atol=0.03)
    with pytest.raises(ValueError, match="positive"):
        logit_norm(0.0)


def test_study_panels_share_one_norm_one_colour_bar_and_an_outside_legend():
    real = circle_points()
    panels = [
        ("gan", real, 1.2 * circle_points(seed=1), Linear(40.0)),  # logits up to ±60
        ("r1", real, circle_points(seed=2), Linear(0.3)),
        ("r2", real, circle_points(seed=3), Linear(-1.0)),
        ("no D", real, circle_points(seed=4), None),
    ]
    figure = samples_panels_figure(panels, columns=2)
    renderer = render(figure)
    titled = [ax for ax in figure.axes if ax.get_title() in {p[0] for p in panels}]
    assert len(titled) == 4
    assert figure.get_figwidth() >= 8 and figure.get_figheight() >= 8  # ≥ 4 in per panel
    sets = [c for ax in titled for c in contours(ax)]
    assert len(sets) == 3
    assert len({(s.norm.vmin, s.norm.vmax) for s in sets}) == 1
    assert all(np.array_equal(s.levels, sets[0].levels) for s in sets)
    # The same logit has the same colour in every panel, however large each D's own range.
    assert len({tuple(s.to_rgba(2.0)) for s in sets}) == 1
    bars = [ax for ax in figure.axes if isinstance(getattr(ax, "_colorbar", None), Colorbar)]
    assert len(bars) == 1
    assert all(ax.get_legend() is None for ax in titled)
    (legend,) = figure.legends
    box = legend.get_window_extent(renderer)
    assert inside(box, figure.bbox)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in titled)
    with pytest.raises(ValueError, match="at least one panel"):
        samples_panels_figure([])
