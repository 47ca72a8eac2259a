"""The verdict-against-outcome table of a study (convergan.studies.verdict_table) on runs made
here: the three counts it reports are recounted by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from convergan.studies.results import RunResult
from convergan.studies.verdict_table import (
    verdict_checks,
    verdict_markdown,
    verdict_rows,
    w1_trend,
)

STEPS = np.arange(10, 1010, 10)


def run(method, seed, norms, noise, signal, w1, status="done"):
    rows = [
        {
            "step": int(s),
            "diagnostics/field_norm": float(n),
            "diagnostics/field_noise": float(e),
            "diagnostics/field_signal_sq": float(g),
        }
        for s, n, e, g in zip(STEPS, norms, noise, signal)
    ]
    for step, value in zip(range(100, 1001, 100), w1):
        rows[step // 10 - 1]["eval/w1"] = value
    values = {"base": "circle", "method": method, "seed": seed}
    return RunResult(f"{method}-{seed}", values, Path("."), status, rows=rows)


def settled(seed):  # a floor: the true field well above the noise, nothing rising
    rng = np.random.default_rng(seed)
    norms = 0.3 * np.exp(rng.normal(0, 0.2, 100))
    return run("r1", seed, norms, np.full(100, 0.05), norms**2, np.linspace(0.5, 0.1, 10))


def sharpening(seed, w1):  # the noise rises tenfold: a discriminator that keeps sharpening
    rng = np.random.default_rng(seed)
    noise = np.where(STEPS < 400, 0.5, 5.0) * np.exp(rng.normal(0, 0.1, 100))
    norms = 1.2 * noise
    return run("gan", seed, norms, noise, 0.5 * noise**2, w1)


def test_w1_trend_is_the_least_squares_slope_over_the_last_half():
    steps, values = (
        list(range(100, 1001, 100)),
        [1.0, 0.9, 0.8, 0.85, 0.7, 0.75, 0.8, 0.9, 0.95, 1.1],
    )
    slope, rises = w1_trend(steps, values)
    fit = stats.linregress(steps[4:], values[4:])
    assert slope == pytest.approx(1000 * fit.slope)
    low = fit.slope - stats.t.ppf(0.975, len(steps[4:]) - 2) * fit.stderr
    assert rises == (low > 0) and rises


def test_the_counts_are_the_ones_recounted_here():
    rising = np.linspace(0.2, 1.5, 10)
    runs = [settled(0), settled(1), sharpening(0, rising), sharpening(1, np.full(10, 0.3))]
    runs.append(run("gan", 2, np.ones(100), np.ones(100), np.ones(100), rising, "pending"))
    rows = verdict_rows(runs)
    assert [r.method for r in rows] == ["r1", "r1", "gan", "gan"]  # the pending run is out
    assert [r.verdict for r in rows[:2]] == ["at noise floor"] * 2
    assert all(r.verdict in ("oscillating", "inconclusive") for r in rows[2:])
    checks = verdict_checks(rows)
    assert checks == {
        "r1_runs": 2,
        "r1_diverging": 0,
        "w1_rising_runs": 1,
        "w1_rising_called_settled": 0,
        "pairs": 2,
        "pairs_separated": 2,
    }
    text = verdict_markdown(rows, checks)
    assert text.count("\n| circle |") == 4
    assert "2 of 2" in text and "0 of 1" in text
