"""Does a run converge? One verdict from the run's own evidence, every deciding number shown.

The evidence (README, "Does my run converge?"):

- **the trend**: ``ln ‖v‖`` against the step over the last part of training, from the
  diagnostics logged on a fixed evaluation game (:mod:`convergan.training.diagnostics`): the
  least-squares slope ``s`` per step with its 95% Student-t interval (``scipy.stats.linregress``),
  the measured rate ``e^s`` per step, the fitted change ``Δ = s·(last step − first step)``
  over the window and the size of the oscillations ``A = max |residual|`` (both in ``ln``
  units, so ``e^A`` is the factor by which ``‖v‖`` strays from the fitted line);
- **the local picture** at the last checkpoint (:func:`~convergan.runs.spectrum.analyze_checkpoint`
  on the same evaluation game): leading eigenvalues of the field Jacobian (LR, LM) and the
  spectral radius ``ρ`` of the run's own update operator with the values in force there (the
  spec at step t), the optimizer's second moments frozen as a preconditioner, per step
  (``ρ^(1/period)``);
- the **path-angle** between the last two checkpoints and the **exact Dirac verdict** of the
  same method, scheme and learning rates: shown beside the verdict, never deciding it.

The rules are :data:`RULES`, applied in order by :func:`decide`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

PREFIX = "diagnostics/"
WINDOW = 0.5  # the trend is fitted over the last half of the run's steps
MIN_POINTS = 4  # diagnostics in the window below which there is no trend
RADIUS_TOLERANCE = 1e-3  # how far beyond the unit circle ρ may be and still "agree"

RULES = (
    "diverging: ‖v‖ was not finite at the last diagnostics step, or it grows by more than it "
    "oscillates (s₋ > 0 and Δ > A) and the local picture does not contradict (ρ ≥ 1 − 1e-3 "
    "per step, or not computed)",
    "converging: ‖v‖ shrinks by more than it oscillates (s₊ < 0 and −Δ > A) and the local "
    "picture does not contradict (ρ ≤ 1 + 1e-3 per step, or not computed); its rate is e^s "
    "per step",
    "oscillating: no trend beyond the oscillations (|Δ| ≤ A): ‖v‖ stays in a band around a level",
    "inconclusive: anything else (fewer than 4 finite diagnostics in the window, a trend the "
    "interval cannot tell from 0, or a trend the local picture contradicts), with the reason",
)


@dataclass(frozen=True)
class Trend:
    """The fit of ``ln ‖v‖`` against the step over the window ``[first, last]``."""

    first: int
    last: int
    points: int
    slope: float  # s, per step
    slope_low: float  # 95% interval
    slope_high: float
    change: float  # Δ = s·(last − first)
    oscillation: float  # A = max |residual|
    field_norm_last: float | None
    finite: bool  # ‖v‖ finite at the last diagnostics step

    @property
    def rate(self) -> float:
        return math.exp(self.slope)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "rate_per_step": self.rate,
            "rate_interval": [math.exp(self.slope_low), math.exp(self.slope_high)],
        }


def diagnostics_series(rows: list[dict]) -> dict[str, np.ndarray]:
    """The logged diagnostics as arrays over the steps where ``‖v‖`` was logged (NaN where a
    value is missing or was not finite)."""
    logged = [r for r in rows if PREFIX + "field_norm" in r]

    def column(key: str) -> np.ndarray:
        values = [r.get(PREFIX + key) for r in logged]
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)

    series = {"step": np.array([r["step"] for r in logged], dtype=np.int64)}
    for key in ("field_norm", "field_norm_g", "field_norm_d", "distance_per_step", "cosine"):
        series[key] = column(key)
    return series


def fit_trend(rows: list[dict], window: float = WINDOW) -> Trend | None:
    """The trend over the last ``window`` of the run's steps (``None`` without diagnostics)."""
    from scipy import stats

    series = diagnostics_series(rows)
    steps, norms = series["step"], series["field_norm"]
    if not len(steps):
        return None
    last = int(steps[-1])
    inside = steps >= last - window * last
    finite = bool(np.isfinite(norms[-1]))
    usable = inside & np.isfinite(norms) & (norms > 0)
    x, y = steps[usable].astype(np.float64), np.log(norms[usable])
    base = dict(last=last, field_norm_last=float(norms[-1]) if finite else None, finite=finite)
    if len(x) < MIN_POINTS or np.ptp(x) == 0:
        nan = math.nan
        first = int(steps[inside][0])
        return Trend(first=first, points=len(x), slope=nan, slope_low=nan, slope_high=nan,
                     change=nan, oscillation=nan, **base)  # fmt: skip
    fit = stats.linregress(x, y)
    half = float(stats.t.ppf(0.975, len(x) - 2)) * float(fit.stderr)
    residuals = y - (fit.intercept + fit.slope * x)
    return Trend(
        first=int(x[0]),
        points=len(x),
        slope=float(fit.slope),
        slope_low=float(fit.slope) - half,
        slope_high=float(fit.slope) + half,
        change=float(fit.slope) * float(x[-1] - x[0]),
        oscillation=float(np.abs(residuals).max()),
        **base,
    )


