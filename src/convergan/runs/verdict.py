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
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from convergan.wording import count

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
    spectrum: bool = True,
    path_angle: bool = True,
    points: int = 21,
    show_progress: bool = False,
) -> dict:
    """The verdict of the run in ``run_dir`` and all its evidence, as one JSON-ready record
    (``show_progress``: bars on stderr for the ARPACK runs and the path points)."""
    from convergan.runs.spectrum import open_run

    run = open_run(run_dir)
    config = run.config
    steps = run.steps()
    step = steps[-1]
    trend = fit_trend(run.metrics(), window)
    from convergan.training.diagnostics import diagnostics_samples

    samples = diagnostics_samples(config)
    record: dict = {
        "run": str(run.path),
        "step": step,
        "evaluation_game": {"samples": samples, "seed": config.seed},
        "window": window,
        "trend": None if trend is None else trend.to_dict(),
        "measured_rate_per_step": None if trend is None else trend.rate,
        "field_norm_last": None if trend is None else trend.field_norm_last,
        **(_local(run, step, k, samples, show_progress) if spectrum else _no_local()),
        "path_angle": (
            _path_angle(run, steps, points, samples, show_progress) if path_angle else None
        ),
        **_dirac(run, step),
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
            f"({trend['points']} diagnostics; evaluation game: {count(game['samples'], 'sample')}, "
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


def _no_local() -> dict:
    return {key: None for key in LOCAL_KEYS}


LOCAL_KEYS = (
    "spectral_radius",
    "spectral_radius_per_step",
    "period",
    "lr",
    "preconditioned",
    "leading_eigenvalues",
    "update_eigenvalues",
    "spectrum_converged",
)


def _local(run, step: int, k: int, samples: int, show_progress: bool = False) -> dict:
    """The field's LR and LM eigenvalues and the run's update radius at checkpoint ``step``,
    on the diagnostics' evaluation game."""
    from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint

    _, checkpoint = run.load(step)
    n = checkpoint["theta"].numel() + checkpoint["psi"].numel()
    settings = SpectrumSettings(
        k=min(k, n),
        which=("LR", "LM"),
        samples=samples,
        seed=run.config.seed,
        schemes=("run",),
        preconditioned=True,
        lr_bound=False,
    )
    try:
        result = analyze_checkpoint(run, step, settings, show_progress)
    except ValueError:  # plain gradient steps: no second moments to freeze
        settings = SpectrumSettings(**{**asdict(settings), "preconditioned": False})
        result = analyze_checkpoint(run, step, settings, show_progress)
    scheme = result["schemes"][0]
    spectra = result["spectra"]
    return {
        "spectral_radius": scheme["spectral_radius"],
        "spectral_radius_per_step": scheme["rate_per_step"],
        "period": scheme["period"],
        "lr": result["lr"],
        "preconditioned": scheme["preconditioned"],
        "leading_eigenvalues": {w: spectra[w]["eigenvalues"] for w in ("LR", "LM")},
        "update_eigenvalues": scheme["update_eigenvalues"],
        "spectrum_converged": bool(result["converged"] and scheme["converged"]),
    }


def _path_angle(
    run, steps: list[int], points: int, samples: int, show_progress: bool = False
) -> dict | None:
    """The path-angle profile between the last two checkpoints, summarised (Berard et al.:
    a cosine that changes sign once near α = 1 reads as descent, one that stays near 0 and
    bumps there as rotation)."""
    if len(steps) < 2:
        return None
    from convergan.runs.path_angle import run_path_angle

    try:
        with _points_bar(points, show_progress) as progress:
            stats = run_path_angle(
                run, steps[-2], steps[-1], points=points, samples=samples, progress=progress
            )
    except ValueError:  # the two checkpoints are the same point
        return None
    alphas, cosine = np.array(stats["alphas"]), np.array(stats["cosine"], dtype=np.float64)
    end = int(np.argmin(np.abs(alphas - 1.0)))
    norms = np.array(stats["field_norm"], dtype=np.float64)
    return {
        "from": stats["from"],
        "to": stats["to"],
        "distance": stats["distance"],
        "cosine_at_end": float(cosine[end]),
        "cosine_min": float(np.nanmin(cosine)),
        "cosine_max": float(np.nanmax(cosine)),
        "field_norm_min_alpha": float(alphas[int(np.nanargmin(norms))]),
        "profile": {key: stats[key] for key in ("alphas", "cosine", "field_norm")},
    }


def _dirac(run, step: int) -> dict:
    """The exact Dirac-GAN verdict of the run's method and scheme with the values in force at
    checkpoint ``step`` (the spec at step t, as the local picture takes it)."""
    from convergan.config.schema import config_at, config_to_dict
    from convergan.studies.theory import dirac_verdict
    from convergan.training.in_force import build_scheme

    _, checkpoint = run.load(step)
    in_force = config_at(run.config, step, int(checkpoint.get("world_size") or 1))
    verdict = dirac_verdict(config_to_dict(in_force))
    period = build_scheme(in_force).period
    radius = None if verdict is None else verdict.spectral_radius
    return {
        "dirac_verdict": None if verdict is None else verdict.verdict,
        "dirac_spectral_radius": radius,
        "dirac_rate_per_step": None if radius is None else radius ** (1.0 / period),
    }


@contextmanager
def _points_bar(points: int, enabled: bool):
    """A tqdm bar on stderr over the path-angle's points (``None`` when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=points, desc="path-angle", unit="point", file=sys.stderr) as bar:
        yield lambda done: bar.update(done - bar.n)
