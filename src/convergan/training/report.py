"""Where numbers go: a namespaced collector for the maths, and the run's metric sinks.

Loss code calls ``reporter("discriminator/r1", value)`` and never knows where the value ends
up (StyleGAN2's ``training_stats.report`` idea). The loop averages what was reported since the
last log and writes it to ``metrics.jsonl`` and TensorBoard (rank 0 only).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import torch
from torch import Tensor


class Reporter:
    """Collects scalars between two logs; ``summary()`` gives their means and clears them."""

    def __init__(self) -> None:
        self._values: dict[str, list[Tensor]] = defaultdict(list)

    def __call__(self, name: str, value: Tensor | float) -> None:
        self._values[name].append(torch.as_tensor(value).detach().float().mean())

    def summary(self) -> dict[str, float]:
        means = {name: float(torch.stack(v).mean()) for name, v in self._values.items() if v}
        self._values.clear()
        return means


class MetricsLog:
    """Appends ``{"step": ..., **scalars}`` lines to ``metrics.jsonl`` and mirrors them to
    TensorBoard event files in the same directory."""

    def __init__(self, directory: Path, tensorboard: bool = True) -> None:
        self.path = directory / "metrics.jsonl"
        self._file = self.path.open("a", encoding="utf-8")
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(directory / "tensorboard"))
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                self._writer = None

    def write(self, step: int, scalars: dict[str, float]) -> None:
        record = {"step": step, **{k: _json_number(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._writer is not None:
            for name, value in scalars.items():
                if value is not None and math.isfinite(value):
                    self._writer.add_scalar(name, value, step)
            self._writer.flush()

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def read_metrics(path: Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` file."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
