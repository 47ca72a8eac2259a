"""Figures of real-network spectra and of path-angle (matplotlib, Agg-safe).

* :func:`plot_eigenvalues`: the leading field eigenvalues of several checkpoints in the
  complex plane, coloured by training step (the right half-plane is the unstable one);
* :func:`plot_spectrum_over_training`: the largest real part and the largest |Im| found at
  each checkpoint, and the update operators' spectral radii when computed;
* :func:`plot_path_angle`: cosine between the field and the path, field norm and both losses
  along ``x₀ + α (x₁ − x₀)`` (Berard et al., ICLR 2020, Figure 2's layout).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from convergan.files import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_eigenvalues(records: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Eigenvalues of ``spectrum --json`` records (one per checkpoint), coloured by step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    steps = [r["step"] for r in records]
    norm = plt.Normalize(min(steps), max(max(steps), min(steps) + 1))
    cmap = plt.get_cmap("viridis")
    for record in records:
        values = np.array(record["eigenvalues"], dtype=float).reshape(-1, 2)
        ax.scatter(values[:, 0], values[:, 1], s=18, color=cmap(norm(record["step"])), alpha=0.8)
    ax.axvline(0.0, color="0.4", lw=0.8, ls="--")
    ax.axhline(0.0, color="0.8", lw=0.6)
    ax.set_xlabel("Re λ   (> 0: locally unstable in continuous time)")
    ax.set_ylabel("Im λ")
    which = ", ".join(records[0]["which"]) if records else ""
    ax.set_title(title or f"leading eigenvalues of the field Jacobian ({which})")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="training step")
    return _save(fig, path)


def plot_spectrum_over_training(records: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """max Re λ and max |Im λ| per checkpoint (and ρ of each update operator, if present)."""
    plt = _pyplot()
    records = sorted(records, key=lambda r: r["step"])
    steps = [r["step"] for r in records]
    with_schemes = any("schemes" in r for r in records)
    fig, axes = plt.subplots(1, 2 if with_schemes else 1, figsize=(10 if with_schemes else 5.5, 4))
    axes = np.atleast_1d(axes)
    axes[0].plot(steps, [r["max_real"] for r in records], "o-", label="max Re λ")
    axes[0].plot(steps, [r["max_abs_imag"] for r in records], "s-", label="max |Im λ|")
    axes[0].axhline(0.0, color="0.4", lw=0.8, ls="--")
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("eigenvalue of J")
    axes[0].legend()
    if with_schemes:
        names = [s["scheme"] for s in records[-1].get("schemes", [])]
        for j, name in enumerate(names):
            radii = [
                r["schemes"][j]["spectral_radius"] if "schemes" in r else np.nan for r in records
            ]
            axes[1].plot(steps, radii, "o-", label=name)
        axes[1].axhline(1.0, color="0.4", lw=0.8, ls="--")
        axes[1].set_xlabel("training step")
        axes[1].set_ylabel("spectral radius of F′ (top-k)")
        axes[1].legend()
    fig.suptitle(title or "spectrum over training")
    return _save(fig, path)


def plot_path_angle(stats: dict, path: str | Path, title: str = "") -> Path:
    """Three panels over α: path-angle cosine (total and per player), ‖v‖, both losses."""
    plt = _pyplot()
    alphas = np.asarray(stats["alphas"], dtype=float)

    def column(key):
        return np.array([np.nan if v is None else v for v in stats[key]], dtype=float)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(alphas, column("cosine"), "k-", lw=2, label="both players")
    axes[0].plot(alphas, column("cosine_generator"), "--", label="generator")
    axes[0].plot(alphas, column("cosine_discriminator"), ":", label="discriminator")
    axes[0].axhline(0.0, color="0.6", lw=0.8)
    axes[0].set_ylabel("cos(v, x₁ − x₀)")
    axes[0].legend()
    axes[1].plot(alphas, column("field_norm"), "k-")
    axes[1].set_ylabel("‖v‖")
    axes[2].plot(alphas, column("generator_loss"), label="L_G")
    axes[2].plot(alphas, column("discriminator_loss"), label="L_D")
    axes[2].set_ylabel("loss")
    axes[2].legend()
    ends = [f"step {stats[k]}" if stats.get(k) is not None else "" for k in ("from", "to")]
    for ax in axes:
        for alpha, name, step in ((0.0, "x₀", ends[0]), (1.0, "x₁", ends[1])):
            ax.axvline(alpha, color="0.6", lw=0.8, ls="--")
            # the checkpoints the path joins, named at the top of each line
            ax.annotate(f"{name} {step}".strip(), (alpha, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -10), textcoords="offset points", fontsize="small",
                        color="0.35")  # fmt: skip
        ax.set_xlabel("α  (x₀ + α (x₁ − x₀))")
    fig.suptitle(title or "path-angle")
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    _pyplot().close(fig)
    return path
