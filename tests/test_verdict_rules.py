"""The verdict's statistics and rules (convergan.analysis.verdict_rules) on series made here,
and the noise estimate of the diagnostics (convergan.training.diagnostics.noise_scalars)
against its definition: cheap checks, no training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from convergan.analysis.verdict_rules import MIN_POINTS, assess, decide, logged_verdict
from convergan.analysis.verdict_statistics import (
    BLOCKS,
    FIELD_RISE,
    NOISE_RATIO,
    NOISE_RISE,
    fit_trend,
    floor_rise,
    sampling_noise,
)
from convergan.training.diagnostics import noise_scalars

STEPS = np.arange(10, 1010, 10)  # 100 looks, 51 in the window (steps 500-1000)


def rows_of(steps, norms, noise=None, signal_sq=None):
    rows = []
    for i, (s, n) in enumerate(zip(steps, norms)):
        row = {"step": int(s), "diagnostics/field_norm": None if n is None else float(n)}
        if noise is not None:
            row["diagnostics/field_noise"] = float(noise[i])
            row["diagnostics/field_signal_sq"] = float(signal_sq[i])
        rows.append(row)
    return rows


def looks(true_norm, sigma, seed=0, dim=200):
    """Looks at a field of norm ``true_norm[t]`` on two independent games with isotropic noise of
    norm ``sigma[t]`` each, drawn here: (‖v₁‖, η, ⟨v₁, v₂⟩) as the diagnostics log them."""
    rng = np.random.default_rng(seed)
    norms, noise, signal = [], [], []
    for size, s in zip(true_norm, sigma):
        direction = rng.standard_normal(dim)
        v = size * direction / np.linalg.norm(direction)
        v1 = v + s * rng.standard_normal(dim) / math.sqrt(dim)
        v2 = v + s * rng.standard_normal(dim) / math.sqrt(dim)
        norms.append(np.linalg.norm(v1))
        noise.append(np.linalg.norm(v1 - v2) / math.sqrt(2))
        signal.append(float(v1 @ v2))
    return norms, noise, signal


def test_noise_scalars_are_unbiased_for_the_noise_and_the_true_field():
    # K games of a field v plus independent noise with covariance Σ = diag(c): E η² = tr Σ and
    # E signal = ‖v‖², whatever K. Checked by Monte Carlo against the standard error.
    generator = torch.Generator().manual_seed(1)
    dim, draws = 30, 1500
    v = torch.linspace(-0.3, 0.5, dim, dtype=torch.float64)
    scale = torch.linspace(0.1, 1.0, dim, dtype=torch.float64)
    for k in (2, 3, 5):
        noise_sq, signal = [], []
        for _ in range(draws):
            fields = [v + scale * torch.randn(dim, generator=generator, dtype=torch.float64)
                      for _ in range(k)]  # fmt: skip
            out = noise_scalars(fields)
            noise_sq.append(out["diagnostics/field_noise"] ** 2)
            signal.append(out["diagnostics/field_signal_sq"])
        for values, truth in ((noise_sq, float((scale**2).sum())), (signal, float(v @ v))):
            values = np.array(values)
            assert abs(values.mean() - truth) < 4 * values.std() / math.sqrt(draws)
    assert noise_scalars([v]) == {}  # one game measures no noise
    same = noise_scalars([v, v.clone()])
    assert same["diagnostics/field_noise"] == 0.0
    assert same["diagnostics/field_signal_sq"] == pytest.approx(float(v @ v))
    # K = 2 in closed form: η² = ‖v₁ − v₂‖²/2, signal = ⟨v₁, v₂⟩.
    a = torch.randn(dim, generator=generator, dtype=torch.float64)
    b = torch.randn(dim, generator=generator, dtype=torch.float64)
    out = noise_scalars([a, b])
    assert out["diagnostics/field_noise"] ** 2 == pytest.approx(float((a - b).norm() ** 2 / 2))
    assert out["diagnostics/field_signal_sq"] == pytest.approx(float(a @ b), abs=1e-9)


def test_the_noise_test_is_the_batch_means_interval_of_the_power_ratio():
    norms, noise, signal = looks(np.full(100, 0.5), np.linspace(0.4, 0.8, 100), seed=3)
    result = sampling_noise(rows_of(STEPS, norms, noise, signal))
    inside = STEPS >= 500
    g, eta2 = np.array(signal)[inside], np.array(noise)[inside] ** 2
    blocks = np.array(
        [a.sum() / b.sum() for a, b in zip(np.array_split(g, BLOCKS), np.array_split(eta2, BLOCKS))]
    )
    half = stats.t.ppf(0.975, BLOCKS - 1) * blocks.std(ddof=1) / math.sqrt(BLOCKS)
    assert result.points == inside.sum() == 51
    assert result.ratio == pytest.approx(blocks.mean())
    assert result.ratio_low == pytest.approx(blocks.mean() - half)
    assert result.ratio_high == pytest.approx(blocks.mean() + half)
    assert result.ratio_last == pytest.approx(blocks[-1])
    assert result.noise_last == pytest.approx(noise[-1])


def test_the_trend_interval_is_widened_by_autocorrelated_residuals():
    # ln‖v‖ = −0.001·t + a slow swing: OLS's interval, widened by n/n_eff with
    # n_eff = n (1 − r)/(1 + r), r the residuals' lag-1 correlation, written out here.
    y = -0.001 * STEPS + 0.3 * np.sin(STEPS / 25.0)
    trend = fit_trend(rows_of(STEPS, np.exp(y)))
    x, v = STEPS[STEPS >= 500].astype(float), y[STEPS >= 500]
    fit = stats.linregress(x, v)
    e = v - fit.intercept - fit.slope * x
    e = e - e.mean()
    r = min(float(e[1:] @ e[:-1] / (e @ e)), 0.8)  # clipped: a smooth swing is not noise
    n = len(x)
    n_eff = n * (1 - r) / (1 + r)
    half = stats.t.ppf(0.975, n_eff - 2) * fit.stderr * math.sqrt((n - 2) / (n_eff - 2))
    assert 0.5 < r and 3 < n_eff and trend.effective_points == pytest.approx(n_eff)
    assert trend.slope_high - trend.slope == pytest.approx(half)
    assert trend.scatter == pytest.approx(math.sqrt(np.mean(e**2)))
    ols_half = stats.t.ppf(0.975, n - 2) * fit.stderr
    assert trend.slope_high - trend.slope > 2 * ols_half


def test_the_floor_is_the_lowest_level_before_the_window():
    norms = np.exp(np.random.default_rng(9).normal(0, 0.2, 100)) * np.where(STEPS < 300, 1, 8)
    noise = np.full(100, 0.1)
    floor = floor_rise(rows_of(STEPS, norms, noise, np.zeros(100)))
    before = (STEPS >= 100) & (STEPS < 500)  # 10%-50% of the run's 1000 steps
    expected = np.exp(np.percentile(np.log(norms[before]), 10))
    assert floor.floor == pytest.approx(expected)
    assert floor.level == pytest.approx(np.exp(np.median(np.log(norms[STEPS >= 500]))))
    assert floor.rise == pytest.approx(math.log(floor.level / expected))
    assert floor.rise > FIELD_RISE and not floor.stayed  # the field rose fourfold
    assert floor.noise_rise == pytest.approx(0.0)


def test_a_field_within_its_noise_is_at_equilibrium_even_when_the_noise_grows():
    # The R1 run that used to read "diverging": ‖v‖ grows in the window because the noise of
    # the evaluation game grows (a sharper D), while the true field stays 0.
    sigma = np.linspace(0.2, 0.4, 100) * np.exp(0.1 * np.sin(STEPS / 40))
    norms, noise, signal = looks(np.zeros(100), sigma, seed=4)
    rows = rows_of(STEPS, norms, noise, signal)
    trend = fit_trend(rows)
    assert trend.slope_low > 0  # ‖v‖ does grow, significantly
    result = assess(rows)
    assert result.noise.state == "within" and result.floor.stayed
    assert result.verdict == "at equilibrium", result.reason
    # ... the same looks without the noise measured are not called settled: nothing places them
    assert decide(trend, None, result.floor)[0] not in ("at equilibrium", "at noise floor")


def test_a_band_is_a_floor_where_it_stayed_and_oscillating_where_it_rose():
    band = np.exp(0.3 * np.sin(STEPS / 37.0))
    sigma = np.full(100, 0.1)
    steady = assess(rows_of(STEPS, *looks(0.5 * band, sigma, seed=5)))
    assert steady.noise.state == "above" and steady.floor.stayed
    assert steady.verdict == "at noise floor", steady.reason
    # the same band after ‖v‖ rose tenfold before the window
    risen = np.where(STEPS < 400, 0.5, 5.0) * band
    result = assess(rows_of(STEPS, *looks(risen, sigma, seed=5)))
    assert result.verdict == "oscillating", result.reason
    # ... or after its noise rose tenfold while ‖v‖ held its level (a sharpening D)
    noisy = assess(rows_of(STEPS, *looks(0.5 * band, np.where(STEPS < 400, 0.02, 0.2), seed=5)))
    assert noisy.floor.noise_rise > NOISE_RISE and noisy.floor.rise < FIELD_RISE
    assert noisy.verdict == "oscillating", noisy.reason
    growing = 2.0 * np.exp(0.004 * STEPS + 0.1 * np.sin(STEPS / 37.0))
    result = assess(rows_of(STEPS, *looks(growing, np.full(100, 0.3), seed=6)))
    assert result.verdict == "diverging", result.reason
    assert result.rate == pytest.approx(math.exp(0.004), rel=2e-3)


def test_a_field_its_noise_swamps_is_inconclusive():
    # A true field at the noise level (a sharp discriminator): Q's interval contains 0 or
    # straddles the threshold, and nothing places the players.
    norms, noise, signal = looks(np.full(100, 0.15), np.full(100, 1.0), seed=7, dim=4)
    rows = rows_of(STEPS, norms, noise, signal)
    result = sampling_noise(rows)
    assert result.ratio_low < 0 < NOISE_RATIO < result.ratio_high
    verdict, reason = decide(fit_trend(rows), result, floor_rise(rows))
    assert verdict == "inconclusive" and "eval.diagnostics.samples" in reason


def test_noise_free_series_follow_the_trend_rules():
    wobble = 0.2 * np.sin(STEPS / 37.0)
    zeros = np.zeros(100)
    shrinking = rows_of(STEPS, np.exp(-0.01 * STEPS + wobble), zeros, zeros)
    assert sampling_noise(shrinking).state == "noise-free"
    result = assess(shrinking)
    assert result.verdict == "converging"
    assert result.rate == pytest.approx(math.exp(-0.01), rel=1e-3)
    # the local picture vetoes a trend it contradicts, and only then
    assert assess(shrinking, radius_per_step=1.01).verdict == "inconclusive"
    assert assess(shrinking, radius_per_step=1.0005).verdict == "converging"
    growing = rows_of(STEPS, np.exp(0.01 * STEPS + wobble), zeros, zeros)
    assert assess(growing).verdict == "diverging"
    assert assess(growing, radius_per_step=0.9).verdict == "inconclusive"
    # a deterministic band is an orbit, never a floor
    assert assess(rows_of(STEPS, np.exp(wobble), zeros, zeros)).verdict == "oscillating"
    # runs logged before the noise was measured read the same
    assert assess(rows_of(STEPS, np.exp(-0.01 * STEPS + wobble))).verdict == "converging"
    assert assess(rows_of(STEPS, np.exp(wobble))).verdict == "oscillating"


def test_the_rules_refuse_to_decide_on_fewer_looks_than_they_need():
    steps = np.arange(1, 2 * MIN_POINTS + 1) * 10  # exactly MIN_POINTS + 1 looks in the window
    norms = np.exp(-0.01 * steps)
    rows = rows_of(steps, norms)
    assert fit_trend(rows).points == MIN_POINTS + 1
    assert assess(rows).verdict == "converging"
    short = rows_of(steps[:-3], norms[:-3])  # a shorter run: MIN_POINTS − 1 in its window
    assert fit_trend(short).points == MIN_POINTS - 1
    verdict, reason = decide(fit_trend(short))
    assert verdict == "inconclusive" and f"at least {MIN_POINTS} needed" in reason
    broken = rows_of(steps, [*norms[:-1], None])
    assert assess(broken).verdict == "diverging"
    assert assess([{"step": 5, "loss": 1.0}]).verdict == "inconclusive"


def test_the_sweep_reports_verdict_is_the_same_rules():
    norms, noise, signal = looks(np.zeros(100), np.full(100, 0.3), seed=8)
    rows = rows_of(STEPS, norms, noise, signal)
    verdict, rate = logged_verdict(rows)
    result = assess(rows)
    assert (verdict, rate) == (result.verdict, result.rate) == ("at equilibrium", result.rate)


def test_no_looks_says_why_without_guessing_the_config():
    verdict, reason = decide(None)
    assert verdict == "inconclusive"
    assert "no diagnostics logged yet" in reason and "first look" in reason


def test_the_verdict_page_explains_every_word_the_rules_can_give():
    import re

    from convergan.analysis.verdict_rules import VERDICTS
    from convergan.runs.verdict_page import WORDS

    assert re.findall(r"<dt>([^<]+)</dt>", WORDS) == list(VERDICTS)
