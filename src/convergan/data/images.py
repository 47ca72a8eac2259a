"""Image datasets behind one interface, and a resumable endless loader.

Every dataset is an :class:`ImageDataset`: item ``i`` is ``(image, label)`` with ``image`` a
float tensor ``C×H×W`` in ``[-1, 1]`` (the range of a ``tanh`` generator) and ``label`` an int
(0 when the data is unlabelled). :func:`make_image_dataset` builds one from a name:

* ``fashion-mnist``: IDX files (raw or gzip). The default path is where the Debian package
  ``dataset-fashion-mnist`` installs them, found at run time with ``dpkg -L``.
* ``cifar10``: the python-pickle batches of ``cifar-10-batches-py``. Pickle is that dataset's
  format; only files the user points us to are unpickled, and through an unpickler that
  accepts nothing but plain NumPy arrays, so a crafted file cannot run code.
* ``image-folder``: any format Pillow reads, found recursively; resized (shorter side) and
  centre-cropped to ``image_size``; labels from the sorted first-level sub-folder names.
* ``npy``: an ``(N,H,W)`` / ``(N,H,W,C)`` uint8 array or an ``(N,C,H,W)`` float array in
  ``[-1, 1]``; labels from ``<stem>_labels.npy`` next to it when present.

Scaling: 8-bit values ``u`` map to ``2u/255 − 1``. With ``dequantize=True`` they map to
``2(u + ε)/256 − 1`` with ``ε ~ U[0, 1)``, i.e. uniform noise one quantisation bin wide, so
the data has a density (Theis et al., 2016) while staying inside ``[-1, 1)``. Float arrays are
assumed to come from 8-bit images and get the same treatment. ``flip=True`` mirrors each image
horizontally with probability 1/2.

Bad data is a user error: it raises :class:`DatasetError` (a ``ValueError``) with one line
that names the file; missing data raises :class:`DatasetNotFoundError`, which is also a
``FileNotFoundError``. The readers of each file format live in
:mod:`convergan.data.image_formats`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from convergan.data.image_catalog import BUILTIN_IMAGE_DATASETS
from convergan.data.image_formats import (
    DatasetError,
    DatasetNotFoundError,
    find_fashion_mnist,
    load_cifar10,
    load_fashion_mnist,
    load_npy,
    read_idx,
    scan_image_folder,
)
from convergan.registry import IMAGE_DATASETS

__all__ = [
    "IMAGE_DATASETS", "DatasetError", "DatasetNotFoundError", "ImageDataset", "InfiniteLoader",
    "find_fashion_mnist", "make_dataloader", "make_image_dataset", "read_idx",
]  # fmt: skip


class ImageDataset(Dataset):
    """``(image in [-1,1] as C×H×W float, label)`` pairs, from memory or from image files.

    An item may be requested as ``dataset[i]`` (augmentations draw from the global torch RNG)
    or as ``dataset[(i, seed)]`` (they draw from a generator seeded with ``seed``).
    :class:`InfiniteLoader` uses the second form, so the augmentations of a batch depend only
    on the loader's state: not on the number of workers, nor on the global RNG.
    """

    supports_sample_seeds = True

    def __init__(
        self,
        name: str,
        images: Tensor | Sequence[Path],
        labels: Tensor,
        *,
        image_size: int,
        channels: int,
        num_classes: int,
        flip: bool = False,
        dequantize: bool = False,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.name, self.image_size, self.channels = name, image_size, channels
        self.num_classes, self.flip, self.dequantize = num_classes, flip, dequantize
        self.labels = labels.long()
        self.class_names = tuple(class_names) if class_names is not None else None
        self._images = images
        self._unreadable: set[int] = set()  # files that failed to decode (warned once each)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every item."""
        return (self.channels, self.image_size, self.image_size)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[Tensor, int]:
        index, seed = item if isinstance(item, tuple) else (item, None)
        generator = None
        if seed is not None and (self.flip or self.dequantize):
            generator = torch.Generator().manual_seed(int(seed))
        image = _scale(self._raw(index), self.dequantize, generator)
        if self.flip and torch.rand((), generator=generator) < 0.5:
            image = image.flip(-1)
        return image, int(self.labels[index])

    def _raw(self, index: int) -> Tensor:
        if isinstance(self._images, Tensor):
            return self._images[index]
        # A file can pass the scan (Pillow's verify() reads headers, not the whole stream: a
        # truncated JPEG passes) and still fail to decode. Skip it with a warning naming it and
        # serve the next readable file in its place, so batches keep their size and stay a
        # function of the loader's position (resume is still exact).
        for offset in range(len(self._images)):
            position = (index + offset) % len(self._images)
            if position in self._unreadable:
                continue
            path = self._images[position]
            try:
                return self._decode(path)
            except (OSError, ValueError, SyntaxError) as exc:
                self._unreadable.add(position)
                reason = " ".join(str(exc).split())[:120]
                warnings.warn(
                    f"image-folder: skipping unreadable image {path} ({reason}); "
                    "the next readable image takes its place",
                    RuntimeWarning,
                    stacklevel=2,
                )
        raise DatasetError(f"{self.name}: none of the {len(self._images)} images can be decoded")

    def _decode(self, path: Path) -> Tensor:
        with Image.open(path) as img:
            img = img.convert("L" if self.channels == 1 else "RGB")
            array = np.asarray(_resize_crop_pil(img, self.image_size))
        return torch.from_numpy(array.reshape(*array.shape[:2], -1).copy()).permute(2, 0, 1)


