"""Dirac-GAN figures over a method parameter: Jacobian eigenvalues and stability maps.

* :func:`eigenvalues_vs_gamma`: the eigenvalues of ``v′(0, 0)`` against γ (σ for instance
  noise), computed by autodiff through the method code, with the paper's closed forms from
  :mod:`convergan.theory` dashed on top. The two must coincide; the plot makes a mismatch
  visible at a glance, and the critical value (where the eigenvalues turn real) is marked.
* :func:`stability_maps`: the spectral radius ρ of each scheme's update Jacobian over a
  (learning rate × γ) grid, with the ρ = 1 contour; on the SimGD panel the closed-form bound
  ``h < min 2|Re λ|/|λ|²`` is drawn so the numeric boundary can be checked against it. The
  colour scale (:func:`radius_colors`) breaks at ρ = 1: blues below, warm colours above, so
  a barely stable and a barely unstable cell differ in hue, not only in the contour.

Both use matplotlib's object API only (no ``pyplot``), so they render headless.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from convergan import theory
from convergan.analysis.stability import field_jacobians_over, stability_map
from convergan.files import save_figure
from convergan.games.dirac import DiracGAN, dirac_gan
from convergan.methods.method import Method
from convergan.methods.presets import make_method
from convergan.registry import METHODS
from convergan.schemes import AltGD, Extragradient, Optimistic, Scheme, SimGD

__all__ = [
    "critical_parameter",
    "eigenvalues_vs_gamma",
    "method_parameter",
    "radius_colors",
    "stability_maps",
    "stability_maps_figure",
]

RADIUS_RANGE = (0.5, 2.0)  # colour limits of ρ (log scale, centred on ρ = 1)


def radius_colors() -> tuple[colors.Colormap, colors.Normalize]:
    """The colour map and norm of ρ: log scale over :data:`RADIUS_RANGE` (ρ = 1 in the
    middle), blues from dark (ρ = 0.5) to a clear mid blue just below 1, then a jump to
    yellow-orange just above 1 that darkens to red at ρ = 2. No white anywhere: a diverging
    map fading to white at its centre made ρ = 0.98 and ρ = 1.02 look alike."""
    below = matplotlib.colormaps["Blues_r"](np.linspace(0.0, 0.62, 128))
    above = matplotlib.colormaps["YlOrRd"](np.linspace(0.3, 1.0, 128))
    cmap = colors.ListedColormap(np.vstack([below, above]), name="spectral-radius")
    return cmap, colors.LogNorm(*RADIUS_RANGE, clip=True)


def method_parameter(name: str) -> str:
    """The strength parameter a preset is swept over: ``sigma`` for instance noise, else
    ``gamma``. One clear error for presets without a strength (gan, nsgan, wgan)."""
    if name not in METHODS:
        raise ValueError(METHODS.unknown(name))
    for parameter in ("gamma", "sigma"):
        if parameter in METHODS[name].defaults:
            return parameter
    raise ValueError(f"method {name!r} has no gamma or sigma to sweep")


def critical_parameter(name: str) -> float | None:
    """Where the Dirac-GAN eigenvalues turn from complex to real (critical damping).

    Zero-centred penalties: ``γ = 2a = 1``. Instance noise: ``b²σ⁴ = a²``, so
    ``σ = √(a/|b|) = √2``. Consensus keeps ``Im λ = ±a`` for every γ: no critical value.
    """
    if name in ("r1", "r2", "nsgan-r1"):
        return theory.CRITICAL_GAMMA
    if name == "instance-noise":
        return math.sqrt(theory.A_GAN / abs(theory.B_GAN))
    return None


def _factory(name: str):
    parameter = method_parameter(name)

    def build(value: Tensor) -> Method:
        return make_method(name, **{parameter: value})

    return build


def _closed_form(name: str, values: np.ndarray) -> np.ndarray | None:
    """``(len(values), 2)`` complex closed-form eigenvalues, ``None`` without a closed form."""
    parameter = method_parameter(name)
    rows = [theory.jacobian_eigenvalues(name, **{parameter: float(v)}) for v in values]
    return None if any(r is None for r in rows) else np.array(rows, dtype=np.complex128)


def eigenvalues_vs_gamma(
    path: str | Path,
    methods: Sequence[str] = ("r1", "consensus", "instance-noise"),
    values: Tensor | None = None,
    game: DiracGAN | None = None,
) -> Path:
    """Re λ and Im λ of ``v′(0, 0)`` against each method's strength; one column per method.

    Numeric eigenvalues (points) come from one vmapped autodiff Jacobian per value
    (:func:`~convergan.analysis.field_jacobians_over`); the closed form is dashed.
    """
    game = game or dirac_gan()
    values = torch.linspace(0.0, 3.0, 31, dtype=torch.float64) if values is None else values
    values = values.to(torch.float64)
    fine = np.linspace(float(values.min()), float(values.max()), 301)
    figure = Figure(figsize=(3.8 * len(methods), 5.6), layout="constrained")
    axes = figure.subplots(2, len(methods), squeeze=False, sharex="col")
    for column, name in enumerate(methods):
        parameter = method_parameter(name)
        jacobians = field_jacobians_over(game, _factory(name), values, (1.0,))[1.0]
        numeric = torch.linalg.eigvals(jacobians).numpy()
        closed = _closed_form(name, fine)
        critical = critical_parameter(name)
        symbol = {"gamma": "γ", "sigma": "σ"}[parameter]
        for row, (part, label) in enumerate(((np.real, "Re λ"), (np.imag, "Im λ"))):
            ax = axes[row, column]
            x = np.repeat(values.numpy()[:, None], 2, axis=1)
            ax.plot(x.ravel(), part(numeric).ravel(), "o", markersize=3.5, label="autodiff")
            if closed is not None:
                for branch in range(2):
                    ax.plot(
                        fine,
                        part(closed[:, branch]),
                        "--",
                        color="black",
                        linewidth=1,
                        label="closed form" if branch == 0 else None,
                    )
            if critical is not None and fine[0] <= critical <= fine[-1]:
                ax.axvline(
                    critical,
                    color="tab:red",
                    linestyle=":",
                    label=f"critical {symbol} = {critical:.3g}",
                )
            ax.axhline(0.0, color="0.7", linewidth=0.8)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0, column].set_title(f"{name}: eigenvalues of v′(0, 0)")
        axes[1, column].set_xlabel(symbol)
        axes[0, column].legend(fontsize="x-small")
    figure.suptitle("Dirac-GAN: Jacobian eigenvalues at the equilibrium")
    return _save(figure, path)


def _as_scheme(scheme: Scheme | type[Scheme]) -> Scheme:
    return scheme(lr=1.0) if isinstance(scheme, type) else scheme


def stability_maps(path: str | Path, method: str = "r1", **kwargs) -> Path:
    """Save :func:`stability_maps_figure` (same arguments) to ``path``."""
    return _save(stability_maps_figure(method, **kwargs), path)


def stability_maps_figure(
    method: str = "r1",
    schemes: Sequence[Scheme | type[Scheme]] = (SimGD, AltGD, Extragradient, Optimistic),
    lrs: Tensor | None = None,
    gammas: Tensor | None = None,
    game: DiracGAN | None = None,
) -> Figure:
    """Heat maps of the spectral radius ρ over (γ, h), one panel per scheme.

    A scheme class is built with ``lr=1`` so that ``lrs`` are learning rates; an instance's
    learning rates are multiplied by ``lrs``. Colours are ρ on a log scale clipped to
    ``RADIUS_RANGE`` (:func:`radius_colors`: blue converges, yellow to red diverges, with a
    break in hue at ρ = 1); the black line is ρ = 1. On SimGD panels
    with unit learning rates the dashed line is the closed-form bound
    ``h = min 2|Re λ|/|λ|²`` from :mod:`convergan.theory`.
    """
    game = game or dirac_gan()
    lrs = torch.logspace(-2, 1, 300, dtype=torch.float64) if lrs is None else lrs
    gammas = torch.logspace(-2, 1, 300, dtype=torch.float64) if gammas is None else gammas
    lrs, gammas = lrs.to(torch.float64), gammas.to(torch.float64)
    symbol = {"gamma": "γ", "sigma": "σ"}[method_parameter(method)]
    built = [_as_scheme(s) for s in schemes]
    columns = 2 if len(built) > 2 else len(built)
    rows = -(-len(built) // columns)
    figure = Figure(figsize=(4.6 * columns, 3.9 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    cmap, norm = radius_colors()
    mesh = None
    for ax, scheme in zip(axes, built):
        result = stability_map(game, _factory(method), scheme, lrs, gammas)
        radius = result.radius.numpy()
        shown = np.clip(np.nan_to_num(radius, nan=RADIUS_RANGE[1]), *RADIUS_RANGE)
        mesh = ax.pcolormesh(
            gammas.numpy(), lrs.numpy(), shown, norm=norm, cmap=cmap, shading="auto"
        )
        if (radius < 1).any() and (radius > 1).any():
            ax.contour(gammas.numpy(), lrs.numpy(), radius, levels=[1.0], colors="black")
        unit_rates = all(float(h) == 1.0 for h in scheme.lrs)
        if isinstance(scheme, SimGD) and unit_rates:
            _draw_simgd_bound(ax, method, gammas.numpy())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(float(gammas.min()), float(gammas.max()))
        ax.set_ylim(float(lrs.min()), float(lrs.max()))
        ax.set_xlabel(symbol)
        ax.set_ylabel("learning rate h" if unit_rates else "learning-rate factor")
        ax.set_title(scheme.name)
    for ax in axes[len(built) :]:
        ax.set_visible(False)
    if mesh is not None:
        colorbar = figure.colorbar(mesh, ax=axes[: len(built)].tolist(), label="spectral radius ρ")
        colorbar.minorticks_off()
        ticks = [0.5, 0.7, 1.0, 1.4, 2.0]
        colorbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        colorbar.ax.axhline(1.0, color="black", linewidth=1.5)  # the break, as on the maps
    figure.suptitle(f"Dirac-GAN, {method}: spectral radius of the update Jacobian (ρ = 1 black)")
    return figure


def _draw_simgd_bound(ax: Axes, method: str, gammas: np.ndarray) -> None:
    """The closed-form SimGD bound; nothing for methods without closed-form eigenvalues."""
    parameter = method_parameter(method)
    bound = []
    for value in gammas:
        eigenvalues = theory.jacobian_eigenvalues(method, **{parameter: float(value)})
        if eigenvalues is None:
            return
        h = theory.simgd_max_stable_lr(eigenvalues)
        bound.append(np.nan if h is None else h)
    ax.plot(
        gammas,
        np.array(bound, dtype=np.float64),
        "--",
        color="gold",
        linewidth=2,
        label="theory: 2|Re λ|/|λ|²",
    )
    ax.legend(loc="lower left", fontsize="x-small")


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path, dpi=120)
    return path
