"""The folder a training-loop monitor writes (:class:`convergan.api.Monitor`).

It has a convergan run's logs and nothing else::

    monitor.json     what was monitored: the method, the evaluation game (samples, seed),
                     every how many steps (written atomically when the monitor starts)
    metrics.jsonl    one JSON object per look (convergan.training.metrics_log), with the same
                     diagnostics/* (and spectrum/*) names as a run's
    tensorboard/     the same scalars as TensorBoard event files

so the readers of a run's logs (``convergan verdict --no-spectrum``, ``convergan report``)
read it as they read a run's, through :class:`~convergan.training.directory.RunDirectory`
(``has_metrics``, ``metrics``, ``open_log``). It has no ``config.yaml`` and no checkpoints:
the local picture at a checkpoint needs a convergan run, or the API on the user's own players.
"""

from __future__ import annotations

import json
from pathlib import Path

from convergan.files import write_text

MONITOR_FILE = "monitor.json"
FORMAT = "convergan-monitor"


def is_monitor_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a monitor's record."""
    return (Path(path) / MONITOR_FILE).is_file()


def read_monitor_record(path: str | Path) -> dict:
    """The folder's ``monitor.json`` (``{}`` when absent or unreadable)."""
    try:
        record = json.loads((Path(path) / MONITOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_monitor_record(path: str | Path, record: dict) -> Path:
    """Write ``monitor.json`` into ``path`` atomically (temp file, fsync, rename)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return write_text(
        folder / MONITOR_FILE, json.dumps({"format": FORMAT, **record}, indent=1) + "\n"
    )
