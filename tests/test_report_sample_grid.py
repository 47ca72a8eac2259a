"""Issue 24, "sample grids: a colourbar on every panel and tiny ticks; the Fashion-MNIST grid is
240 px wide": the report's sample grid is one figure drawn from the runs' samples, with shared
axes, one colour bar and one legend, readable ticks and titles, and images at two screen
pixels per image pixel at least."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg

from convergan.cli.main import main
from convergan.plots.sample_grid import sample_grid_figure
from convergan.studies import figures
from convergan.studies.aggregate import summarize
from convergan.studies.results import read_sweep

ROOT = Path(__file__).resolve().parents[1]


def circle_samples(seed: int):
    angles = torch.linspace(0, 2 * math.pi, 65)[:-1]
    real = torch.stack([angles.cos(), angles.sin()], dim=1)  # the unit circle: bounds ±1.5
    fake = torch.randn(64, 2, generator=torch.Generator().manual_seed(seed)) * 0.3
    return SimpleNamespace(real=real, fake=fake, discriminator=torch.nn.Linear(2, 1))


def panel_axes(figure):
    return [ax for ax in figure.axes if ax.get_subplotspec() is not None and ax.get_visible()]


def test_a_2d_grid_has_one_colour_bar_one_legend_shared_limits_and_titles():
    rows = [
        ("gan", [("seed 0", circle_samples(0)), ("seed 1", circle_samples(1))]),
        ("r1", [("seed 0", circle_samples(2)), ("seed 1 (diverged)", None)]),
    ]
    figure = sample_grid_figure("points-2d", rows, "demo")
    panels = panel_axes(figure)
    assert len(panels) == 4
    others = [ax for ax in figure.axes if ax not in panels]
    assert [ax.get_ylabel() for ax in others] == ["D(x) (logit)"]  # one colour bar in all
    assert len(figure.legends) == 1 and all(ax.get_legend() is None for ax in panels)
    for ax in panels:  # the unit circle's box padded by 0.5 on each side, for every panel
        assert ax.get_xlim() == (-1.5, 1.5) and ax.get_ylim() == (-1.5, 1.5)
    assert [ax.get_title() for ax in panels] == ["seed 0", "seed 1", "seed 0", "seed 1 (diverged)"]
    assert [panels[0].get_ylabel(), panels[2].get_ylabel()] == ["gan", "r1"]
    assert panels[3].texts[0].get_text() == "no samples"
    FigureCanvasAgg(figure).draw()
    ticks = [t for t in panels[2].get_xticklabels() + panels[2].get_yticklabels() if t.get_text()]
    assert len(ticks) >= 6 and min(t.get_fontsize() for t in ticks) >= 8  # points, at 100 dpi
    # tick labels on the outer panels only: the inner ones share them
    assert not any(t.get_visible() for t in panels[1].get_yticklabels())
    assert not any(t.get_visible() for t in panels[0].get_xticklabels())
    assert figure._suptitle.get_text() == "demo"


def test_an_image_grid_has_no_colour_bar_and_two_screen_pixels_per_image_pixel():
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    rows = [("r3gan", [("seed 0", SimpleNamespace(fake=images)), ("seed 1", None)])]
    figure = sample_grid_figure("image-grid", rows, "fashion")
    panels = panel_axes(figure)
    assert len(figure.axes) == len(panels) == 2
    FigureCanvasAgg(figure).draw()
    grid_width = 8 * (28 + 2) + 2  # 242 px: 8 images of 28 px and 2 px gaps
    shown = panels[0].get_window_extent().width  # pixels at the figure's 100 dpi
    assert shown >= 2 * grid_width
    assert panels[0].images[0].get_interpolation() == "nearest"


def test_a_view_a_grid_cannot_draw_gets_none():
    assert sample_grid_figure("dirac-state", [("r1", [("seed 0", None)])], "x") is None
    assert sample_grid_figure("points-2d", [("r1", [("seed 0", None)])], "x") is None


def test_a_reports_grid_is_drawn_from_the_runs_checkpoints(tmp_path, capsys):
    spec = {
        "name": "tiny",
        "base": str(ROOT / "configs/toy2d/circle.yaml"),
        "axes": {"method": ["gan", "r1"], "seed": [0, 1]},
        "overrides": {
            "model.width": 8,
            "model.depth": 1,
            "train.steps": 4,
            "eval.metrics": [],
            "train.sample_every": 0,
        },
        "launcher": {"name": "debug"},
    }
    (tmp_path / "tiny.json").write_text(json.dumps(spec))
    args = ["sweep", str(tmp_path / "tiny.json"), "--out", str(tmp_path / "out")]
    assert main([*args, "--no-progress", "--no-estimate"]) == 0
    cells = summarize(read_sweep(tmp_path / "out"), [])
    figure = figures.sample_grid_figure(cells, "tiny")
    panels = panel_axes(figure)
    assert len(panels) == 4 and len(figure.axes) == 5  # four panels and one colour bar
    assert [ax.get_title() for ax in panels] == ["seed 0", "seed 1"] * 2
    assert [panels[0].get_ylabel(), panels[2].get_ylabel()] == ["gan", "r1"]
    assert all(len(ax.collections) >= 3 for ax in panels)  # contour, real and generated points
    # The generated points are the run's fixed-noise samples: 1,000 on the circle problem.
    assert panels[0].collections[-1].get_offsets().shape == (1000, 2)
