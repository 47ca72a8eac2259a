"""Dirac-GAN figures: each writes a readable file, and what they draw is the library's field.

Figures are made small (few steps, coarse grids) so the whole module runs in seconds; the
full-size figures are timed by ``benchmarks/bench_dirac.py``, never here.
"""

import cmath
import math

import imageio.v3 as iio
import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

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


@pytest.fixture
def saved(monkeypatch):
    """The figures saved during a test, as matplotlib objects: their panels, titles and the
    data drawn in them are what the tests read."""
    figures = []
    original = Figure.savefig

    def record(figure, *args, **kwargs):
        figures.append(figure)
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


def panels(figure):
    return [ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def trajectory(ax):
    """The path drawn in a Figure-3 panel (the blue line), start included."""
    (line,) = [line for line in ax.lines if line.get_color() == "tab:blue"]
    return torch.tensor(line.get_xydata())


def hand_simgd_gan(start, lr, steps):
    """SimGD on the GAN's Dirac field written out: v = (ψσ(θψ), −θσ(θψ)) (D high on real)."""
    sigmoid = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    theta, psi = start
    path = [(theta, psi)]
    for _ in range(steps):
        s = sigmoid(theta * psi)
        theta, psi = theta + lr * psi * s, psi - lr * theta * s
        path.append((theta, psi))
    return path


def test_figure3_grid_simgd_draws_every_panel_and_its_trajectory(tmp_path, saved):
    written = figure3_grid(SimGD(lr=0.2), tmp_path / "sub" / "figure3.png", steps=15)
    assert written == tmp_path / "sub" / "figure3.png"
    assert_png(written)
    (figure,) = saved
    axes = panels(figure)
    assert len(axes) == len(FIGURE3_METHODS) == 9
    start = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    for ax, panel in zip(axes, FIGURE3_METHODS):
        label, verdict = ax.get_title().split("\n")
        assert label == panel.label
        assert verdict in ("converges", "oscillates", "diverges")
        alone = simulate(GAME, panel.method(), SimGD(lr=0.2), start, 15).path[0]
        torch.testing.assert_close(trajectory(ax), alone, rtol=0, atol=1e-12)
    gan = trajectory(axes[0])
    torch.testing.assert_close(
        gan, torch.tensor(hand_simgd_gan((1.0, 1.0), 0.2, 15), dtype=torch.float64)
    )
    # The GAN's orbit spirals out by |1 + 0.2·i/2| = 1.005 a step: 1.08x its start's distance
    # after 15 steps, inside the band (1e-3, 1.5), so the title reads "oscillates".
    ratio = float(gan[-1].norm() / gan[0].norm())
    assert 1.0 < ratio < 1.5 and axes[0].get_title() == "GAN\noscillates"
    assert "simgd, h = 0.2, 15 steps from (θ, ψ) = (1.0, 1.0)" in figure.get_suptitle()


def test_figure3_grid_altgd_subset(tmp_path, saved):
    chosen = FIGURE3_METHODS[:2]
    scheme = AltGD(lr=0.2, d_steps=2)
    assert_png(figure3_grid(scheme, tmp_path / "f.png", methods=chosen, steps=5))
    (figure,) = saved
    axes = panels(figure)
    assert [ax.get_title().split("\n")[0] for ax in axes] == [p.label for p in chosen]
    assert "n_G = 1, n_D = 2" in figure.get_suptitle()
    start = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    for ax, panel in zip(axes, chosen):
        alone = simulate(GAME, panel.method(), scheme, start, 5).path[0]
        torch.testing.assert_close(trajectory(ax), alone)


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


def hand_eigenvalues(name, value):
    """The Dirac-GAN's eigenvalues at the equilibrium, derived by hand with a = f′(0) = 1/2 and
    b = f″(0) = −1/4: R1 −γ/2 ± √(γ²/4 − a²), consensus −γa² ± ai, noise bσ² ± √(b²σ⁴ − a²)."""
    a, b = 0.5, -0.25
    centre, discriminant = {
        "r1": (-value / 2, value**2 / 4 - a**2),
        "consensus": (-value * a**2, -(a**2)),
        "instance-noise": (b * value**2, b**2 * value**4 - a**2),
    }[name]
    root = cmath.sqrt(discriminant)
    return [centre + root, centre - root]


def test_eigenvalues_figure_draws_the_hand_derived_eigenvalues(tmp_path, saved):
    values = torch.linspace(0.0, 3.0, 7, dtype=torch.float64)
    assert_png(eigenvalues_vs_gamma(tmp_path / "eig.png", values=values))
    (figure,) = saved
    axes = panels(figure)
    assert len(axes) == 6  # Re and Im for each of three methods
    names = ("r1", "consensus", "instance-noise")
    assert [ax.get_title() for ax in axes[:3]] == [f"{n}: eigenvalues of v′(0, 0)" for n in names]
    for column, name in enumerate(names):
        for row, part in enumerate((lambda z: z.real, lambda z: z.imag)):
            points = axes[row * 3 + column].lines[0].get_xydata().reshape(len(values), 2, 2)
            for value, pair in zip(values.tolist(), points):
                assert pair[:, 0] == pytest.approx([value, value])
                expected = sorted(part(z) for z in hand_eigenvalues(name, value))
                assert sorted(pair[:, 1]) == pytest.approx(expected, abs=1e-9)
    # The critical values, where the eigenvalues turn real: γ = 2a = 1 and σ = √(a/|b|) = √2.
    marked = [
        [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] for ax in axes
    ]
    assert marked == [[1.0], [], [pytest.approx(math.sqrt(2))]] * 2


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


def test_stability_maps_figure_draws_the_spectral_radius(tmp_path, saved):
    lrs = torch.logspace(-2, 1, 12, dtype=torch.float64)
    gammas = torch.logspace(-2, 1, 10, dtype=torch.float64)
    written = stability_maps(
        tmp_path / "maps.png", schemes=(SimGD, AltGD(lr=1.0), Extragradient), lrs=lrs, gammas=gammas
    )
    assert_png(written)
    (figure,) = saved
    axes = panels(figure)
    assert [ax.get_title() for ax in axes] == ["simgd", "altgd", "extragradient"]
    # A linear step x ← x + h·J·x has eigenvalues 1 + hλ (SimGD); the extragradient step
    # x ← x + h·J·(x + h·J·x) has 1 + hλ + h²λ². Colours show ρ clipped to [0.5, 2].
    updates = {"simgd": lambda z: 1 + z, "extragradient": lambda z: 1 + z + z * z}
    for ax in (axes[0], axes[2]):
        shown = np.asarray(ax.collections[0].get_array()).reshape(len(lrs), len(gammas))
        for i, h in enumerate(lrs.tolist()):
            for j, gamma in enumerate(gammas.tolist()):
                radius = max(
                    abs(updates[ax.get_title()](h * z)) for z in hand_eigenvalues("r1", gamma)
                )
                assert shown[i, j] == pytest.approx(min(max(radius, 0.5), 2.0), rel=1e-6)
    # SimGD's closed-form bound h < min 2|Re λ|/|λ|²: 4γ below γ = 1 (|λ|² = a² = 1/4).
    (bound,) = [line for line in axes[0].lines if line.get_label().startswith("theory")]
    small = gammas < 1
    assert bound.get_ydata()[small.numpy()] == pytest.approx((4 * gammas[small]).tolist())


def test_trajectories_gif(tmp_path):
    written = trajectories_gif(tmp_path / "t.gif", steps=6, frames=4)
    frames = iio.imread(written, index=None)
    assert frames.shape[0] == 4 and frames.shape[1] > 100
    assert not (frames[0] == frames[-1]).all()  # the trajectories move between frames


def test_trajectories_gif_rejects_unknown_panel(tmp_path):
    with pytest.raises(ValueError, match="unknown Figure-3 panels"):
        trajectories_gif(tmp_path / "t.gif", labels=("no such method",))
