"""Dirac-GAN figures: the paper's Figure 3 (vector fields with trajectories) and an animation.

Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually Converge?"
(ICML 2018), Figure 3: for each training method, the gradient vector field of the Dirac-GAN
on ``[−2, 2]²`` with one trajectory of a scheme drawn on top.

Nothing here is hand-derived: arrows are :func:`~convergan.field.game_field` evaluated on a
grid (one ``torch.func.vmap`` over the grid points), and trajectories come from
:func:`~convergan.analysis.simulate`, i.e. the same method code the trainer runs.

**Sign convention.** The discriminator is high on real data, ``D_ψ(x) = ψ·x`` with the loss
``softplus(−D(real)) + softplus(D(fake))``. This is the paper's convention with ``ψ ↦ −ψ``,
so every panel is the paper's mirrored in the horizontal axis; eigenvalues, spectral radii
and verdicts do not change.

Figures use matplotlib's object API (``matplotlib.figure.Figure``), never ``pyplot``, so they
render headless with Agg and leave no global state behind. The maps and eigenvalue plots are
in :mod:`convergan.plots.dirac_maps`.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from convergan.analysis.trajectories import Trajectories, simulate
from convergan.field import game_field
from convergan.files import atomic_output, save_figure
from convergan.games.dirac import DiracGAN, dirac_gan
from convergan.methods.method import Method
from convergan.methods.presets import make_method, preset_spec
from convergan.methods.spec import MethodSpec
from convergan.schemes import AltGD, Scheme, SimGD

__all__ = [
    "FIGURE3_METHODS",
    "Figure3Panel",
    "draw_field_panel",
    "field_on_grid",
    "figure3_grid",
    "figure3_trajectories",
    "trajectories_gif",
    "write_all_figures",
]


class Figure3Panel(NamedTuple):
    """One panel of Figure 3: a title and the method's spec."""

    label: str
    spec: MethodSpec

    def method(self) -> Method:
        return self.spec.build()


def _panel(label: str, preset: str, **params: float) -> Figure3Panel:
    return Figure3Panel(label, preset_spec(preset, **params))


FIGURE3_METHODS: tuple[Figure3Panel, ...] = (
    _panel("GAN", "gan"),
    _panel("non-saturating GAN", "nsgan"),
    _panel("WGAN (clip 1)", "wgan", clip=1.0),
    # γ = 1, g₀ = 1: the penalty pushes |ψ| towards 1, so there is no regular equilibrium at
    # ψ = 0 and the trajectory keeps circling at |ψ| ≈ 1 (GAN_stability's notebook: γ = 0.7).
    _panel("WGAN-GP (γ=1, g₀=1)", "wgan-gp", gamma=1.0, target=1.0),
    _panel("consensus (γ=1)", "consensus", gamma=1.0),
    # σ = 1 (eigenvalues −1/4 ± 0.43i) converges visibly within the figure's 300 steps; the
    # notebook's σ = 0.7 (−0.12 ± 0.48i) needs about twice as many.
    _panel("instance noise (σ=1)", "instance-noise", sigma=1.0),
    _panel("gradient penalty (γ=0.3)", "r1", gamma=0.3),
    _panel("gradient penalty, critical (γ=1)", "r1", gamma=1.0),
    _panel("non-saturating GAN + R1 (γ=1)", "nsgan-r1", gamma=1.0),
)
"""The paper's Figure 3 panels plus non-saturating GAN + R1. ``γ = 1 = 2f′(0)`` is the
critical damping of R1 on the Dirac-GAN (a real double eigenvalue −1/2)."""

DEFAULT_START = (1.0, 1.0)
DEFAULT_STEPS = 300
DEFAULT_LR = 0.2  # with 300 steps: t = 60, long enough for R1 γ=0.3 (Re λ = −0.15) to converge
BOUND = 2.0
ARROWS = 17
VERDICT_COLORS = {"converges": "tab:green", "oscillates": "tab:orange", "diverges": "tab:red"}
GIF_LABELS = ("GAN", "WGAN-GP (γ=1, g₀=1)", "instance noise (σ=1)", "gradient penalty (γ=0.3)")


