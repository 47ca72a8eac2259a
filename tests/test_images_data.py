"""Image datasets: every format, written by hand in tmp_path, read back through one interface."""

from __future__ import annotations

import gzip
import pickle
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Sampler

from convergan.data import image_formats
from convergan.data.image_formats import (
    DatasetError,
    DatasetNotFoundError,
    find_fashion_mnist,
    read_idx,
)
from convergan.data.images import ImageDataset, make_image_dataset
from convergan.data.loader import InfiniteLoader, make_dataloader

# ----------------------------------------------------------------------------- writers


def write_idx(path: Path, array: np.ndarray, *, gz: bool, magic: int | None = None) -> Path:
    """IDX as LeCun documents it: 0, 0, dtype code 0x08 (uint8), ndim, big-endian sizes, data."""
    header = magic if magic is not None else (0x08 << 8) | array.ndim
    data = struct.pack(">I", header) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.astype(np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_fashion_mnist(folder: Path, n: int, *, gz: bool, prefix: str = "train") -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, :3] = [0, 255, 51]
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz=gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, gz=gz)
    return images


def write_cifar(folder: Path, per_batch: int = 2, protocol: int = 2) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng, written = np.random.default_rng(1), {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, size=per_batch))
        batch = {b"batch_label": name.encode(), b"data": data, b"labels": [int(v) for v in labels]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = data
    return written


# -------------------------------------------------------------------------- Fashion-MNIST


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_idx_values_labels_and_scaling(tmp_path: Path, gz: bool) -> None:
    images = write_fashion_mnist(tmp_path, 12, gz=gz)
    write_fashion_mnist(tmp_path, 5, gz=gz, prefix="t10k")
    data = make_image_dataset("fashion-mnist", path=tmp_path)
    assert isinstance(data, ImageDataset)
    assert (len(data), data.shape, data.num_classes) == (12, (1, 28, 28), 10)
    image, label = data[3]
    assert image.dtype == torch.float32 and label == 3
    torch.testing.assert_close(image[0], torch.from_numpy(images[3]).float() * 2 / 255 - 1)
    first = data[0][0][0, 0, :3]
    torch.testing.assert_close(first, torch.tensor([-1.0, 1.0, 2 * 51 / 255 - 1]))
    assert len(make_image_dataset("fashion-mnist", path=tmp_path, split="test")) == 5


def test_fashion_mnist_resized_to_image_size(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, 3, gz=True)
    data = make_image_dataset("fashion-mnist", path=tmp_path, image_size=32)
    assert data.shape == (1, 32, 32)
    assert data[0][0].min() >= -1 and data[0][0].max() <= 1


def test_read_idx_checks_magic_and_size(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "ok", array, gz=True)), array)
    bad_magic = write_idx(tmp_path / "magic", array, gz=False, magic=0x12345678)
    with pytest.raises(DatasetError, match="magic"):
        read_idx(bad_magic)
    wrong_kind = write_idx(tmp_path / "labels-as-images", array, gz=False)
    with pytest.raises(DatasetError, match="expected 0x0801"):
        read_idx(wrong_kind, expected_magic=0x0801)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(write_idx(tmp_path / "full", array, gz=False).read_bytes()[:-5])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(truncated)


def test_corrupt_idx_file_is_a_dataset_error_naming_it(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, 4, gz=True)
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:40])  # a gzip stream cut short
    with pytest.raises(DatasetError, match=str(broken)):
        make_image_dataset("fashion-mnist", path=tmp_path)


def test_missing_fashion_mnist_tells_how_to_get_it(tmp_path, monkeypatch) -> None:
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        make_image_dataset("fashion-mnist", path=tmp_path)  # exists, but holds no IDX files
    monkeypatch.setattr(image_formats, "find_fashion_mnist", lambda: None)
    with pytest.raises(FileNotFoundError, match=r"apt-get install .*data\.path=DIR.*--data DIR"):
        make_image_dataset("fashion-mnist")
    with pytest.raises(DatasetError, match="does not exist"):
        make_image_dataset("fashion-mnist", path=tmp_path / "nowhere")


def test_find_fashion_mnist_asks_dpkg(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "somewhere" / "fashion-mnist"
    folder.mkdir(parents=True)
    write_fashion_mnist(folder, 1, gz=True)
    listing = f"/.\n{folder}\n{folder}/train-images-idx3-ubyte.gz\n"
    monkeypatch.setattr(image_formats.shutil, "which", lambda name: "/usr/bin/dpkg")
    monkeypatch.setattr(
        image_formats.subprocess,
        "run",
        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, stdout=listing, stderr=""),
    )
    assert find_fashion_mnist() == folder


def test_real_fashion_mnist_if_installed() -> None:
    if find_fashion_mnist() is None:
        pytest.skip(
            "dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)"
        )
    data = make_image_dataset("fashion-mnist")
    assert (len(data), data.shape) == (60000, (1, 28, 28))
    assert data.labels.min() == 0 and data.labels.max() == 9
    assert set(data.labels.tolist()) == set(range(10))
    assert len(make_image_dataset("fashion-mnist", split="test")) == 10000


