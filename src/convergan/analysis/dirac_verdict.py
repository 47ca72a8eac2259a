"""The exact Dirac-GAN verdict of a method and a scheme: what the linear analysis of the
Dirac-GAN (Mescheder et al., ICML 2018) says about the same method and scheme at the same
learning rates, put beside every empirical run (a run's verdict, a study's report).

Where the method has no regular equilibrium (WGAN-GP's ``(|ψ| − g₀)²``), the verdict counts
the verdicts of trajectories instead. Callers pass typed parts: the method spec and the scheme
built with the run's learning rates (``training.in_force.build_scheme`` of the config in
force).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from convergan.analysis.local import analyze
from convergan.games import dirac_gan
from convergan.methods.spec import MethodSpec
from convergan.schemes import Scheme


@dataclass(frozen=True)
class DiracVerdict:
    verdict: str  # converges, diverges, no linear convergence, or trajectories: ...
    spectral_radius: float | None
    regular: bool

    @property
    def text(self) -> str:
        if self.spectral_radius is None:
            return self.verdict
        return f"{self.verdict} (ρ = {self.spectral_radius:.6g})"


def dirac_verdict(method: MethodSpec, scheme: Scheme) -> DiracVerdict | None:
    """The verdict for ``method`` trained with ``scheme`` on the Dirac-GAN; ``None`` when the
    analysis refuses them (a ``ValueError``: a period too long, an update that overflows
    float64, or a plugin's part that the Dirac game lacks). Cached by value: a report asks
    once per run, and runs share their method and scheme."""
    return _cached(_Parts(method, scheme))


class _Parts:
    """A method spec and a scheme, hashable by value (a spec holds dicts)."""

    def __init__(self, method: MethodSpec, scheme: Scheme) -> None:
        self.method, self.scheme = method, scheme
        self.key = (json.dumps(method.to_dict(), sort_keys=True, default=str), repr(scheme))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Parts) and self.key == other.key


@lru_cache(maxsize=256)
def _cached(parts: _Parts) -> DiracVerdict | None:
    try:
        result = analyze(dirac_gan(), parts.method.build(), parts.scheme)
    except ValueError:
        return None
    if not result.regular:
        counts = result.trajectory_verdicts or {}
        shown = ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))
        return DiracVerdict(f"no regular equilibrium; trajectories: {shown}", None, False)
    return DiracVerdict(result.verdict, float(result.spectral_radius), True)
