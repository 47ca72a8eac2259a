"""Figures of a run's verdict (``convergan verdict --html``), each returned as PNG bytes.

matplotlib's object API only (``Figure``, never ``pyplot``), as in
:mod:`convergan.plots.samples_2d`.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def field_norm_figure(series: dict[str, np.ndarray], trend: dict | None) -> bytes:
    """``‖v‖`` and its G and D parts against the step (log scale), with the fitted line over
    the trend's window."""
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = figure.add_subplot()
    steps = series["step"]
    for key, label, style in (
        ("field_norm", "‖v‖", "-"),
        ("field_norm_g", "‖v_G‖", ":"),
        ("field_norm_d", "‖v_D‖", "--"),
    ):
        values = np.where(series[key] > 0, series[key], np.nan)
        ax.plot(steps, values, style, label=label, linewidth=1.2)
    if trend and trend.get("slope") is not None:
        inside = (steps >= trend["first"]) & (steps <= trend["last"])
        x = steps[inside].astype(np.float64)
        y = np.log(series["field_norm"][inside])
        intercept = np.nanmean(y - trend["slope"] * x)
        label = f"fit: e^s = {trend['rate_per_step']:.6g} per step"
        ax.plot(
            x, np.exp(intercept + trend["slope"] * x), "k-", alpha=0.5, linewidth=3, label=label
        )
    ax.set(yscale="log", xlabel="step", ylabel="field norm", title="‖v‖ on the evaluation game")
    ax.legend(loc="best", fontsize="small")
    return _png(figure)


def motion_figure(series: dict[str, np.ndarray]) -> bytes:
    """The cosine between the field and the last displacement, and the distance per step."""
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = figure.add_subplot()
    ax.plot(series["step"], series["cosine"], color="tab:purple", label="cos(v, displacement)")
    ax.set(xlabel="step", ylabel="cosine", ylim=(-1.05, 1.05))
    ax.axhline(0.0, color="grey", linewidth=0.8)
    other = ax.twinx()
    distance = np.where(series["distance_per_step"] > 0, series["distance_per_step"], np.nan)
    other.plot(series["step"], distance, color="tab:green", label="distance per step")
    other.set(yscale="log", ylabel="distance per step")
    ax.set_title("how the players move")
    handles = ax.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower left", fontsize="small")
    return _png(figure)


def eigenvalue_figure(record: dict) -> bytes:
    """The field's leading eigenvalues, and the update operator's with the unit circle."""
    figure = Figure(figsize=(8.0, 3.8), layout="constrained")
    field_ax, update_ax = figure.subplots(1, 2)
    for which, values in (record.get("leading_eigenvalues") or {}).items():
        points = np.array(values, dtype=np.float64).reshape(-1, 2)
        field_ax.scatter(
            points[:, 0], points[:, 1], label=which, marker="o" if which == "LR" else "x"
        )
    field_ax.axvline(0.0, color="grey", linewidth=0.8)
    field_ax.set(xlabel="Re λ", ylabel="Im λ", title="field Jacobian (leading)")
    field_ax.legend(loc="best", fontsize="small")
    angle = np.linspace(0, 2 * np.pi, 200)
    update_ax.plot(np.cos(angle), np.sin(angle), color="grey", linewidth=0.8)
    points = np.array(record.get("update_eigenvalues") or [], dtype=np.float64).reshape(-1, 2)
    update_ax.scatter(points[:, 0], points[:, 1], color="tab:red")
    update_ax.set(xlabel="Re μ", ylabel="Im μ", aspect="equal")
    update_ax.set_title(f"update operator: ρ = {record['spectral_radius']:.6g}")
    return _png(figure)


def path_angle_figure(angle: dict) -> bytes:
    """The path-angle profile between the last two checkpoints."""
    profile = angle["profile"]
    alphas = np.array(profile["alphas"], dtype=np.float64)
    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = figure.add_subplot()
    cosine = np.array([np.nan if c is None else c for c in profile["cosine"]], dtype=np.float64)
    ax.plot(alphas, cosine, color="tab:blue", label="cos(v, path)")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    for end in (0.0, 1.0):
        ax.axvline(end, color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="α", ylabel="cosine", ylim=(-1.05, 1.05))
    other = ax.twinx()
    norms = np.array([np.nan if v is None else v for v in profile["field_norm"]], dtype=np.float64)
    other.plot(alphas, norms, color="tab:orange", label="‖v‖")
    other.set(ylabel="‖v‖")
    ax.set_title(f"path-angle, checkpoints {angle['from']} → {angle['to']}")
    handles = ax.get_legend_handles_labels()[0] + other.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="best", fontsize="small")
    return _png(figure)
