"""Where numbers go: a namespaced collector for the maths (the sinks are in
:mod:`convergan.training.metrics_log`).

Loss code calls ``reporter("discriminator/r1", value)`` and never knows where the value ends
up (StyleGAN2's ``training_stats.report`` idea). The loop averages what was reported since the
last log and writes it to ``metrics.jsonl`` and TensorBoard (rank 0 only).

The values pending since the last log are part of every checkpoint (:meth:`Reporter.state_dict`),
so the first log after a resume averages the same steps as an uninterrupted run; under data
parallelism each process's means are averaged across processes (one ``all_reduce``), as DDP
averages gradients.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

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