def field_on_grid(
    game: DiracGAN, method: Method, thetas: Tensor, psis: Tensor
) -> tuple[Tensor, Tensor]:
    """``(v_θ, v_ψ)`` at every ``(thetas[j], psis[i])``, each of shape ``(len(psis), len(thetas))``.

    The layout is ``numpy.meshgrid``'s ``"xy"`` one that ``Axes.quiver`` expects. One vmap over
    the flattened grid evaluates the very field the analysis differentiates.
    """
    field = game_field(game, method)
    dtype = game.equilibrium()[0].dtype
    theta_grid, psi_grid = torch.meshgrid(thetas.to(dtype), psis.to(dtype), indexing="xy")

    def at(theta: Tensor, psi: Tensor) -> tuple[Tensor, Tensor]:
        v_theta, v_psi = field((theta[None], psi[None]))
        return v_theta[0], v_psi[0]

    v_theta, v_psi = torch.func.vmap(at)(theta_grid.reshape(-1), psi_grid.reshape(-1))
    return v_theta.reshape(theta_grid.shape), v_psi.reshape(theta_grid.shape)


def figure3_trajectories(
    scheme: Scheme,
    methods: Sequence[Figure3Panel] = FIGURE3_METHODS,
    start: tuple[float, float] = DEFAULT_START,
    steps: int = DEFAULT_STEPS,
    game: DiracGAN | None = None,
) -> list[Trajectories]:
    """One single-row :class:`Trajectories` per panel, in the order of ``methods``.

    Panels of the same preset with the same parameter names (R1 at γ = 0.3 and γ = 1) run as
    one batched :func:`simulate` call with per-trajectory parameters: a simulate call costs
    about the same for one trajectory as for a few, so batching halves their time.
    """
    game = game or dirac_gan()
    groups: dict[tuple[str, tuple[str, ...]], list[int]] = defaultdict(list)
    for index, panel in enumerate(methods):
        groups[(panel.spec.preset, tuple(sorted(dict(panel.spec.params))))].append(index)
    results: list[Trajectories | None] = [None] * len(methods)
    for (preset, names), indices in groups.items():
        starts = torch.tensor([start] * len(indices), dtype=torch.float64)
        if len(indices) == 1 or not names or preset is None:
            for i in indices:
                results[i] = simulate(game, methods[i].method(), scheme, starts[:1], steps)
            continue
        params = {
            name: torch.tensor(
                [dict(methods[i].spec.params)[name] for i in indices], dtype=torch.float64
            )
            for name in names
        }

        def factory(preset: str = preset, **values: Tensor) -> Method:
            return make_method(preset, **values)

        batched = simulate(game, factory, scheme, starts, steps, method_params=params)
        for row, i in enumerate(indices):
            results[i] = Trajectories(batched.path[row : row + 1], batched.equilibrium)
    return [r for r in results if r is not None]


def _describe(scheme: Scheme) -> str:
    """``simgd, h = 0.2`` (TTUR and several D steps spelled out)."""
    lr_g, lr_d = (float(h) for h in scheme.lrs)
    rates = f"h = {lr_g:g}" if lr_g == lr_d else f"h_G = {lr_g:g}, h_D = {lr_d:g}"
    if isinstance(scheme, AltGD) and (scheme.g_steps, scheme.d_steps) != (1, 1):
        rates += f", n_G = {scheme.g_steps}, n_D = {scheme.d_steps}"
    return f"{scheme.name}, {rates}"


