"""The exact Dirac-GAN verdict for a run's method, scheme and learning rates.

Beside every empirical cell the report puts what the linear analysis says about the same
method and scheme at the same learning rates (optim.g.lr, optim.d.lr) on the Dirac-GAN of
Mescheder et al. (ICML 2018): ``analyze(dirac_gan(), method, scheme)``. Where the method has
no regular equilibrium (WGAN-GP's ``(|ψ| − g₀)²``), the verdict counts the verdicts of
trajectories instead. This is the only place the studies package touches the analysis, so
a moved import is one line to fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


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


_CACHE: dict[str, DiracVerdict] = {}


def dirac_verdict(config: dict[str, Any]) -> DiracVerdict | None:
    """The verdict for a resolved config (as stored in a run); ``None`` when the analysis
    cannot take this method or scheme (say, a plugin's part that the Dirac game lacks)."""
    key = json.dumps(
        [config.get("method"), config.get("scheme"), config.get("optim", {})], sort_keys=True
    )
    if key not in _CACHE:
        try:
            _CACHE[key] = _analyze(config)
        except Exception:  # noqa: BLE001 - the report still stands without this column
            return None
    return _CACHE[key]


def _analyze(config_dict: dict[str, Any]) -> DiracVerdict:
    from convergan.analysis import analyze
    from convergan.config.schema import config_at, config_from_dict
    from convergan.games import dirac_gan
    from convergan.training.loop import build_scheme

    config = config_from_dict({**config_dict, "plugins": config_dict.get("plugins") or []})
    # With schedules: the values in force at the end of training, where convergence is judged.
    config = config_at(config, config.train.steps)
    result = analyze(dirac_gan(), config.method.build(), build_scheme(config))
    if not result.regular:
        counts = result.trajectory_verdicts or {}
        shown = ", ".join(f"{v} {n}" for v, n in sorted(counts.items()))
        return DiracVerdict(f"no regular equilibrium; trajectories: {shown}", None, False)
    return DiracVerdict(result.verdict, float(result.spectral_radius), True)
