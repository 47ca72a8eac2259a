"""The image dataset interface: :class:`ImageDataset`, and :func:`make_image_dataset`, which
builds one by its name in :data:`~convergan.registry.IMAGE_DATASETS`.

Every dataset is an :class:`ImageDataset`: item ``i`` is ``(image, label)`` with ``image`` a
float tensor ``C×H×W`` in ``[-1, 1]`` (the range of a ``tanh`` generator) and ``label`` an int
(0 when the data is unlabelled). The built-in datasets (``fashion-mnist``, ``cifar10``,
``image-folder``, ``npy``) are registered by :mod:`convergan.data.datasets`, a user's dataset
by its plugin, each with a factory taking :func:`make_image_dataset`'s keyword options; both
go through the same checks and the same look-up.

Scaling: 8-bit values ``u`` map to ``2u/255 − 1``. With ``dequantize=True`` they map to
``2(u + ε)/256 − 1`` with ``ε ~ U[0, 1)``, i.e. uniform noise one quantisation bin wide, so
the data has a density (Theis et al., 2016) while staying inside ``[-1, 1)``. Float arrays are
assumed to come from 8-bit images and get the same treatment. ``flip=True`` mirrors each image
horizontally with probability 1/2.

Bad data is a user error: it raises :class:`DatasetError` (a ``ValueError``) with one line
that names the file; missing data raises :class:`DatasetNotFoundError`, which is also a
``FileNotFoundError``. The readers of each file format live in
:mod:`convergan.data.image_formats`, the resumable loader in :mod:`convergan.data.loader`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from convergan.data.image_formats import (
    DatasetError,
    DatasetNotFoundError,
)
from convergan.registry import IMAGE_DATASETS

__all__ = ["ImageDataset", "make_image_dataset"]


class ImageDataset(Dataset):
    """``(image in [-1,1] as C×H×W float, label)`` pairs, from memory or from image files.

    An item may be requested as ``dataset[i]`` (augmentations draw from the global torch RNG)
    or as ``dataset[(i, seed)]`` (they draw from a generator seeded with ``seed``).
    :class:`~convergan.data.loader.InfiniteLoader` uses the second form, so the augmentations
    of a batch depend only on the loader's state: not on the number of workers, nor on the
    global RNG.
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
    ``labeled=False`` gives every image label 0. The options are checked here, for every
    dataset, and handed to the registered factory as keywords, ``path`` as an existing
    :class:`~pathlib.Path` or ``None``.

    >>> make_image_dataset("mnist")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    DatasetError: unknown dataset 'mnist'; choose one of fashion-mnist, cifar10, ...
    """
    if name not in IMAGE_DATASETS:
        raise DatasetError(IMAGE_DATASETS.unknown(name))
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    if image_size is not None and (not isinstance(image_size, int) or image_size <= 0):
        raise DatasetError(f"image_size must be a positive int, got {image_size!r}")
    path = None if path is None else Path(path).expanduser()
    if path is not None and not path.exists():
        raise DatasetNotFoundError(f"{name}: data path {path} does not exist")
    return IMAGE_DATASETS[name](
        path=path,
        image_size=image_size,
        flip=flip,
        dequantize=dequantize,
        split=split,
        labeled=labeled,
    )
