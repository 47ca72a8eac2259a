"""What ``convergan dirac analyze`` reports: one JSON-ready record of a local analysis and the
one-line description of a scheme (every field, defaults included)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from convergan.cli.dirac_table import eigenvalue_pairs

if TYPE_CHECKING:  # the analysis imports torch; --help must not
    from convergan.analysis.local import LocalAnalysis
    from convergan.methods.spec import MethodSpec
    from convergan.schemes import Scheme


def describe_scheme(scheme: Scheme) -> str:
    """``name(field=value, ...)`` with every field of the scheme, defaults included (AltGD's
    g_steps/d_steps, a wrapper's own parameters and its inner scheme), learning rates aside."""
    import dataclasses

    parts = []
    for f in dataclasses.fields(scheme):
        if f.name in ("lr", "lr_g", "lr_d"):
            continue
        value = getattr(scheme, f.name)
        shown = (
            describe_scheme(value)
            if dataclasses.is_dataclass(value)
            else f"{value:g}"
            if isinstance(value, float)
            else str(value)
        )
        parts.append(f"{f.name}={shown}")
    name = getattr(type(scheme), "name", scheme.name)
    name = name if isinstance(name, str) else type(scheme).__name__.lower()
    return f"{name}({', '.join(parts)})" if parts else name


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def analysis_record(result: LocalAnalysis, spec: MethodSpec, scheme: Scheme) -> dict:
    from convergan.analysis.table import theory_check

    closed, error = theory_check(spec, result)
    scale = result.max_stable_lr_scale
    intervals = result.stable_lr_intervals
    lr_g, lr_d = (float(v) for v in scheme.lrs)
    return {
        "method": result.method,
        "method_params": spec.hyperparameters,
        "method_spec": spec.to_dict(),
        "scheme": result.scheme,
        "lr_g": lr_g,
        "lr_d": lr_d,
        "period": result.period,
        "regular_equilibrium": result.regular,
        "note": result.note,
        "jacobian_eigenvalues": eigenvalue_pairs(result.jacobian_eigenvalues),
        "update_eigenvalues": eigenvalue_pairs(result.update_eigenvalues),
        "spectral_radius": result.spectral_radius,
        "rate_per_step": result.rate_per_step,
        "verdict": result.verdict,
        "converges": result.converges,
        "continuous_time_stable": result.continuous_time_stable,
        # the largest stable rate: the end of the last range (rates, not scale * lr, so a
        # subnormal --lr cannot overflow it)
        "max_stable_lr": _finite_or_none(intervals[-1][1]) if intervals and lr_g == lr_d else None,
        "max_stable_lr_scale": _finite_or_none(scale),
        "max_stable_lr_unbounded": bool(intervals) and math.isinf(intervals[-1][1]),
        # every stable range of max(lr_g, lr_d), the ratio kept; null ends are unbounded
        "stable_lr_intervals": [[lo, _finite_or_none(hi)] for lo, hi in intervals],
        # exact (the roots of polynomials in the rate), or a grid search over a long period
        "stable_lr_exact": result.stable_lr_exact,
        "theory_eigenvalues": None if closed is None else [[z.real, z.imag] for z in closed],
        "theory_max_error": error,
        "trajectory_verdicts": result.trajectory_verdicts,
    }
