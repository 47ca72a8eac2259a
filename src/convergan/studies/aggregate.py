"""Statistics over seeds: per-run outcomes, per-cell means with Student-t intervals, and
pairwise Welch tests.

For the n finite values x_1..x_n of a metric in one cell (its seeds),

    mean = (1/n) Σ x_i,   s = sqrt( Σ (x_i − mean)² / (n − 1) ),
    95% CI = mean ± t_{0.975, n−1} · s / sqrt(n)

with t the Student-t quantile (``scipy.stats.t.ppf``): the interval for the mean of a normal
sample with unknown variance. With 3 to 5 seeds the bootstrap has too few distinct resamples
to be trusted, which is why the t interval is used; it widens honestly as n falls
(t_{0.975,2} = 4.30, t_{0.975,4} = 2.78). Runs that diverged or failed have no final value;
they are counted (``n_diverged``, ``n_failed``) and left out of the mean.

Two cells are compared with Welch's t-test (unequal variances), and the p-values of one
family (the cells of one panel, e.g. one 2D problem) are adjusted by Holm's step-down method
so that "significant at 5%" holds for the whole family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from convergan.studies.results import RunResult, Sweep

SEED = "seed"
# Whether smaller is better, for "best over training"; metrics not listed get no best value.
LOWER_IS_BETTER = {"w1": True, "fid": True, "kid_mean": True, "kid": True}
LOWER_IS_BETTER.update({"modes_covered": False, "high_quality_fraction": False})
LOWER_IS_BETTER.update({"precision": False, "recall": False, "is_mean": False, "inception": False})


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def t_interval(values: list[float], level: float = 0.95) -> Interval:
    """Mean, sample standard deviation and the Student-t interval of ``values`` (NaN where
    undefined: std and interval need n ≥ 2, the mean n ≥ 1)."""
    from scipy import stats

    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(xs) / n
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, math.nan)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half)


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test; NaN when either side has fewer than 2 values or
    both have zero variance."""
    from scipy import stats

    a = [x for x in a if x is not None and math.isfinite(x)]
    b = [x for x in b if x is not None and math.isfinite(x)]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: sort the m p-values, multiply the k-th smallest by
    (m − k + 1), keep the running maximum, cap at 1. NaNs stay NaN and do not count in m."""
    finite = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    m, adjusted, running = len(finite), [math.nan] * len(p_values), 0.0
    for k, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[i] = running
    return adjusted


def metric_key(metric: str) -> str:
    return metric.split("/")[-1]


def report_metrics(sweep: Sweep) -> list[str]:
    """The eval, spectrum and diagnostics metrics logged by any run, the headline metric first
    and the diagnostics last."""
    names: dict[str, None] = {}
    for run in sweep.runs:
        for m in run.metric_names():
            if m.startswith(("eval/", "spectrum/", "diagnostics/")) and not m.endswith("_std"):
                names[m] = None
    ordered = sorted(names, key=lambda m: m.startswith("diagnostics/"))  # stable: order kept
    head = sweep.report_metric if sweep.report_metric in names else None
    return ([head] if head else []) + [m for m in ordered if m != head]


def headline(sweep: Sweep) -> str | None:
    metrics = [m for m in report_metrics(sweep) if m.startswith("eval/")]
    metrics = [m for m in metrics if not m.startswith("eval/grad")] or metrics
    return metrics[0] if metrics else None


def best(run: RunResult, metric: str) -> float | None:
    """The best value over training of a run that trained to its end or diverged (its best
    came before the divergence); ``None`` for a run still pending, running or interrupted,
    whose training is not over, and for a failed one (a crash is no outcome of the method)."""
    lower = LOWER_IS_BETTER.get(metric_key(metric))
    if lower is None or run.status not in ("done", "single", "diverged"):
        return None
    _, values = run.curve(metric)
    if not values:
        return None
    return min(values) if lower else max(values)


@dataclass
class CellSummary:
    """One cell over its seeds."""

    values: dict[str, Any]  # axis values without the seed
    runs: list[RunResult]
    final: dict[str, Interval] = field(default_factory=dict)
    best: dict[str, Interval] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.values.items()) or "run"

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)


def summarize(sweep: Sweep, metrics: list[str] | None = None) -> list[CellSummary]:
    """Group the runs by their non-seed axis values (grid order kept) and summarize each
    metric's final and best values."""
    metrics = metrics if metrics is not None else report_metrics(sweep)
    groups: dict[tuple, CellSummary] = {}
    for run in sweep.runs:
        values = {k: v for k, v in run.values.items() if k != SEED}
        key = tuple((k, repr(v)) for k, v in values.items())
        groups.setdefault(key, CellSummary(values, [])).runs.append(run)
    for cell in groups.values():
        for metric in metrics:
            cell.final[metric] = t_interval([r.final(metric) for r in cell.runs])
            if LOWER_IS_BETTER.get(metric_key(metric)) is not None:
                cell.best[metric] = t_interval([best(r, metric) for r in cell.runs])
    return list(groups.values())


def compare_axis(sweep: Sweep, cells: list[CellSummary]) -> str | None:
    """The axis whose values are compared within a family: the report's axis when it varies,
    else the first varying axis that is neither the seed nor the ``base`` panel (``method``,
    ``method.gamma``...), else ``base``."""

    def varies(axis: str) -> bool:
        return len({repr(c.values.get(axis)) for c in cells}) > 1

    axes = [a for a in sweep.axes if a != SEED and varies(a)]
    if sweep.report_axis in axes:
        return sweep.report_axis
    inner = [a for a in axes if a != "base"]
    return inner[0] if inner else (axes[0] if axes else None)


@dataclass(frozen=True)
class Comparison:
    family: str
    a: str
    b: str
    mean_a: float
    mean_b: float
    p: float
    p_holm: float

    @property
    def significant(self) -> bool:
        return math.isfinite(self.p_holm) and self.p_holm < 0.05


def pairwise(sweep: Sweep, cells: list[CellSummary], metric: str) -> list[Comparison]:
    """Welch tests of every pair of cells that differ only in the compared axis, with Holm's
    adjustment within each family (the cells sharing every other axis value)."""
    axis = compare_axis(sweep, cells)
    if axis is None:
        return []
    families: dict[str, list[CellSummary]] = {}
    for cell in cells:
        rest = ",".join(f"{k}={v}" for k, v in cell.values.items() if k != axis) or "all"
        families.setdefault(rest, []).append(cell)
    comparisons = []
    for family, members in families.items():
        pairs = [(x, y) for i, x in enumerate(members) for y in members[i + 1 :]]
        finals = {id(c): [r.final(metric) for r in c.runs] for c in members}
        ps = [welch_p(finals[id(x)], finals[id(y)]) for x, y in pairs]
        for (x, y), p, adjusted in zip(pairs, ps, holm(ps)):
            comparisons.append(
                Comparison(
                    family,
                    f"{axis}={x.values.get(axis)}",
                    f"{axis}={y.values.get(axis)}",
                    x.final[metric].mean,
                    y.final[metric].mean,
                    p,
                    adjusted,
                )
            )
    return comparisons
