"""Readers for the on-disk image formats behind :func:`convergan.data.images.make_image_dataset`.

Each reader returns raw data (``uint8`` or float ``N×C×H×W`` tensors, or a list of image files)
and checks it on the way: a missing file raises :class:`DatasetNotFoundError`, a corrupt or
malformed one :class:`DatasetError` with one line naming the file. Scaling, augmentation and
the dataset interface live in :mod:`convergan.data.images`.

CIFAR-10 ships as python pickles, so that is what we read; only files the user points us to
are unpickled, and through an unpickler that resolves nothing but NumPy's array
reconstructors: a crafted file cannot name ``os.system`` or any other callable.
"""

from __future__ import annotations

import codecs
import gzip
import pickle
import shutil
import struct
import subprocess
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = [
    "DatasetError", "DatasetNotFoundError", "find_fashion_mnist", "load_cifar10",
    "load_fashion_mnist", "load_npy", "read_idx", "scan_image_folder",
]  # fmt: skip

FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),
    Path("/usr/share/fashion-mnist"),
    Path("/usr/share/dataset-fashion-mnist"),
    Path("/usr/local/share/datasets/fashion-mnist"),
)
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "P;L"})


class DatasetError(ValueError):
    """Missing, corrupt or malformed data: a user error, reported as one line."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The data is not where we looked; the message says how to get it or where to point."""


# ---------------------------------------------------------------- Fashion-MNIST (IDX files)

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC = 0x0803, 0x0801


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    data = path.read_bytes()
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"corrupt gzip file {path}: {exc}") from None


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Parse an IDX file (LeCun's MNIST format), checking the magic number and the size.

    The header is ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian uint32 sizes,
    then the data. Any mismatch raises :class:`DatasetError` naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else -1
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise DatasetError(f"corrupt IDX file {path}: bad magic number {data[:4].hex() or '-'}")
    if expected_magic is not None and magic != expected_magic:
        raise DatasetError(
            f"corrupt IDX file {path}: magic {magic:#06x}, expected {expected_magic:#06x}"
        )
    ndim, dtype = data[3], np.dtype(_IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:offset]) if len(data) >= offset else None
    expected = None if dims is None else offset + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DatasetError(f"corrupt IDX file {path}: {len(data)} bytes, header implies {expected}")
    return np.frombuffer(data, dtype, offset=offset).reshape(dims)


def _idx_file(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


def find_fashion_mnist() -> Path | None:
    """The folder holding Fashion-MNIST's IDX files, or ``None``.

    Asks dpkg where the ``dataset-fashion-mnist`` package put them (distributions may move
    them), then tries a few usual folders.
    """
    candidates: list[Path] = []
    if shutil.which("dpkg"):
        try:
            listing = subprocess.run(
                ["dpkg", "-L", FASHION_MNIST_PACKAGE], capture_output=True, text=True, timeout=20
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        candidates += [
            Path(line).parent for line in listing.splitlines() if "train-images-idx3-ubyte" in line
        ]
    candidates += FASHION_MNIST_DIRS
    return next((c for c in candidates if _idx_file(c, "train-images-idx3-ubyte")), None)


def load_fashion_mnist(path: Path | None, split: str) -> tuple[Tensor, Tensor]:
    hint = (
        f"install it with `apt-get install {FASHION_MNIST_PACKAGE}`, or point to a folder of "
        "its IDX files (data.path=DIR in a config, --data DIR for `convergan features train`)"
    )
    folder = path if path is not None else find_fashion_mnist()
    if folder is None:
        raise DatasetNotFoundError(f"Fashion-MNIST not found: {hint}")
    prefix = "train" if split == "train" else "t10k"
    found = [
        _idx_file(folder, f"{prefix}-{kind}") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    ]
    if None in found:
        raise DatasetNotFoundError(
            f"no {prefix}-images/labels IDX files (raw or .gz) in {folder}: {hint}"
        )
    images = read_idx(found[0], _IDX_IMAGES_MAGIC)
    labels = read_idx(found[1], _IDX_LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{found[0]} ({images.shape}) and {found[1]} ({labels.shape}) disagree")
    return torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels.astype(np.int64))


# ---------------------------------------------------------------------- CIFAR-10 (pickles)


def _allowed_pickle_globals() -> dict[tuple[str, str], Any]:
    """The only globals a CIFAR batch needs: NumPy's array reconstructors (old and new names)."""
    reconstruct, frombuffer = np.empty(0).__reduce__()[0], np.empty(0).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _allowed_pickle_globals().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return found


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as exc:  # unpickling corrupt bytes can raise almost any type
        raise DatasetError(f"corrupt CIFAR-10 batch {path}: {type(exc).__name__}: {exc}") from None
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or len(labels) != len(data)
    ):
        raise DatasetError(f"malformed CIFAR-10 batch {path}: data {data.dtype}{data.shape}")
    return data.reshape(-1, 3, 32, 32), labels


CIFAR10_HOW_TO_GET = (
    "get the python version from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
    "and extract it (tar xzf) into that folder"
)


def load_cifar10(path: Path | None, split: str) -> tuple[Tensor, Tensor]:
    if path is None:
        raise DatasetNotFoundError(
            "cifar10 needs data.path=DIR (cifar-10-batches-py or its parent); " + CIFAR10_HOW_TO_GET
        )
    folder = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"CIFAR-10 batches {', '.join(missing)} not found in {folder}; {CIFAR10_HOW_TO_GET}"
        )
    batches = [_load_cifar_batch(folder / n) for n in names]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return torch.from_numpy(images), torch.from_numpy(labels)


