"""The exact Dirac-GAN verdict of a run stored in a study: its config (a run's record or
``config.yaml``) read once into a typed config, at the values in force at the end of training
where convergence is judged, and handed to :mod:`convergan.analysis.dirac_verdict`."""

from __future__ import annotations

from typing import Any

from convergan.analysis import dirac_verdict as verdicts
from convergan.analysis.dirac_verdict import DiracVerdict

__all__ = ["DiracVerdict", "dirac_verdict"]


def dirac_verdict(config: dict[str, Any]) -> DiracVerdict | None:
    """The verdict for a run's stored config; ``None`` when this version cannot read it (a
    plugin that is not loaded, a key renamed since: a ``ValueError``) or the analysis refuses
    its method or scheme, or when there is no config (a training-loop monitor's folder: the
    default config is not its method)."""
    from convergan.config.schema import config_at, config_from_dict
    from convergan.training.in_force import build_scheme

    if not config:
        return None
    try:
        typed = config_from_dict({**config, "plugins": config.get("plugins") or []})
    except ValueError:
        return None
    # With schedules: the values in force at the end of training, where convergence is judged.
    typed = config_at(typed, typed.train.steps)
    return verdicts.dirac_verdict(typed.method, build_scheme(typed))
