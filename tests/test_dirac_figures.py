"""Dirac-GAN figures: each writes a readable file, and what they draw is the library's field.

Figures are made small (few steps, coarse grids) so the whole module runs in seconds; the
full-size figures are timed by ``benchmarks/bench_dirac.py``, never here.
"""

import math

import imageio.v3 as iio
import matplotlib.image
import pytest
import torch

from convergan.analysis import field_jacobians_over, simulate
from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.methods.presets import preset_spec
from convergan.plots.dirac import (
    FIGURE3_METHODS,
    Figure3Panel,
    field_on_grid,
    figure3_grid,
    figure3_trajectories,
    trajectories_gif,
)
from convergan.plots.dirac_maps import (
    critical_parameter,
    eigenvalues_vs_gamma,
    method_parameter,
    stability_maps,
)
from convergan.schemes import AltGD, Extragradient, SimGD

GAME = dirac_gan()


def assert_png(path):
    assert path.exists() and path.stat().st_size > 0
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # not a blank canvas


def test_figure3_grid_simgd_writes_png_with_every_panel(tmp_path):
    written = figure3_grid(SimGD(lr=0.2), tmp_path / "sub" / "figure3.png", steps=15)
    assert written == tmp_path / "sub" / "figure3.png"
    assert_png(written)


def test_figure3_grid_altgd_subset(tmp_path):
    panels = FIGURE3_METHODS[:2]
    assert_png(figure3_grid(AltGD(lr=0.2, d_steps=2), tmp_path / "f.png", methods=panels, steps=5))


def test_figure3_grid_rejects_mismatched_trajectories(tmp_path):
    paths = figure3_trajectories(SimGD(lr=0.2), FIGURE3_METHODS[:1], steps=2)
    with pytest.raises(ValueError, match="panels"):
        figure3_grid(
            SimGD(lr=0.2), tmp_path / "f.png", methods=FIGURE3_METHODS[:2], trajectories=paths
        )


def test_figure3_methods_cover_the_paper_panels():
    presets = [panel.spec.preset for panel in FIGURE3_METHODS]
    for name in ("gan", "nsgan", "wgan", "wgan-gp", "consensus", "instance-noise", "r1"):
        assert name in presets
    critical = [
        p for p in FIGURE3_METHODS if p.spec.preset == "r1" and p.spec.params["gamma"] == 1.0
    ]
    assert len(critical) == 1


def test_batched_figure3_trajectories_equal_separate_simulations():
    """R1 at two γ run as one batched call; each row must be that γ's own trajectory."""
    panels = (
        Figure3Panel("a", preset_spec("r1", gamma=0.3)),
        Figure3Panel("b", preset_spec("r1", gamma=1.0)),
    )
    batched = figure3_trajectories(SimGD(lr=0.2), panels, start=(1.0, -0.5), steps=25)
    for panel, trajectory in zip(panels, batched):
        alone = simulate(
            GAME,
            panel.method(),
            SimGD(lr=0.2),
            torch.tensor([[1.0, -0.5]], dtype=torch.float64),
            25,
        )
        torch.testing.assert_close(trajectory.path, alone.path, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "name, params",
    [
        ("gan", {}),
        ("wgan-gp", {"gamma": 1.0, "target": 1.0}),
        ("consensus", {"gamma": 1.0}),
        ("instance-noise", {"sigma": 1.0}),
        ("nsgan-r1", {"gamma": 0.3}),
    ],
)
def test_quiver_grid_is_the_field_point_by_point(name, params):
    method = make_method(name, **params)
    thetas = torch.tensor([-2.0, -0.3, 0.0, 1.7], dtype=torch.float64)
    psis = torch.tensor([-1.1, 0.4, 2.0], dtype=torch.float64)
    v_theta, v_psi = field_on_grid(GAME, method, thetas, psis)
    assert v_theta.shape == v_psi.shape == (3, 4)  # (psi, theta): quiver's "xy" layout
    field = game_field(GAME, method)
    for i, psi in enumerate(psis):
        for j, theta in enumerate(thetas):
            expected = field((theta[None], psi[None]))
            assert float(v_theta[i, j]) == pytest.approx(float(expected[0][0]), abs=1e-12)
            assert float(v_psi[i, j]) == pytest.approx(float(expected[1][0]), abs=1e-12)


def test_quiver_grid_matches_hand_computed_gan_field():
    """Independent check of the convention: with D high on real data, v = (ψσ(θψ), −θσ(θψ))."""
    v_theta, v_psi = field_on_grid(
        GAME,
        make_method("gan"),
        torch.tensor([0.8], dtype=torch.float64),
        torch.tensor([-1.3], dtype=torch.float64),
    )
    theta, psi = 0.8, -1.3
    sigmoid = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    assert float(v_theta) == pytest.approx(psi * sigmoid(theta * psi), abs=1e-12)
    assert float(v_psi) == pytest.approx(-theta * sigmoid(theta * psi), abs=1e-12)


def test_eigenvalues_figure(tmp_path):
    values = torch.linspace(0.0, 3.0, 7, dtype=torch.float64)
    assert_png(eigenvalues_vs_gamma(tmp_path / "eig.png", values=values))


def test_eigenvalues_figure_rejects_methods_without_strength(tmp_path):
    with pytest.raises(ValueError, match="no gamma or sigma"):
        eigenvalues_vs_gamma(tmp_path / "eig.png", methods=("gan",))
    assert method_parameter("instance-noise") == "sigma"


@pytest.mark.parametrize("name", ["r1", "instance-noise"])
def test_marked_critical_value_is_where_eigenvalues_turn_real(name):
    critical = critical_parameter(name)
    values = torch.tensor([0.98 * critical, critical, 1.02 * critical], dtype=torch.float64)
    build = lambda v: make_method(name, **{method_parameter(name): v})  # noqa: E731
    eigs = torch.linalg.eigvals(field_jacobians_over(GAME, build, values, (1.0,))[1.0])
    imag = eigs.imag.abs().amax(dim=-1)
    assert imag[0] > 1e-2 and imag[1] < 1e-6 and imag[2] < 1e-12
    assert critical_parameter("consensus") is None


def test_stability_maps_figure(tmp_path):
    lrs = torch.logspace(-2, 1, 12, dtype=torch.float64)
    gammas = torch.logspace(-2, 1, 10, dtype=torch.float64)
    written = stability_maps(
        tmp_path / "maps.png", schemes=(SimGD, AltGD(lr=1.0), Extragradient), lrs=lrs, gammas=gammas
    )
    assert_png(written)


def test_trajectories_gif(tmp_path):
    written = trajectories_gif(tmp_path / "t.gif", steps=6, frames=4)
    frames = iio.imread(written, index=None)
    assert frames.shape[0] == 4 and frames.shape[1] > 100
    assert not (frames[0] == frames[-1]).all()  # the trajectories move between frames


def test_trajectories_gif_rejects_unknown_panel(tmp_path):
    with pytest.raises(ValueError, match="unknown Figure-3 panels"):
        trajectories_gif(tmp_path / "t.gif", labels=("no such method",))