# ------------------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize(("nested", "protocol"), [(True, 2), (False, 5)])
def test_cifar10_batches(tmp_path: Path, nested: bool, protocol: int) -> None:
    folder = tmp_path / "cifar-10-batches-py" if nested else tmp_path
    written = write_cifar(folder, protocol=protocol)
    data = make_image_dataset("cifar10", path=tmp_path)
    assert (len(data), data.shape, data.num_classes) == (10, (3, 32, 32), 10)
    # row-major 3072 bytes: 1024 red, then green, then blue; image 3 is batch 2's second one
    raw = written["data_batch_2"][1].astype(np.float64)
    image = data[3][0]
    assert image[1, 2, 5] == pytest.approx(raw[1024 + 2 * 32 + 5] * 2 / 255 - 1, abs=1e-6)
    assert image[2, 31, 0] == pytest.approx(raw[2048 + 31 * 32] * 2 / 255 - 1, abs=1e-6)
    test = make_image_dataset("cifar10", path=tmp_path, split="test")
    assert len(test) == 2


class _Evil:
    def __reduce__(self):  # unpickling would call print("pwned")
        return (print, ("pwned",))


def test_cifar10_refuses_pickles_that_call_functions(tmp_path: Path, capsys) -> None:
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DatasetError, match=r"data_batch_3.*refusing to load builtins\.print"):
        make_image_dataset("cifar10", path=tmp_path)
    assert "pwned" not in capsys.readouterr().out


def test_cifar10_missing_or_malformed_batches(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "data_batch_4").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_4"):
        make_image_dataset("cifar10", path=tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_4"):
        make_image_dataset("cifar10", path=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="data.path"):
        make_image_dataset("cifar10")


# --------------------------------------------------------------------------- image folder


def _striped(width: int, height: int) -> Image.Image:
    """Red | green | blue vertical bands of width/4, width/2, width/4."""
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 4, 0] = 255
    array[:, width // 4 : 3 * width // 4, 1] = 255
    array[:, 3 * width // 4 :, 2] = 255
    return Image.fromarray(array)


def test_image_folder_labels_resize_crop_and_corrupt_files(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs" / "puppies").mkdir(parents=True)
    _striped(40, 20).save(tmp_path / "cats" / "a.png")
    Image.new("RGB", (16, 16), (255, 255, 255)).save(tmp_path / "cats" / "b.jpg", quality=95)
    Image.new("RGB", (20, 30), (0, 0, 0)).save(tmp_path / "dogs" / "puppies" / "c.bmp")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image, silently ignored")
    with pytest.warns(UserWarning, match="broken.png") as record:
        data = make_image_dataset("image-folder", path=tmp_path, image_size=16)
    assert len(record) == 1 and "notes.txt" not in str(record[0].message)
    assert (len(data), data.shape, data.num_classes) == (3, (3, 16, 16), 2)
    assert data.class_names == ("cats", "dogs")
    assert data.labels.tolist() == [0, 0, 1]
    striped = data[0][0]  # 40x20 -> 32x16 -> centre 16 columns: the green band
    torch.testing.assert_close(
        striped[:, :, 5:11],
        torch.tensor([-1.0, 1.0, -1.0])[:, None, None].expand(3, 16, 6),
        atol=0.02,
        rtol=0,
    )
    assert data[1][0].min() > 0.95 and data[2][0].max() == -1.0
    with pytest.warns(UserWarning, match="broken.png"):
        unlabeled = make_image_dataset("image-folder", path=tmp_path, image_size=8, labeled=False)
    assert unlabeled.labels.tolist() == [0, 0, 0] and unlabeled.num_classes == 1


def test_image_folder_grayscale_and_errors(tmp_path: Path) -> None:
    for i in range(2):
        Image.new("L", (10, 10), 255 * i).save(tmp_path / f"{i}.png")
    data = make_image_dataset("image-folder", path=tmp_path, image_size=10)
    assert data.shape == (1, 10, 10) and data.labels.tolist() == [0, 0]
    assert data[0][0].max() == -1.0 and data[1][0].min() == 1.0
    with pytest.raises(DatasetError, match="image_size"):
        make_image_dataset("image-folder", path=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="no readable images"):
        make_image_dataset("image-folder", path=empty, image_size=8)


# ----------------------------------------------------------------------------------- npy


def test_npy_layouts_and_labels(tmp_path: Path) -> None:
    gray = np.random.default_rng(2).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "gray.npy", gray)
    data = make_image_dataset("npy", path=tmp_path / "gray.npy")
    assert data.shape == (1, 8, 8) and data.labels.tolist() == [0] * 4 and data.num_classes == 1
    torch.testing.assert_close(data[2][0][0], torch.from_numpy(gray[2]).float() * 2 / 255 - 1)

    hwc = np.random.default_rng(3).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "rgb.npy", hwc)
    np.save(tmp_path / "rgb_labels.npy", np.array([4, 0, 2]))
    data = make_image_dataset("npy", path=tmp_path / "rgb.npy")
    assert data.shape == (3, 8, 8) and data.labels.tolist() == [4, 0, 2] and data.num_classes == 5
    assert data[1][0][2, 5, 6] == pytest.approx(hwc[1, 5, 6, 2] * 2 / 255 - 1, abs=1e-6)

    chw = np.linspace(-1, 1, 2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    np.save(tmp_path / "float.npy", chw)
    torch.testing.assert_close(
        make_image_dataset("npy", path=tmp_path / "float.npy")[1][0], torch.from_numpy(chw[1])
    )


def test_npy_rejects_bad_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "range.npy", np.full((2, 1, 4, 4), 3.0, np.float32))
    np.save(tmp_path / "dims.npy", np.zeros((2, 4), np.uint8))
    np.save(tmp_path / "ok.npy", np.zeros((2, 4, 4), np.uint8))
    np.save(tmp_path / "ok_labels.npy", np.array([1, 2, 3]))
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    for name, match in [
        ("range", r"\[-1, 1\]"),
        ("dims", "expected"),
        ("ok", "ok_labels.npy"),
        ("corrupt", "corrupt.npy"),
    ]:
        with pytest.raises(DatasetError, match=match):
            make_image_dataset("npy", path=tmp_path / f"{name}.npy")


def test_unknown_dataset_and_bad_arguments() -> None:
    with pytest.raises(DatasetError, match="choose one of fashion-mnist, cifar10"):
        make_image_dataset("imagenet")
    with pytest.raises(DatasetError, match="split"):
        make_image_dataset("fashion-mnist", split="val")
    with pytest.raises(DatasetError, match="image_size"):
        make_image_dataset("fashion-mnist", image_size=0)


# ------------------------------------------------------------------ augmentation, loading


def _npy_dataset(tmp_path: Path, n: int = 10, **options) -> ImageDataset:
    images = np.stack([np.arange(16, dtype=np.uint8).reshape(4, 4) + 16 * i for i in range(n)])
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "x_labels.npy", np.arange(n))
    return make_image_dataset("npy", path=tmp_path / "x.npy", **options)