# ------------------------------------------------------------------- image folders and .npy


def scan_image_folder(root: Path, labeled: bool) -> tuple[list[Path], Tensor, list[str], int]:
    """Readable images under ``root`` (corrupt ones skipped with one warning), labels, classes."""
    extensions = {
        ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
    }
    candidates = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_file()
    )
    files, modes, bad = [], set(), []
    for path in candidates:
        try:  # verify() checks headers and checksums without decoding: cheap enough for all
            with Image.open(path) as img:
                modes.add(img.mode)
                img.verify()
            files.append(path)
        except Exception:  # Pillow raises many exception types for corrupt files
            bad.append(path)
    if bad:
        shown = ", ".join(str(p) for p in bad[:10]) + (
            f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        )
        warnings.warn(
            f"image-folder: skipping {len(bad)} unreadable image(s): {shown}", stacklevel=3
        )
    if not files:
        raise DatasetNotFoundError(f"no readable images under {root}")
    group = [p.relative_to(root).parts[0] if p.parent != root else "." for p in files]
    classes = sorted(set(group)) if labeled else ["."]
    index = {name: i for i, name in enumerate(classes)}
    labels = torch.tensor([index[g] if labeled else 0 for g in group], dtype=torch.long)
    return files, labels, classes, 1 if modes <= _GRAY_MODES else 3


def load_npy(path: Path) -> tuple[Tensor, Tensor | None]:
    if not path.is_file():
        raise DatasetNotFoundError(f"npy file {path} not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"corrupt .npy file {path}: {exc}") from None
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.dtype == np.uint8 and array.shape[-1] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DatasetError(
            f"{path}: expected (N,H,W), (N,H,W,C) uint8 or (N,C,H,W) float with C in 1|3, "
            f"got {array.dtype}{array.shape}"
        )
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise DatasetError(f"{path}: dtype must be uint8 or float, got {array.dtype}")
        if array.size and not (
            np.isfinite(array).all() and -1 - 1e-6 <= array.min() and array.max() <= 1 + 1e-6
        ):
            raise DatasetError(f"{path}: float images must lie in [-1, 1]")
        array = np.clip(array, -1, 1).astype(np.float32)
    labels_path = path.with_name(f"{path.stem}_labels.npy")
    if not labels_path.is_file():
        return torch.from_numpy(np.ascontiguousarray(array)), None
    try:
        labels = np.load(labels_path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"corrupt .npy file {labels_path}: {exc}") from None
    if (
        labels.shape != (len(array),)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels < 0).any()
    ):
        raise DatasetError(
            f"{labels_path}: expected {len(array)} non-negative integer labels, "
            f"got {labels.dtype}{labels.shape}"
        )
    return torch.from_numpy(np.ascontiguousarray(array)), torch.from_numpy(labels.astype(np.int64))
