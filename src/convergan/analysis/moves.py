"""How many player moves a scheme makes: the unit of work the analysis' size limits count.

Both the exact analysis (:mod:`convergan.analysis.local`) and the simulator
(:mod:`convergan.analysis.trajectories`) bound their work by it, so it lives below both.
"""

from __future__ import annotations

from convergan.schemes import Scheme


def moves_per_period(scheme: Scheme) -> int:
    """How many player moves one period of ``scheme`` makes: ``g_steps + d_steps`` per step
    (1 + 1 for simultaneous schemes) times the period, through any wrappers (lazy)."""
    inner = getattr(scheme, "inner", None)
    if isinstance(inner, Scheme):
        return moves_per_period(inner) * (int(scheme.period) // int(inner.period))
    per_step = int(getattr(scheme, "g_steps", 1)) + int(getattr(scheme, "d_steps", 1))
    return per_step * int(scheme.period)
