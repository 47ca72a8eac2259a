"""Multi-process training with ``torch.distributed`` (started by ``torchrun``).

Each process draws its own minibatch; the players' gradient fields are averaged with one
``all_reduce`` per field evaluation — exactly what DDP does to parameter gradients, applied to
the flat gradient field the schemes consume (so penalties, consensus and every scheme are
correct under data parallelism without any change). gloo on CPU, nccl on GPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def average(self) -> Callable[[Tensor], Tensor] | None:
        if self.world_size == 1:
            return None

        def all_reduce_mean(t: Tensor) -> Tensor:
            t = t.clone()
            dist.all_reduce(t)
            return t / self.world_size

        return all_reduce_mean

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any process (all processes get the same answer)."""
        if self.world_size == 1:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        from convergan.options import ConfigError

        raise ConfigError(
            "device: cuda requested but this torch build sees no CUDA device; use device=cpu "
            "(or device=auto to take a GPU when there is one)"
        )
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(device: str = "cpu", backend: str = "auto") -> Distributed:
    """Join the process group when launched by torchrun (``WORLD_SIZE > 1``)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device, local_rank)
    if world_size == 1:
        return Distributed(device=target)
    if not dist.is_initialized():
        chosen = backend if backend != "auto" else ("nccl" if target.type == "cuda" else "gloo")
        dist.init_process_group(backend=chosen)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(), device=target)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