def decide(trend: Trend | None, radius_per_step: float | None = None) -> tuple[str, str]:
    """``(verdict, reason)`` by :data:`RULES`; ``radius_per_step`` is the local ``ρ^(1/period)``
    (``None``: not computed, e.g. in a sweep report, which reads the logs only)."""
    if trend is None:
        return "inconclusive", "no diagnostics logged (eval.diagnostics.every = 0)"
    if not trend.finite:
        return "diverging", f"‖v‖ is not finite at step {trend.last}"
    if trend.points < MIN_POINTS or not math.isfinite(trend.slope):
        return "inconclusive", (
            f"{trend.points} finite diagnostics in steps {trend.first}-{trend.last} "
            f"(at least {MIN_POINTS} needed)"
        )
    s, change, a = trend.slope, trend.change, trend.oscillation
    fitted = f"Δ = {change:+.3g} against A = {a:.3g}, s in [{trend.slope_low:.3g}, "
    fitted += f"{trend.slope_high:.3g}]"
    rho = "" if radius_per_step is None else f", ρ = {radius_per_step:.6g} per step"
    if abs(change) <= a:
        return "oscillating", f"no trend beyond the oscillations: {fitted}"
    grows, shrinks = trend.slope_low > 0, trend.slope_high < 0
    if not (grows or shrinks):
        return "inconclusive", f"the interval of the slope contains 0: {fitted}"
    if grows and (radius_per_step is None or radius_per_step >= 1 - RADIUS_TOLERANCE):
        return "diverging", f"‖v‖ grows at e^s = {math.exp(s):.6g} per step: {fitted}{rho}"
    if shrinks and (radius_per_step is None or radius_per_step <= 1 + RADIUS_TOLERANCE):
        return "converging", f"‖v‖ shrinks at e^s = {math.exp(s):.6g} per step: {fitted}{rho}"
    direction = "grows" if grows else "shrinks"
    return "inconclusive", f"‖v‖ {direction} ({fitted}) but the local picture disagrees{rho}"


def logged_verdict(rows: list[dict], window: float = WINDOW) -> tuple[str, float | None]:
    """``(verdict, measured rate per step)`` from a run's logged diagnostics alone: the trend
    rules without the local picture (what a sweep report shows, without any ARPACK run)."""
    trend = fit_trend(rows, window)
    verdict, _ = decide(trend)
    rate = None if trend is None or not math.isfinite(trend.slope) else trend.rate
    return verdict, rate


def run_verdict(
    run_dir: str | Path,
    *,
    window: float = WINDOW,
    k: int = 6,
    spectrum: bool | str = "auto",
    path_angle: bool = True,
    points: int = 21,
    show_progress: bool = False,
    reuse: bool = True,
    device: str = "auto",
) -> dict:
    """The verdict of the run in ``run_dir`` and all its evidence, as one JSON-ready record
    (``show_progress``: bars on stderr for the ARPACK runs and the path points).

    ``spectrum``: ``"auto"`` computes the local picture only where it can change the verdict
    (:func:`local_can_change`), ``True`` always, ``False`` never; the record says which and
    why under ``"local_note"``. The last checkpoint is opened once
    (:class:`~convergan.runs.at_step.CheckpointAt`): its evaluation game (the diagnostics',
    drawn from the run's seed) and its field serve the local picture and the path-angle.
    ``reuse``: the local picture and the path-angle are saved in the run directory
    (:mod:`convergan.runs.verdict_store`) and read back while the checkpoints, the settings
    and convergan's version are unchanged. ``device``: where the players and the products
    live (``auto``: a GPU when torch sees one)."""
    from convergan.runs.at_step import CheckpointAt
    from convergan.runs.verdict_local import (
        dirac_beside,
        local_picture,
        local_wanted,
        no_local,
        path_angle_summary,
    )
    from convergan.runs.verdict_store import VerdictStore
    from convergan.training.diagnostics import diagnostics_samples
    from convergan.training.directory import RunDirectory

    run = RunDirectory.open(run_dir)
    config = run.config
    steps = run.steps()
    trend = fit_trend(run.metrics(), window)
    if not steps and trend is None:
        raise FileNotFoundError(f"{run.path} has no checkpoints and no diagnostics logged")
    step = steps[-1] if steps else trend.last
    samples = diagnostics_samples(config)
    opened: list[CheckpointAt] = []

    def at() -> CheckpointAt:  # the last checkpoint, opened on first use, once
        if not opened:
            opened.append(CheckpointAt(run, step, device))
        return opened[0]

    store = VerdictStore(run, step, dict(k=k, samples=samples, seed=config.seed, points=points))
    wanted, note = local_wanted(spectrum, trend, bool(steps))
    local = no_local()
    if wanted:
        local = store.read("local") if reuse else None
        if local is None:
            warm = store.start_vectors() if reuse else {}
            local = store.write("local", local_picture(at(), k, samples, show_progress, warm))
            store.save_start_vectors(warm)
    angle = None
    if path_angle and len(steps) >= 2:
        angle = store.read("path_angle", steps[-2]) if reuse else None
        if angle is None:
            angle = path_angle_summary(at(), steps[-2], points, samples, show_progress)
            store.write("path_angle", angle, steps[-2])
    world_size = at().world_size if steps else 1
    record: dict = {
        "run": str(run.path),
        "step": step,
        "checkpoint": bool(steps),
        "evaluation_game": {"samples": samples, "seed": config.seed},
        "window": window,
        "trend": None if trend is None else trend.to_dict(),
        "measured_rate_per_step": None if trend is None else trend.rate,
        "field_norm_last": None if trend is None else trend.field_norm_last,
        **local,
        "local_note": note,
        "path_angle": angle,
        **dirac_beside(config, step, world_size),
    }
    record["verdict"], record["reason"] = decide(trend, record["spectral_radius_per_step"])
    record["rules"] = list(RULES)
    return json_ready(record)


