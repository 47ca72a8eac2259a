"""The verdict of a folder that has a metrics log and nothing else: the folder a training-loop
monitor writes (:class:`convergan.api.Monitor`, :mod:`convergan.training.monitor_folder`), or
any folder with a convergan ``metrics.jsonl`` and no config.

Without a config and checkpoints there is no local picture, no path-angle and no Dirac verdict
to compute, so the verdict is the rules of :mod:`convergan.analysis.verdict_rules` on the logs
alone (what a sweep report shows too), in the record
:func:`~convergan.runs.verdict.run_verdict` returns, its local entries empty and a note saying
why.
"""

from __future__ import annotations

from pathlib import Path

from convergan.analysis.verdict_rules import RULES, WINDOW, assess
from convergan.runs.verdict import json_ready
from convergan.runs.verdict_local import no_local

LOCAL_PICTURE_NOTE = (
    "not computed: this folder has a metrics log but no convergan config or checkpoints (a "
    "training-loop monitor's), so the verdict is from its logs alone; the local picture "
    "(eigenvalues, spectral radius), the path-angle and the Dirac verdict need a convergan "
    "run, or the API on your own players (convergan.api)"
)


def log_folder_verdict(folder: str | Path, *, window: float = WINDOW) -> dict:
    """The verdict of a folder with a ``metrics.jsonl`` and no convergan config (the folder of
    :class:`convergan.api.Monitor`): the trend rules on its logged diagnostics alone, in the
    record :func:`run_verdict` returns (its local, path-angle and Dirac entries empty) with
    ``local_note`` saying what is missing and why (printed by ``verdict_text``)."""
    from convergan.training.directory import RunDirectory
    from convergan.training.monitor_folder import read_monitor_record

    path = Path(folder)
    rows = RunDirectory(path).logged_metrics()
    game = read_monitor_record(path).get("evaluation_game") or {}
    result = assess(rows, window)
    trend, noise, floor = result.trend, result.noise, result.floor
    record: dict = {
        "run": str(path),
        "step": rows[-1]["step"] if rows else None,
        "evaluation_game": {key: game.get(key) for key in ("samples", "seed", "games")},
        "window": window,
        "checkpoint": False,
        **no_local(),
        "local_note": LOCAL_PICTURE_NOTE,
        "path_angle": None,
        "dirac_verdict": None,
        "dirac_spectral_radius": None,
        "dirac_rate_per_step": None,
        "verdict": result.verdict,
        "reason": result.reason,
        "measured_rate_per_step": result.rate,
        "field_norm_last": None if trend is None else trend.field_norm_last,
        "trend": None if trend is None else trend.to_dict(),
        "noise": None if noise is None else noise.to_dict(),
        "floor": None if floor is None else floor.to_dict(),
        "rules": list(RULES),
    }
    return json_ready(record)