def draw_field_panel(
    ax: Axes,
    game: DiracGAN,
    panel: Figure3Panel,
    path: Tensor | None = None,
    verdict: str | None = None,
    bound: float = BOUND,
    arrows: int = ARROWS,
) -> None:
    """Arrows of the field on ``[−bound, bound]²``, the trajectory ``path`` (``(steps+1, 2)``),
    its start (black dot), the equilibrium (red star) and the verdict in the title."""
    method = panel.method()
    axis = torch.linspace(-bound, bound, arrows, dtype=torch.float64)
    v_theta, v_psi = field_on_grid(game, method, axis, axis)
    ax.quiver(axis.numpy(), axis.numpy(), v_theta.numpy(), v_psi.numpy(), color="0.55", pivot="mid")
    if method.clip is not None:  # WGAN: the discriminator is projected back into the band
        for level in (-method.clip.clip, method.clip.clip):
            ax.axhline(level, color="tab:purple", linestyle=":", linewidth=1)
    if path is not None:
        points = path.detach().to(torch.float64).numpy()
        ax.plot(points[:, 0], points[:, 1], color="tab:blue", linewidth=1.2)
        ax.plot(*points[0], "o", color="black", markersize=5, label="start")
    equilibrium = torch.cat(game.equilibrium()).numpy()
    ax.plot(*equilibrium, "*", color="tab:red", markersize=11, label="equilibrium")
    ax.set_xlim(-bound, bound)
    ax.set_ylim(-bound, bound)
    ax.set_aspect("equal")
    ax.set_xlabel("θ (generator)")
    ax.set_ylabel("ψ (discriminator)")
    title = panel.label if verdict is None else f"{panel.label}\n{verdict}"
    ax.set_title(title, fontsize="medium", color=VERDICT_COLORS.get(verdict or "", "black"))


def figure3_grid(
    scheme: Scheme,
    path: str | Path,
    *,
    methods: Sequence[Figure3Panel] = FIGURE3_METHODS,
    steps: int = DEFAULT_STEPS,
    start: tuple[float, float] = DEFAULT_START,
    trajectories: Sequence[Trajectories] | None = None,
    game: DiracGAN | None = None,
) -> Path:
    """Figure 3 for ``scheme`` (its learning rate is the step size): one panel per method.

    Pass ``trajectories`` (from :func:`figure3_trajectories`) to reuse simulated paths.
    The verdict in each title is :func:`~convergan.analysis.trajectory_verdict` of the path,
    the rule ``dirac simulate``, ``dirac analyze`` and ``dirac table`` read: converges below
    1e-3 of the start's distance, diverges when not finite or above 1.5× and still growing,
    oscillates in a bounded band (an orbit) otherwise.
    """
    game = game or dirac_gan()
    if trajectories is None:
        trajectories = figure3_trajectories(scheme, methods, start, steps, game)
    if len(trajectories) != len(methods):
        raise ValueError(f"{len(methods)} panels but {len(trajectories)} trajectories")
    columns = 3 if len(methods) > 4 else len(methods)
    rows = -(-len(methods) // columns)
    figure = Figure(figsize=(3.6 * columns, 3.7 * rows + 0.5), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel, trajectory in zip(axes, methods, trajectories):
        draw_field_panel(ax, game, panel, trajectory.path[0], trajectory.verdicts[0])
    for ax in axes[len(methods) :]:
        ax.set_visible(False)
    # One legend for all panels, below them: in a panel it covered a small part of the plot
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    steps_run = trajectories[0].path.shape[1] - 1
    figure.suptitle(
        f"Dirac-GAN, {_describe(scheme)}, {steps_run} steps from (θ, ψ) = {tuple(start)}; "
        "D high on real data (the paper's ψ ↦ −ψ)"
    )
    return _save(figure, path)


def trajectories_gif(
    path: str | Path,
    *,
    labels: Sequence[str] = GIF_LABELS,
    scheme: Scheme | None = None,
    steps: int = DEFAULT_STEPS,
    frames: int = 40,
    start: tuple[float, float] = DEFAULT_START,
    trajectories: Sequence[Trajectories] | None = None,
    game: DiracGAN | None = None,
) -> Path:
    """An animated GIF: the trajectories of the Figure-3 panels named in ``labels``, side by
    side, growing over ``frames`` frames. ``trajectories`` (one per label) skips simulation.

    The field and the axes are rendered once and restored for each frame (blitting), so a frame
    only draws the moving lines and the title.
    """
    import imageio.v3 as iio

    game = game or dirac_gan()
    scheme = scheme or SimGD(lr=DEFAULT_LR)
    by_label = {panel.label: panel for panel in FIGURE3_METHODS}
    unknown = [label for label in labels if label not in by_label]
    if unknown:
        raise ValueError(f"unknown Figure-3 panels {unknown}; choose from {list(by_label)}")
    panels = [by_label[label] for label in labels]
    if trajectories is None:
        trajectories = figure3_trajectories(scheme, panels, start, steps, game)
    paths = [t.path[0].numpy() for t in trajectories]
    verdicts = [t.verdicts[0] for t in trajectories]
    # 3.4 in: at 3.1 the constrained layout put the x labels' descenders below the frame.
    figure = Figure(figsize=(2.7 * len(panels), 3.4), layout="constrained")
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False).ravel()
    lines, heads = [], []
    for ax, panel, verdict in zip(axes, panels, verdicts):
        draw_field_panel(ax, game, panel, None, verdict, arrows=13)
        ax.plot(*start, "o", color="black", markersize=4)
        lines.append(ax.plot([], [], color="tab:blue", linewidth=1.2)[0])
        heads.append(ax.plot([], [], "o", color="tab:blue", markersize=5)[0])
    title = figure.suptitle(" ")
    canvas.draw()  # lays out the figure; the static part is then reused by every frame
    background = canvas.copy_from_bbox(figure.bbox)
    images = []
    total = paths[0].shape[0] - 1
    for stop in np.unique(np.linspace(0, total, frames).round().astype(int)):
        canvas.restore_region(background)
        for line, head, points in zip(lines, heads, paths):
            line.set_data(points[: stop + 1, 0], points[: stop + 1, 1])
            head.set_data(points[stop : stop + 1, 0], points[stop : stop + 1, 1])
            line.axes.draw_artist(line)
            head.axes.draw_artist(head)
        title.set_text(f"{_describe(scheme)}, step {stop}/{total}")
        figure.draw_artist(title)
        images.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [80] * (len(images) - 1) + [1500]  # hold the last frame
    with atomic_output(path) as file:
        iio.imwrite(file, np.stack(images), extension=".gif", duration=durations, loop=0)
    return path


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path, dpi=120)
    return path


