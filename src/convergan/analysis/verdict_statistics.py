"""The statistics of a run's logged diagnostics that the verdict's rules read
(:mod:`convergan.analysis.verdict_rules`), over the last part of the run (the *window*).

- :func:`fit_trend`: the least-squares slope of ``ln ‖v‖`` against the step, with a 95%
  interval corrected for autocorrelated residuals, the fitted change and the scatter;
- :func:`sampling_noise`: ``Q``, the power of the true field over one evaluation game's noise
  power, with a batch-means interval;
- :func:`floor_rise`: how far ‖v‖ and its noise ``η`` rose above the lowest levels they
  reached before the window.

Each is defined, with why, in the docs ("Does my run converge?").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

PREFIX = "diagnostics/"
WINDOW = 0.5  # the statistics use the last half of the run's steps
NOISE_POINTS = 20  # looks the noise test needs: five blocks of four
BLOCKS = 5  # batch means for the noise test (4 degrees of freedom)
# The true field is "within the sampling noise" while its power is below a tenth of one
# evaluation game's noise power (its norm below ~0.32 η) with 95% confidence.
NOISE_RATIO = 0.1
TREND_SCATTERS = 2.0  # a trend counts when |Δ| exceeds this many scatters σ
# The players stayed at their floor while the noise η keeps within 2× its floor and ‖v‖ within
# 4×: a look's ‖v‖ at a floor swings several-fold (it is a small difference of per-sample
# gradients), η much less; a discriminator that keeps sharpening raises η by e^1 and more.
NOISE_RISE = math.log(2.0)
FIELD_RISE = math.log(4.0)
FLOOR_SPAN = (0.1, 0.5)  # the part of the run (fractions of the last step) the floor comes from
FLOOR_POINTS = 5  # looks before the window below which there is no floor
FLOOR_QUANTILE = 10  # percentile of ln ‖v‖ there: the lowest level reached, robust to one look
MAX_CORRELATION = 0.8  # the residuals' lag-1 correlation is clipped here (see fit_trend)


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
    scatter: float  # σ, the residuals' RMS
    oscillation: float  # A = max |residual| (shown)
    effective_points: float  # n·(1 − r)/(1 + r), r the residuals' lag-1 correlation
    field_norm_last: float | None
    finite: bool  # ‖v‖ finite at the last look

    @property
    def rate(self) -> float:
        return math.exp(self.slope)

    @property
    def grows(self) -> bool:
        """A growth beyond the fluctuations (its interval above 0, ``Δ > 2σ``)."""
        return self.slope_low > 0 and self.change > TREND_SCATTERS * self.scatter

    @property
    def shrinks(self) -> bool:
        return self.slope_high < 0 and -self.change > TREND_SCATTERS * self.scatter

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "rate_per_step": self.rate,
            "rate_interval": [math.exp(self.slope_low), math.exp(self.slope_high)],
        }


@dataclass(frozen=True)
class SamplingNoise:
    """The true field against the evaluation game's sampling noise over the window.

    ``ratio`` is ``Q``, the power of the true field over one game's noise power: the mean over
    :data:`BLOCKS` contiguous blocks of the window of ``Σg/Ση²`` (``g`` unbiased for ``‖E v‖²``,
    ``η²`` for one game's noise power), with its 95% Student-t interval over the blocks (batch
    means: looks are autocorrelated); ``ratio_last`` is the last block's. ``noise_free``:
    every look measured ``η = 0`` (a game without sampling noise: exact expectations, a fixed
    finite game)."""

    points: int
    noise_free: bool
    ratio: float
    ratio_low: float
    ratio_high: float
    ratio_last: float
    noise_last: float

    @property
    def state(self) -> str:
        """``noise-free``; ``within`` (the noise: Q's interval and the last block below
        :data:`NOISE_RATIO`); ``above`` (the true field is not 0: Q's interval above 0);
        ``undetermined``."""
        if self.noise_free:
            return "noise-free"
        if self.ratio_high < NOISE_RATIO and self.ratio_last < NOISE_RATIO:
            return "within"
        if self.ratio_low > 0:
            return "above"
        return "undetermined"

    def to_dict(self) -> dict:
        return {**asdict(self), "state": self.state}


@dataclass(frozen=True)
class Floor:
    """Where ‖v‖ and its sampling noise ``η`` are in the window against the lowest levels
    they reached before it: ``level``, the window's median ‖v‖; ``floor``, the
    :data:`FLOOR_QUANTILE`-th percentile of ‖v‖ over the looks in :data:`FLOOR_SPAN` of the
    run; ``rise = ln(level/floor)``; the same for ``η`` where it was measured (a noise that
    keeps rising is a discriminator that keeps sharpening: per-sample gradients that grow
    while they cancel on average)."""

    points: int  # looks the floor comes from
    floor: float
    level: float
    rise: float
    noise_floor: float | None
    noise_level: float | None
    noise_rise: float | None

    @property
    def stayed(self) -> bool:
        """``η`` within a factor 2 of its floor (where measured) and ‖v‖ within 4."""
        noise_stayed = self.noise_rise is None or self.noise_rise <= NOISE_RISE
        return self.rise <= FIELD_RISE and noise_stayed

    def to_dict(self) -> dict:
        return {**asdict(self), "stayed": self.stayed}


def diagnostics_series(rows: list[dict]) -> dict[str, np.ndarray]:
    """The logged diagnostics as arrays over the steps where ``‖v‖`` was logged (NaN where a
    value is missing or was not finite)."""
    logged = [r for r in rows if PREFIX + "field_norm" in r]

    def column(key: str) -> np.ndarray:
        values = [r.get(PREFIX + key) for r in logged]
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)

    series = {"step": np.array([r["step"] for r in logged], dtype=np.int64)}
    for key in (
        "field_norm",
        "field_norm_g",
        "field_norm_d",
        "distance_per_step",
        "cosine",
        "field_noise",
        "field_signal_sq",
    ):
        series[key] = column(key)
    return series


def window_mask(steps: np.ndarray, window: float = WINDOW) -> np.ndarray:
    """The looks in the last ``window`` of the run's steps."""
    last = int(steps[-1])
    return steps >= last - window * last


def fit_trend(rows: list[dict], window: float = WINDOW) -> Trend | None:
    """The trend over the last ``window`` of the run's steps (``None`` without diagnostics)."""
    from scipy import stats

    series = diagnostics_series(rows)
    steps, norms = series["step"], series["field_norm"]
    if not len(steps):
        return None
    last = int(steps[-1])
    inside = window_mask(steps, window)
    finite = bool(np.isfinite(norms[-1]))
    usable = inside & np.isfinite(norms) & (norms > 0)
    x, y = steps[usable].astype(np.float64), np.log(norms[usable])
    base = dict(last=last, field_norm_last=float(norms[-1]) if finite else None, finite=finite)
    if len(x) < 3 or np.ptp(x) == 0:
        nan = math.nan
        first = int(steps[inside][0])
        return Trend(first=first, points=len(x), slope=nan, slope_low=nan, slope_high=nan,
                     change=nan, scatter=nan, oscillation=nan, effective_points=nan,
                     **base)  # fmt: skip
    fit = stats.linregress(x, y)
    residuals = y - (fit.intercept + fit.slope * x)
    n = len(x)
    r = _lag1_correlation(residuals)
    effective = min(float(n), max(3.0, n * (1 - r) / (1 + r)))
    # OLS's standard error assumes independent residuals; n_eff looks carry the information
    stderr = float(fit.stderr) * math.sqrt((n - 2) / (effective - 2)) if n > 2 else math.inf
    half = float(stats.t.ppf(0.975, effective - 2)) * stderr
    return Trend(
        first=int(x[0]),
        points=n,
        slope=float(fit.slope),
        slope_low=float(fit.slope) - half,
        slope_high=float(fit.slope) + half,
        change=float(fit.slope) * float(x[-1] - x[0]),
        scatter=float(np.sqrt(np.mean(residuals**2))),
        oscillation=float(np.abs(residuals).max()),
        effective_points=effective,
        **base,
    )


def _lag1_correlation(residuals: np.ndarray) -> float:
    """The lag-1 autocorrelation of ``residuals``, clipped to [0, 0.8] (``n_eff ≥ n/9``):
    negative correlation would only narrow the interval, and a smooth deterministic swing (a
    rotation: ``r → 1``) is the residuals' shape, not noise; its size is what ``|Δ| > 2σ``
    judges."""
    centered = residuals - residuals.mean()
    denominator = float(centered @ centered)
    if denominator == 0 or len(centered) < 3:
        return 0.0
    return min(max(float(centered[1:] @ centered[:-1]) / denominator, 0.0), MAX_CORRELATION)


def sampling_noise(rows: list[dict], window: float = WINDOW) -> SamplingNoise | None:
    """The field against its sampling noise over the window; ``None`` where the noise was not
    measured (``eval.diagnostics.games = 1``, a run logged before it existed) or fewer than
    :data:`NOISE_POINTS` looks measured it."""
    from scipy import stats

    series = diagnostics_series(rows)
    steps = series["step"]
    if not len(steps):
        return None
    inside = window_mask(steps, window)
    noise, signal = series["field_noise"][inside], series["field_signal_sq"][inside]
    measured = np.isfinite(noise) & np.isfinite(signal)
    if measured.sum() < NOISE_POINTS:
        return None
    noise, signal = noise[measured], signal[measured]
    if not np.any(noise > 0):
        nan = math.nan
        return SamplingNoise(points=len(noise), noise_free=True, ratio=nan, ratio_low=nan,
                          ratio_high=nan, ratio_last=nan, noise_last=0.0)  # fmt: skip
    # Each block's ratio of sums Σg/Ση² (a ratio of means: per-look ratios g/η² would be
    # biased by about 1/(d − 2) for noise spread over d directions)
    means = np.array(
        [
            g.sum() / (n**2).sum()
            for g, n in zip(np.array_split(signal, BLOCKS), np.array_split(noise, BLOCKS))
        ]
    )
    half = float(stats.t.ppf(0.975, BLOCKS - 1)) * float(means.std(ddof=1)) / math.sqrt(BLOCKS)
    center = float(means.mean())
    return SamplingNoise(
        points=len(noise),
        noise_free=False,
        ratio=center,
        ratio_low=center - half,
        ratio_high=center + half,
        ratio_last=float(means[-1]),
        noise_last=float(noise[-1]),
    )


def floor_rise(rows: list[dict], window: float = WINDOW) -> Floor | None:
    """:class:`Floor` of the run (``None`` with fewer than :data:`FLOOR_POINTS` finite looks
    before the window or none in it)."""
    series = diagnostics_series(rows)
    steps = series["step"]
    if not len(steps):
        return None
    last = int(steps[-1])
    start, end = FLOOR_SPAN
    span = (steps >= start * last) & (steps < min(end, 1 - window) * last)
    inside = window_mask(steps, window)

    def levels(values: np.ndarray) -> tuple[float, float] | None:
        usable = np.isfinite(values) & (values > 0)
        before, now = span & usable, inside & usable
        if before.sum() < FLOOR_POINTS or not now.any():
            return None
        floor = np.exp(np.percentile(np.log(values[before]), FLOOR_QUANTILE))
        return float(floor), float(np.exp(np.median(np.log(values[now]))))

    norms = levels(series["field_norm"])
    if norms is None:
        return None
    noise = levels(series["field_noise"])
    return Floor(
        points=int((span & np.isfinite(series["field_norm"])).sum()),
        floor=norms[0],
        level=norms[1],
        rise=math.log(norms[1] / norms[0]),
        noise_floor=None if noise is None else noise[0],
        noise_level=None if noise is None else noise[1],
        noise_rise=None if noise is None else math.log(noise[1] / noise[0]),
    )
