"""The verdict against the outcome, run by run: what a study's runs were called beside what
they did (their final W1, whether W1 rose over the last half, ‖v‖ and its noise).

This is how the verdict is checked where the truth is plain: a method that converges (R1)
and one that does not (the unregularized GAN) differ in W1 across seeds, and the verdict
must separate them. :func:`verdict_checks` counts what the docs promise:

- no R1 run is called ``diverging``;
- no run whose W1 rises over the last half (least-squares slope with its 95% interval above
  0) is called settled (``converging``, ``at equilibrium`` or ``at noise floor``);
- in each (problem, seed) pair of R1 and the unregularized GAN, R1 is called settled and the
  GAN is not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from convergan.analysis.verdict_rules import assess

SETTLED = ("converging", "at equilibrium", "at noise floor")
METRIC = "eval/w1"


@dataclass(frozen=True)
class VerdictRow:
    problem: str
    method: str
    seed: int | None
    verdict: str
    reason: str
    rate_per_step: float | None
    noise_ratio: float | None  # Q over the window
    floor_rise: float | None  # R, ln(window median ‖v‖ / floor before it)
    noise_rise: float | None  # the same for the noise η
    field_norm_last: float | None
    noise_last: float | None
    w1_final: float | None
    w1_slope: float | None  # per 1000 steps, over the last half
    w1_rises: bool

    def to_dict(self) -> dict:
        return asdict(self)


def w1_trend(steps: list[int], values: list[float]) -> tuple[float | None, bool]:
    """The least-squares slope of W1 per 1000 steps over the last half of the run's
    evaluations, and whether its 95% Student-t interval lies above 0."""
    from scipy import stats

    if not steps:
        return None, False
    half = steps[-1] / 2
    inside = [(s, v) for s, v in zip(steps, values) if s >= half]
    if len(inside) < 3:
        return None, False
    fit = stats.linregress([s for s, _ in inside], [v for _, v in inside])
    low = fit.slope - float(stats.t.ppf(0.975, len(inside) - 2)) * fit.stderr
    return 1000 * float(fit.slope), bool(low > 0)


def verdict_rows(runs) -> list[VerdictRow]:
    """One row per finished run of a sweep (:class:`~convergan.studies.results.RunResult`)."""
    rows = []
    for run in runs:
        if not run.finished:
            continue
        result = assess(run.rows)
        noise, trend, floor = result.noise, result.trend, result.floor
        slope, rises = w1_trend(*run.curve(METRIC))
        seed = run.values.get("seed")
        rows.append(
            VerdictRow(
                problem=str(run.values.get("base", "")),
                method=str(run.values.get("method", "")),
                seed=None if seed is None else int(seed),
                verdict=result.verdict,
                reason=result.reason,
                rate_per_step=result.rate,
                noise_ratio=None if noise is None or noise.noise_free else noise.ratio,
                floor_rise=None if floor is None else floor.rise,
                noise_rise=None if floor is None else floor.noise_rise,
                field_norm_last=None if trend is None else trend.field_norm_last,
                noise_last=None if noise is None else noise.noise_last,
                w1_final=run.final(METRIC),
                w1_slope=slope,
                w1_rises=rises,
            )
        )
    return rows


def verdict_checks(rows: list[VerdictRow], settles: str = "r1", drifts: str = "gan") -> dict:
    """The three counts of the module's docstring, over ``rows``."""
    by_key = {(r.problem, r.method, r.seed): r for r in rows}
    pairs = sorted({(r.problem, r.seed) for r in rows if r.method in (settles, drifts)},
                   key=str)  # fmt: skip
    complete = [
        (by_key[(p, settles, s)], by_key[(p, drifts, s)])
        for p, s in pairs
        if (p, settles, s) in by_key and (p, drifts, s) in by_key
    ]
    separated = sum(a.verdict in SETTLED and b.verdict not in SETTLED for a, b in complete)
    return {
        f"{settles}_runs": sum(r.method == settles for r in rows),
        f"{settles}_diverging": sum(r.method == settles and r.verdict == "diverging" for r in rows),
        "w1_rising_runs": sum(r.w1_rises for r in rows),
        "w1_rising_called_settled": sum(r.w1_rises and r.verdict in SETTLED for r in rows),
        "pairs": len(complete),
        "pairs_separated": separated,
    }


def verdict_markdown(rows: list[VerdictRow], checks: dict) -> str:
    """The table and the checks as markdown (``verdicts.md`` of a study)."""
    lines = [
        "Verdict (`convergan verdict`'s rules on the logged diagnostics) against the outcome, "
        "per run. Q: power of the true field over the evaluation game's noise, over the last "
        "half; R: rise of ‖v‖ and of η (the noise's norm) above the floors they reached before "
        "(ln units); ‖v‖ and η at the last look; W1 slope per 1000 steps over the last half "
        "(↑: its 95% interval is above 0).",
        "",
        "| problem | method | seed | verdict | rate/step | Q | R ‖v‖ | R η | ‖v‖ last "
        "| η last | final W1 | W1 slope |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r.problem, r.method, -1 if r.seed is None else r.seed)):
        rate = _fmt(r.rate_per_step, 6) if r.verdict in ("converging", "diverging") else ""
        slope = _fmt(r.w1_slope) + (" ↑" if r.w1_rises else "")
        lines.append(
            f"| {r.problem} | {r.method} | {'' if r.seed is None else r.seed} | {r.verdict} "
            f"| {rate} | {_fmt(r.noise_ratio)} | {_fmt(r.floor_rise, 2)} "
            f"| {_fmt(r.noise_rise, 2)} | {_fmt(r.field_norm_last)} "
            f"| {_fmt(r.noise_last)} | {_fmt(r.w1_final)} | {slope} |"
        )
    settles = next((k[: -len("_runs")] for k in checks if k.endswith("_runs") and "w1" not in k),
                   "r1")  # fmt: skip
    lines += [
        "",
        f"- {settles} runs called diverging: {checks[f'{settles}_diverging']} of "
        f"{checks[f'{settles}_runs']}",
        f"- runs whose W1 rises over the last half called settled (converging, at equilibrium, "
        f"at noise floor): "
        f"{checks['w1_rising_called_settled']} of {checks['w1_rising_runs']}",
        f"- (problem, seed) pairs where {settles} settles and the other method does not: "
        f"{checks['pairs_separated']} of {checks['pairs']}",
    ]
    return "\n".join(lines) + "\n"


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"