def write_all_figures(out_dir: str | Path) -> list[Path]:
    """Write figure3-simgd.png, figure3-altgd.png, eigenvalues.png, stability-maps.png and
    trajectories.gif into ``out_dir``; one progress line per figure (with its time) on stderr.
    """
    from convergan.plots.dirac_maps import eigenvalues_vs_gamma, stability_maps

    out = Path(out_dir)
    game = dirac_gan()
    written: list[Path] = []

    def timed(name: str, make) -> None:
        began = time.perf_counter()
        written.append(make(out / name))
        print(f"[dirac] {name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)

    simgd = SimGD(lr=DEFAULT_LR)
    simgd_paths: list[Trajectories] = []

    def simgd_figure(p: Path) -> Path:  # keeps the paths for the GIF
        simgd_paths.extend(figure3_trajectories(simgd, game=game))
        return figure3_grid(simgd, p, trajectories=simgd_paths, game=game)

    timed("figure3-simgd.png", simgd_figure)
    timed("figure3-altgd.png", lambda p: figure3_grid(AltGD(lr=DEFAULT_LR), p, game=game))
    timed("eigenvalues.png", eigenvalues_vs_gamma)
    timed("stability-maps.png", stability_maps)
    index = {panel.label: i for i, panel in enumerate(FIGURE3_METHODS)}
    reused = [simgd_paths[index[label]] for label in GIF_LABELS]
    timed("trajectories.gif", lambda p: trajectories_gif(p, scheme=simgd, trajectories=reused))
    return written