def test_dequantization_stays_in_the_pixels_bin_and_flip_mirrors(tmp_path: Path) -> None:
    plain = _npy_dataset(tmp_path)
    noisy = make_image_dataset("npy", path=tmp_path / "x.npy", dequantize=True, flip=True)
    flips = 0
    for seed in range(40):
        image, label = noisy[(7, seed)]
        assert label == 7 and image.min() >= -1 and image.max() < 1
        levels = ((image + 1) / 2 * 256).floor()
        raw = ((plain[7][0] + 1) / 2 * 255).round()
        flipped = torch.equal(levels, raw.flip(-1))
        assert flipped or torch.equal(levels, raw)
        flips += flipped
        torch.testing.assert_close(noisy[(7, seed)][0], image)  # same seed, same augmentation
    assert 5 < flips < 35


def _take(loader: InfiniteLoader, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [next(loader) for _ in range(n)]


def test_infinite_loader_epochs_and_exact_resume(tmp_path: Path) -> None:
    data = _npy_dataset(tmp_path, flip=True, dequantize=True)
    loader = make_dataloader(data, batch_size=4, seed=3)
    assert len(loader) == 2  # 10 images, drop_last
    head = _take(loader, 3)
    state = loader.state_dict()
    assert (state["epoch"], state["index"]) == (1, 1)
    path = tmp_path / "loader.pt"
    torch.save(state, path)
    tail = _take(loader, 5)
    epoch0 = torch.cat([b[1] for b in head[:2]]).tolist()
    assert len(set(epoch0)) == 8  # a permutation, without repeats

    resumed = make_dataloader(data, batch_size=4, seed=3)
    resumed.load_state_dict(torch.load(path, weights_only=True))
    for (x, y), (x2, y2) in zip(tail, _take(resumed, 5)):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    other_seed = _take(make_dataloader(data, batch_size=4, seed=4), 1)[0][1]
    assert not torch.equal(other_seed, head[0][1])


def test_infinite_loader_batches_do_not_depend_on_workers(tmp_path: Path) -> None:
    data = _npy_dataset(tmp_path, flip=True, dequantize=True)
    alone = _take(make_dataloader(data, 4, num_workers=0, seed=1), 3)
    with_workers = _take(make_dataloader(data, 4, num_workers=2, seed=1), 3)
    for (x, y), (x2, y2) in zip(alone, with_workers):
        assert torch.equal(x, x2) and torch.equal(y, y2)


class _FixedOrder(Sampler):
    def __init__(self, order: list[int]) -> None:
        self.order, self.epochs = order, []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def test_infinite_loader_sampler_partial_batches_and_errors(tmp_path: Path) -> None:
    data = _npy_dataset(tmp_path)
    sampler = _FixedOrder([9, 1, 4])
    loader = make_dataloader(data, batch_size=2, sampler=sampler, drop_last=False)
    assert [b[1].tolist() for b in _take(loader, 3)] == [[9, 1], [4], [9, 1]]
    assert sampler.epochs == [0, 1]
    with pytest.raises(DatasetError, match="no full batch"):
        make_dataloader(data, batch_size=11)
    with pytest.raises(DatasetError, match="missing keys"):
        loader.load_state_dict({"epoch": 0})
