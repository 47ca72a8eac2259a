"""The built-in image datasets, each registered in :data:`~convergan.registry.IMAGE_DATASETS`
with its own factory. :func:`~convergan.data.images.make_image_dataset` checks the options
and calls the factory with them as keywords (``path``: an existing :class:`~pathlib.Path` or
``None``, ``image_size``, ``flip``, ``dequantize``, ``split``, ``labeled``).

* ``fashion-mnist``: IDX files (raw or gzip). The default path is where the Debian package
  ``dataset-fashion-mnist`` installs them, found at run time with ``dpkg -L``.
* ``cifar10``: the python-pickle batches of ``cifar-10-batches-py``. Pickle is that dataset's
  format; only files the user points us to are unpickled, and through an unpickler that
  accepts nothing but plain NumPy arrays, so a crafted file cannot run code.
* ``image-folder``: any format Pillow reads, found recursively; resized (shorter side) and
  centre-cropped to ``image_size``; labels from the sorted first-level sub-folder names.
* ``npy``: an ``(N,H,W)`` / ``(N,H,W,C)`` uint8 array or an ``(N,C,H,W)`` float array in
  ``[-1, 1]``; labels from ``<stem>_labels.npy`` next to it when present.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from convergan.data.image_formats import (
    DatasetError,
    DatasetNotFoundError,
    load_cifar10,
    load_fashion_mnist,
    load_npy,
    scan_image_folder,
)
from convergan.data.images import ImageDataset


def _in_memory(
    name: str,
    images: Tensor,
    labels: Tensor | None,
    *,
    image_size: int | None,
    labeled: bool,
    flip: bool,
    dequantize: bool,
    num_classes: int | None = None,
) -> ImageDataset:
    """An :class:`ImageDataset` over ``N×C×H×W`` images held in memory, resized and cropped to
    ``image_size``. Without labels (or with ``labeled=False``) every label is 0; the number of
    classes is then, and when ``num_classes`` is not given, the largest label + 1."""
    if labels is None or not labeled:
        labels = torch.zeros(len(images), dtype=torch.long)
    images = _resize_crop_tensor(images, image_size)
    if num_classes is None or not labeled:
        num_classes = int(labels.max()) + 1 if len(labels) else 1
    return ImageDataset(
        name,
        images,
        labels,
        image_size=images.shape[-1],
        channels=images.shape[1],
        num_classes=num_classes,
        flip=flip,
        dequantize=dequantize,
    )


def _resize_crop_tensor(images: Tensor, size: int | None) -> Tensor:
    """The tensor version of :func:`convergan.data.images._resize_crop_pil` for in-memory
    ``N×C×H×W`` data."""
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


def fashion_mnist(
    *,
    path: Path | None,
    image_size: int | None,
    flip: bool,
    dequantize: bool,
    split: str,
    labeled: bool,
) -> ImageDataset:
    images, labels = load_fashion_mnist(path, split)
    return _in_memory(
        "fashion-mnist",
        images,
        labels,
        image_size=image_size,
        labeled=labeled,
        num_classes=10,
        flip=flip,
        dequantize=dequantize,
    )


def cifar10(
    *,
    path: Path | None,
    image_size: int | None,
    flip: bool,
    dequantize: bool,
    split: str,
    labeled: bool,
) -> ImageDataset:
    images, labels = load_cifar10(path, split)
    return _in_memory(
        "cifar10",
        images,
        labels,
        image_size=image_size,
        labeled=labeled,
        num_classes=10,
        flip=flip,
        dequantize=dequantize,
    )


def image_folder(
    *,
    path: Path | None,
    image_size: int | None,
    flip: bool,
    dequantize: bool,
    split: str,
    labeled: bool,
) -> ImageDataset:
    if path is None or not path.is_dir():
        raise DatasetNotFoundError("image-folder needs data.path=DIR (a folder of images)")
    if image_size is None:
        raise DatasetError("image-folder needs model.image_size=N (images are resized and cropped)")
    files, labels, classes, channels = scan_image_folder(path, labeled)
    return ImageDataset(
        "image-folder",
        files,
        labels,
        image_size=image_size,
        channels=channels,
        num_classes=len(classes),
        class_names=classes,
        flip=flip,
        dequantize=dequantize,
    )


def npy(
    *,
    path: Path | None,
    image_size: int | None,
    flip: bool,
    dequantize: bool,
    split: str,
    labeled: bool,
) -> ImageDataset:
    if path is None:
        raise DatasetNotFoundError("npy needs data.path=FILE.npy")
    images, labels = load_npy(path)
    return _in_memory(
        "npy",
        images,
        labels,
        image_size=image_size,
        labeled=labeled,
        flip=flip,
        dequantize=dequantize,
    )