def json_ready(value):
    """``value`` with every non-finite float as ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def verdict_text(record: dict) -> str:
    """The record as the text ``convergan verdict`` prints: the verdict first, then every
    number behind it, then the rules."""
    lines = [
        f"verdict       {record['verdict']}  ({record['reason']})",
        f"run           {record['run']}",
    ]
    game = record["evaluation_game"]
    trend = record["trend"]
    if trend is not None:
        lines.append(
            f"trend         ln‖v‖ over steps {trend['first']}-{trend['last']} "
            f"({trend['points']} diagnostics; evaluation game: {game['samples']} samples, "
            f"seed {game['seed']})"
        )
        if trend["slope"] is not None:
            low, high = trend["rate_interval"]
            lines += [
                f"  rate        e^s = {trend['rate_per_step']:.6g} per step "
                f"(95% interval {low:.6g} to {high:.6g})",
                f"  change Δ    {trend['change']:+.4g}   oscillation A {trend['oscillation']:.4g}"
                "   (ln units)",
            ]
        lines.append(f"  ‖v‖ last    {_number(trend['field_norm_last'])}")
    if record["spectral_radius"] is not None:
        kind = "preconditioned" if record["preconditioned"] else "plain gradient steps"
        lines += [
            f"local         at checkpoint {record['step']}, lr_g {record['lr']['g']:.4g}, "
            f"lr_d {record['lr']['d']:.4g}, {kind}",
            f"  ρ           {record['spectral_radius']:.6g} per period of {record['period']} "
            f"= {record['spectral_radius_per_step']:.6g} per step",
        ]
        for which, values in record["leading_eigenvalues"].items():
            lines.append(f"  field {which:<5s} " + "  ".join(_complex(v) for v in values))
    if record.get("spectral_radius_residual") is not None:
        lines.append(f"  accuracy    ρ to about {record['spectral_radius_residual']:.1e} "
                     "(residual ‖F′u − μu‖/‖u‖ of its eigenpair)")  # fmt: skip
    if record.get("local_note"):
        lines.append(f"{'local' if record['spectral_radius'] is None else ''}".ljust(14)
                     + record["local_note"])  # fmt: skip
    angle = record["path_angle"]
    if angle is not None:
        lines.append(
            f"path-angle    checkpoints {angle['from']}-{angle['to']}: cos at the end "
            f"{angle['cosine_at_end']:+.3f}, range [{angle['cosine_min']:+.3f}, "
            f"{angle['cosine_max']:+.3f}], ‖v‖ smallest at α = {angle['field_norm_min_alpha']:.2f}"
        )
    dirac = record["dirac_verdict"] or "not available for this method or scheme"
    if record["dirac_spectral_radius"] is not None:
        dirac += f" (ρ = {record['dirac_spectral_radius']:.6g}, per step "
        dirac += f"{record['dirac_rate_per_step']:.6g})"
    lines.append(f"Dirac-GAN     {dirac}")
    lines.append("rules, in order:")
    lines += [f"  {i}. {rule}" for i, rule in enumerate(record["rules"], 1)]
    return "\n".join(lines)


def _number(value) -> str:
    return "not finite" if value is None else f"{value:.4g}"


def _complex(pair) -> str:
    re, im = pair
    return f"{re:+.4g}{im:+.4g}i"