def _scale(raw: Tensor, dequantize: bool, generator: torch.Generator | None) -> Tensor:
    """8-bit (or float-from-8-bit) pixels to ``[-1, 1]``, optionally with one bin of noise."""
    if raw.dtype == torch.uint8:
        if not dequantize:
            return raw.float() * (2.0 / 255.0) - 1.0
        levels = raw.float()
    elif not dequantize:
        return raw.float()
    else:
        levels = (raw.float() + 1.0) * 127.5
    noise = torch.rand(levels.shape, generator=generator)
    return (levels + noise) * (2.0 / 256.0) - 1.0


def _resize_crop_pil(img: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to ``size`` (antialiased bicubic), then centre-crop a square."""
    w, h = img.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))


def _resize_crop_tensor(images: Tensor, size: int | None) -> Tensor:
    """The tensor version of :func:`_resize_crop_pil` for in-memory ``N×C×H×W`` data."""
    h, w = images.shape[-2:]
    if size is None:
        if h != w:
            raise DatasetError(f"images are {h}x{w}, not square: set model.image_size=N")
        return images
    if (h, w) != (size, size):
        scale = size / min(h, w)
        new_hw = (max(size, round(h * scale)), max(size, round(w * scale)))
        chunks = []
        for chunk in images.split(4096):  # bound the float copy's memory
            out = F.interpolate(chunk.float(), new_hw, mode="bilinear", antialias=True)
            if images.dtype == torch.uint8:
                out = out.round().clamp(0, 255).to(torch.uint8)
            chunks.append(out.clamp(-1, 1) if images.is_floating_point() else out)
        images = torch.cat(chunks)
        top, left = (new_hw[0] - size) // 2, (new_hw[1] - size) // 2
        images = images[..., top : top + size, left : left + size].contiguous()
    return images


def make_image_dataset(
    name: str,
    path: str | Path | None = None,
    image_size: int | None = None,
    flip: bool = False,
    dequantize: bool = False,
    *,
    split: str = "train",
    labeled: bool = True,
) -> ImageDataset:
    """Build the dataset ``name`` (one of :data:`IMAGE_DATASETS`).

    ``image_size=None`` keeps the native size (28 for Fashion-MNIST, 32 for CIFAR-10); it is
    required for ``image-folder``. ``split`` ("train" or "test") selects the files of
    Fashion-MNIST and CIFAR-10; for ``image-folder`` and ``npy`` the path is the split.
    ``labeled=False`` gives every image label 0.

    >>> make_image_dataset("mnist")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    DatasetError: unknown dataset 'mnist'; choose one of fashion-mnist, cifar10, ...
    """
    if name not in IMAGE_DATASETS:
        raise DatasetError(IMAGE_DATASETS.unknown(name))
    if name not in BUILTIN_IMAGE_DATASETS:
        return IMAGE_DATASETS[name](
            path=path,
            image_size=image_size,
            flip=flip,
            dequantize=dequantize,
            split=split,
            labeled=labeled,
        )
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size <= 0):
        raise DatasetError(f"image_size must be a positive int, got {image_size!r}")
    path = None if path is None else Path(path).expanduser()
    if path is not None and not path.exists():
        raise DatasetNotFoundError(f"{name}: data path {path} does not exist")
    options = {"flip": flip, "dequantize": dequantize}
    if name == "image-folder":
        if path is None or not path.is_dir():
            raise DatasetNotFoundError("image-folder needs data.path=DIR (a folder of images)")
        if image_size is None:
            raise DatasetError(
                "image-folder needs model.image_size=N (images are resized and cropped)"
            )
        files, labels, classes, channels = scan_image_folder(path, labeled)
        return ImageDataset(
            name,
            files,
            labels,
            image_size=image_size,
            channels=channels,
            num_classes=len(classes),
            class_names=classes,
            **options,
        )
    if name == "fashion-mnist":
        images, labels = load_fashion_mnist(path, split)
    elif name == "cifar10":
        images, labels = load_cifar10(path, split)
    else:
        if path is None:
            raise DatasetNotFoundError("npy needs data.path=FILE.npy")
        images, labels = load_npy(path)
    if labels is None or not labeled:
        labels = torch.zeros(len(images), dtype=torch.long)
    images = _resize_crop_tensor(images, image_size)
    num_classes = int(labels.max()) + 1 if len(labels) else 1
    if name != "npy" and labeled:
        num_classes = 10
    return ImageDataset(
        name,
        images,
        labels,
        image_size=images.shape[-1],
        channels=images.shape[1],
        num_classes=num_classes,
        **options,
    )


# ------------------------------------------------------------------------------- loading


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
