"""A resumable, endless loader over any dataset: its position is part of a checkpoint, and a
resumed run sees bit-identical batches, augmentations included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from convergan.data.image_formats import DatasetError


class InfiniteLoader(Iterator[tuple[Tensor, Tensor]]):
    """Endless ``(images, labels)`` batches whose position can be saved and restored.

    Each epoch's plan (sample order and one augmentation seed per sample) is drawn from a
    ``torch.Generator``. The state is ``{epoch, index, generator}``: the generator's state at
    the start of the epoch and the number of batches already served. Restoring redraws the
    same plan and serves it from ``index`` on, without loading the skipped batches, so a
    resumed run sees bit-identical batches (augmentations included, for datasets with
    ``supports_sample_seeds``) whatever the number of workers.

    With a ``sampler`` (e.g. ``DistributedSampler``) the order is the sampler's, after
    ``sampler.set_epoch(epoch)``; it must be deterministic for resume to be exact.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = True,
        sampler: Sampler | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset, self.batch_size, self.num_workers = dataset, batch_size, num_workers
        self.seed, self.drop_last, self.sampler = seed, drop_last, sampler
        self.epoch, self.index = 0, 0
        self._generator = torch.Generator().manual_seed(seed)
        self._epoch_state = self._generator.get_state()
        self._iterator: Iterator[Any] | None = None
        if len(self) == 0:
            raise DatasetError(
                f"dataset of {self._num_samples()} images has no full batch of {batch_size}"
            )

    def _num_samples(self) -> int:
        return len(self.sampler) if self.sampler is not None else len(self.dataset)

    def __len__(self) -> int:
        """Batches per epoch."""
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _plan(self) -> list[list[Any]]:
        self._generator.set_state(self._epoch_state)
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(self.epoch)
            order = [int(i) for i in self.sampler]
        else:
            order = torch.randperm(len(self.dataset), generator=self._generator).tolist()
        seeds = torch.randint(0, 2**62, (len(order),), generator=self._generator).tolist()
        self._next_epoch_state = self._generator.get_state()
        items = (
            list(zip(order, seeds))
            if getattr(self.dataset, "supports_sample_seeds", False)
            else order
        )
        return [
            items[i : i + self.batch_size]
            for i in range(0, len(self) * self.batch_size, self.batch_size)
        ]

    def _open_epoch(self) -> None:
        loader = DataLoader(
            self.dataset,
            batch_sampler=self._plan()[self.index :],
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed + self.epoch),  # worker seeds
        )
        self._iterator = iter(loader)

    def __iter__(self) -> InfiniteLoader:
        return self

    def __next__(self) -> tuple[Tensor, Tensor]:
        if self._iterator is None:
            self._open_epoch()
        batch = next(self._iterator, None)
        if batch is None:  # end of epoch: the next epoch starts where this plan left the RNG
            self.epoch, self.index, self._epoch_state = self.epoch + 1, 0, self._next_epoch_state
            self._open_epoch()
            batch = next(self._iterator)
        self.index += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Position: ``epoch``, ``index`` (batches served this epoch), ``generator`` state."""
        return {"epoch": self.epoch, "index": self.index, "generator": self._epoch_state.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`; the next batch is the one that followed it."""
        missing = {"epoch", "index", "generator"} - set(state)
        if missing:
            raise DatasetError(f"loader state is missing keys {sorted(missing)}")
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._epoch_state = torch.as_tensor(state["generator"], dtype=torch.uint8).clone()
        self._iterator = None


def make_dataloader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = True,
    sampler: Sampler | None = None,
) -> InfiniteLoader:
    """An endless, resumable loader over ``dataset``: ``next(loader)`` never raises
    ``StopIteration``; ``len(loader)`` is the number of batches per epoch."""
    return InfiniteLoader(
        dataset,
        batch_size,
        num_workers=num_workers,
        seed=seed,
        drop_last=drop_last,
        sampler=sampler,
    )
