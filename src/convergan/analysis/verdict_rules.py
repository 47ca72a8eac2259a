"""Does a run converge? The verdict's statistics and rules, from the logged diagnostics alone.

The diagnostics (:mod:`convergan.training.diagnostics`) log, every few steps, the field
``v = (−∇_θ L_G, −∇_ψ L_D)`` on a fixed *evaluation game* of N samples, and its sampling noise
from independent games. With fresh minibatches the players never settle on a point: they
reach a *floor* set by the learning rate and the sampling noise of the training batches. A
method that converges and one that does not differ in where that floor is and whether the
players stay there. So the verdict measures, over the last half of the run (the *window*):

- **the trend**: the least-squares slope ``s`` of ``ln ‖v‖`` against the step with a 95%
  interval corrected for autocorrelated residuals (AR(1): the effective number of looks is
  ``n·(1 − r)/(1 + r)``, ``r`` the residuals' lag-1 correlation clipped to [0, 0.8]), the
  fitted change
  ``Δ = s·(window length)`` and the scatter ``σ`` (the residuals' RMS). A trend counts when the
  interval excludes 0 *and* ``|Δ| > 2σ``: it moves ‖v‖ further than its own fluctuations (a
  rotating field swings ‖v‖ even when the players converge or orbit);
- **the sampling noise**: ``Q``, the power of the true field over one game's noise power
  (``Σg/Ση²`` per block of the window, ``g`` unbiased for the true field's ``‖E v‖²``, ``η²``
  for one game's noise power), with a 95% batch-means interval over :data:`BLOCKS` blocks.
  ``Q ≈ 0`` at an equilibrium, ``Q > 0`` when the true field is not 0;
- **the floor**: the lowest level ‖v‖ reached before the window (the 10th percentile of
  ``ln ‖v‖`` over the looks in 10–50% of the run, after the start's transient) against the
  window's median: the *rise* ``R``; the same for the noise ``η``. Players that stay at their
  floor keep ``η`` within 2× and ‖v‖ within 4× of those levels; a noise that rose far above
  its level (a discriminator that keeps sharpening: per-sample gradients that grow while
  they cancel on average) has left it.

The rules (:data:`RULES`) are applied in order by :func:`decide`; :data:`MIN_POINTS` looks in
the window are needed for any decision. They were checked where the truth is known: exact
rates on the Dirac-GAN and a full-batch MLP, and R1 against the unregularized GAN across
seeds on the 2D problems (docs: "Does my run converge?").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from convergan.analysis.verdict_statistics import (
    NOISE_RATIO,
    TREND_SCATTERS,
    WINDOW,
    Floor,
    SamplingNoise,
    Trend,
    fit_trend,
    floor_rise,
    sampling_noise,
)

# Looks in the window below which the rules refuse to decide: five blocks of at least four
# looks for the noise test, and a slope whose interval is not dominated by a few points.
MIN_POINTS = 20
RADIUS_TOLERANCE = 1e-3  # how far beyond the unit circle ρ may be and still "agree"

VERDICTS = (
    "converging",
    "at equilibrium",
    "at noise floor",
    "oscillating",
    "diverging",
    "inconclusive",
)

RULES = (
    "diverging: ‖v‖ is not finite at the last look",
    f"inconclusive: fewer than {MIN_POINTS} finite looks in the window (the last half of the run)",
    "at equilibrium: the true field is within the sampling noise of the evaluation game "
    f"(the 95% interval of Q lies below {NOISE_RATIO:g}, and so does the last block's mean) "
    "and the players stayed at their floor (η within 2× and ‖v‖ within 4× of the lowest "
    "levels they reached before the window)",
    "diverging: ‖v‖ grows beyond its fluctuations (s₋ > 0 and Δ > 2σ), the field is not "
    f"within the noise, and the local picture does not contradict (ρ ≥ 1 − {RADIUS_TOLERANCE:g}"
    " per step, or not computed)",
    "converging: ‖v‖ shrinks beyond its fluctuations (s₊ < 0 and −Δ > 2σ) and the local "
    f"picture does not contradict (ρ ≤ 1 + {RADIUS_TOLERANCE:g} per step, or not computed); "
    "its rate is e^s per step",
    "oscillating: no trend beyond the fluctuations (|Δ| ≤ 2σ) on a game without sampling "
    "noise (a deterministic orbit), or without the noise measured",
    "at noise floor: no trend beyond the fluctuations, the true field distinguishable from 0 "
    "(Q's interval above 0) and the players stayed at their floor: they hold a floor set by "
    "the learning rate and the training noise",
    "oscillating: no trend beyond the fluctuations while η or ‖v‖ rose far above its floor: a "
    "band away from an equilibrium",
    "inconclusive: anything else, with the reason (a slope whose interval contains 0, a trend "
    "the local picture contradicts, a field its sampling noise swamps: Q's interval contains "
    "0 but not below 0.1)",
)


def decide(
    trend: Trend | None,
    noise: SamplingNoise | None = None,
    floor: Floor | None = None,
    radius_per_step: float | None = None,
) -> tuple[str, str]:
    """``(verdict, reason)`` by :data:`RULES`. ``noise``: the noise test (``None``: noise not
    measured); ``floor``: the rise above the floor (``None``: too short a run before the
    window); ``radius_per_step``: the local ``ρ^(1/period)`` (``None``: not computed, as in a
    sweep report, which reads the logs only)."""
    if trend is None:
        return "inconclusive", (
            "no diagnostics logged yet (eval.diagnostics.every = 0, or the run has not "
            "reached its first look)"
        )
    if not trend.finite:
        return "diverging", f"‖v‖ is not finite at step {trend.last}"
    if trend.points < MIN_POINTS or not math.isfinite(trend.slope):
        return "inconclusive", (
            f"{trend.points} finite looks in steps {trend.first}-{trend.last} (at least "
            f"{MIN_POINTS} needed: train longer or set eval.diagnostics.every lower)"
        )
    state = "not measured" if noise is None else noise.state
    stochastic = state not in ("not measured", "noise-free")
    stayed = floor is not None and floor.stayed
    where = _floor_text(floor)
    fitted = (
        f"Δ = {trend.change:+.3g} against 2σ = {TREND_SCATTERS * trend.scatter:.3g}, s in "
        f"[{trend.slope_low:.3g}, {trend.slope_high:.3g}]"
    )
    rho = "" if radius_per_step is None else f", ρ = {radius_per_step:.6g} per step"
    if state == "within" and stayed:
        return (
            "at equilibrium",
            f"the true field is within the sampling noise: {_noise_text(noise)}; {where}",
        )
    rate = f"e^s = {trend.rate:.6g} per step"
    if trend.grows and state != "within":
        if radius_per_step is None or radius_per_step >= 1 - RADIUS_TOLERANCE:
            return "diverging", f"‖v‖ grows at {rate}: {fitted}{rho}"
    if trend.shrinks and (radius_per_step is None or radius_per_step <= 1 + RADIUS_TOLERANCE):
        return "converging", f"‖v‖ shrinks at {rate}: {fitted}{rho}"
    if trend.grows or trend.shrinks:
        direction = "grows" if trend.grows else "shrinks"
        if trend.grows and state == "within":
            return "inconclusive", f"‖v‖ grows ({fitted}) but the true field is within the noise"
        return "inconclusive", f"‖v‖ {direction} ({fitted}) but the local picture disagrees{rho}"
    if abs(trend.change) > TREND_SCATTERS * trend.scatter:
        return "inconclusive", f"the interval of the slope contains 0: {fitted}"
    if not stochastic:
        away = " (no sampling noise: an orbit)" if state == "noise-free" else ""
        return "oscillating", f"no trend beyond the fluctuations{away}: {fitted}"
    if state == "undetermined":
        return "inconclusive", (
            f"no trend, but the field cannot be told from its sampling noise "
            f"({_noise_text(noise)}): a larger evaluation game (eval.diagnostics.samples) "
            f"can place it; {where}"
        )
    if state == "above" and stayed:
        return "at noise floor", f"no trend beyond the fluctuations ({fitted}); {where}"
    if floor is not None and not stayed:
        return "oscillating", f"no trend beyond the fluctuations ({fitted}); {where}"
    return "inconclusive", f"no trend beyond the fluctuations ({fitted}) and {where}"


def _floor_text(floor: Floor | None) -> str:
    if floor is None:
        return "too few looks before the window to place its floor"
    verb = "stayed at" if floor.stayed else "rose above"
    text = (
        f"‖v‖ and its noise {verb} their floors: ‖v‖ median {floor.level:.3g} in the window "
        f"against {floor.floor:.3g} before (R = {floor.rise:+.2f})"
    )
    if floor.noise_rise is not None:
        text += f", η {floor.noise_level:.3g} against {floor.noise_floor:.3g} "
        text += f"(R = {floor.noise_rise:+.2f})"
    return text


def _noise_text(noise: SamplingNoise | None) -> str:
    if noise is None:
        return "noise not measured"
    if noise.noise_free:
        return "no sampling noise"
    return (
        f"Q = {noise.ratio:.3g} in [{noise.ratio_low:.3g}, {noise.ratio_high:.3g}], "
        f"last block {noise.ratio_last:.3g}, η last {noise.noise_last:.3g}"
    )


@dataclass(frozen=True)
class Assessment:
    """The verdict of a run's logged diagnostics with the statistics behind it."""

    verdict: str
    reason: str
    trend: Trend | None
    noise: SamplingNoise | None
    floor: Floor | None

    @property
    def rate(self) -> float | None:
        """The measured rate ``e^s`` per step (``None`` without a fitted slope)."""
        if self.trend is None or not math.isfinite(self.trend.slope):
            return None
        return self.trend.rate


def assess(
    rows: list[dict], window: float = WINDOW, radius_per_step: float | None = None
) -> Assessment:
    """The verdict of the diagnostics in ``rows`` (``metrics.jsonl``'s records) by
    :data:`RULES`, with the local ``radius_per_step`` where it was computed."""
    trend, noise = fit_trend(rows, window), sampling_noise(rows, window)
    floor = floor_rise(rows, window)
    verdict, reason = decide(trend, noise, floor, radius_per_step)
    return Assessment(verdict, reason, trend, noise, floor)


def logged_verdict(rows: list[dict], window: float = WINDOW) -> tuple[str, float | None]:
    """``(verdict, measured rate per step)`` from a run's logged diagnostics alone: the rules
    without the local picture (what a sweep report shows, without any ARPACK run)."""
    result = assess(rows, window)
    return result.verdict, result.rate
