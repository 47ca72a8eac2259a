"""Where numbers go: a namespaced collector for the maths, and the run's metric sinks.

Loss code calls ``reporter("discriminator/r1", value)`` and never knows where the value ends
up (StyleGAN2's ``training_stats.report`` idea). The loop averages what was reported since the
last log and writes it to ``metrics.jsonl`` and TensorBoard (rank 0 only).

The values pending since the last log are part of every checkpoint (:meth:`Reporter.state_dict`),
so the first log after a resume averages the same steps as an uninterrupted run; under data
parallelism each process's means are averaged across processes (one ``all_reduce``), as DDP
averages gradients.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor


class Reporter:
    """Collects scalars between two logs; ``summary()`` gives their means and clears them."""

    def __init__(self) -> None:
        self._values: dict[str, list[Tensor]] = defaultdict(list)

    def __call__(self, name: str, value: Tensor | float) -> None:
        self._values[name].append(torch.as_tensor(value).detach().float().mean())

    def summary(self, average: Callable[[Tensor], Tensor] | None = None) -> dict[str, float]:
        """The mean of every name's values since the last summary, then forgets them.

        ``average`` (``Distributed.average``: an all-reduce mean) makes them means over all
        processes too; every process must call it at the same step with the same names,
        which holds because every process runs the same step code.
        """
        names = sorted(name for name, v in self._values.items() if v)
        if not names:
            self._values.clear()
            return {}
        means = torch.stack([torch.stack(self._values[name]).mean() for name in names])
        if average is not None:
            means = average(means)
        self._values.clear()
        return {name: float(m) for name, m in zip(names, means.cpu())}

    def state_dict(self) -> dict[str, Tensor]:
        """The pending values, one float32 tensor per name (checkpointable, weights-only)."""
        return {name: torch.stack(v).cpu() for name, v in self._values.items() if v}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        """Put saved pending values *before* any reported since (the order of an
        uninterrupted run, so its means are bit-identical)."""
        device = next((v[0].device for v in self._values.values() if v), None)
        for name, saved in state.items():
            restored = list(saved.to(device) if device is not None else saved)
            self._values[name] = restored + self._values.get(name, [])


class MetricsLog:
    """Appends ``{"step": ..., **scalars}`` lines to ``metrics.jsonl`` and mirrors them to
    TensorBoard event files in the same directory.

    ``resumed_at``: the checkpoint's step when a run resumes. Records of later steps were
    written by the attempt that crashed and will be written again, so they are dropped from
    ``metrics.jsonl`` (atomically: rewritten to a temp file, then renamed) and TensorBoard
    purges its events after that step.
    """

    def __init__(
        self, directory: Path, tensorboard: bool = True, resumed_at: int | None = None
    ) -> None:
        self.path = directory / "metrics.jsonl"
        if resumed_at is not None:
            truncate_metrics(self.path, resumed_at)
        self._file = self.path.open("a", encoding="utf-8")
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(
                    log_dir=str(directory / "tensorboard"),
                    purge_step=None if resumed_at is None else resumed_at + 1,
                )
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


def truncate_metrics(path: Path, last_step: int) -> int:
    """Drop the records of ``path`` with ``step > last_step``; returns how many were dropped.
    A torn last line (a crash mid-write) is dropped too."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            dropped += 1
            continue
        if isinstance(record, dict) and record.get("step", 0) > last_step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        temp = path.with_name(path.name + ".tmp")
        temp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(temp, path)
    return dropped


def read_metrics(path: Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` file."""
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
