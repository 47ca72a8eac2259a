"""Checkpoints: round trip, exact RNG restore, crash safety, corruption detection, pruning."""

from __future__ import annotations

import datetime
import os
import random
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from convergan.checkpoint import (
    CheckpointError,
    CheckpointManager,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def assert_same(a, b, where="state"):
    """Recursive equality that compares tensors exactly (dtype, shape and values)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def trained_pair(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.0, 0.99))
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(16, 2)).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def small_state(step: int) -> dict:
    return {"step": step, "weights": torch.full((4,), float(step))}


def checkpoint_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("step-"))


# --------------------------------------------------------------------------- round trip


def test_round_trip_of_models_optimizers_and_rng(tmp_path):
    model, optimizer = trained_pair()
    state = {
        "step": 1234,
        "generator": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "config": {"method": {"name": "r1", "gamma": 1.0}, "betas": (0.0, 0.99), "path": None},
    }
    save_checkpoint(tmp_path / "run" / "ck.pt", state)
    loaded = load_checkpoint(tmp_path / "run" / "ck.pt")
    assert_same(state, loaded)

    # Restored players continue exactly like the originals.
    model_copy, optimizer_copy = trained_pair(seed=1)
    model_copy.load_state_dict(loaded["generator"])
    optimizer_copy.load_state_dict(loaded["optimizer"])
    batch = torch.randn(16, 2)
    for m, o in ((model, optimizer), (model_copy, optimizer_copy)):
        o.zero_grad()
        m(batch).pow(2).mean().backward()
        o.step()
    assert_same(model.state_dict(), model_copy.state_dict())


def test_rejects_state_that_weights_only_loading_would_refuse(tmp_path):
    with pytest.raises(TypeError, match=r"state\['extra'\]\['arrays'\]\[1\]: ndarray"):
        save_checkpoint(tmp_path / "ck.pt", {"extra": {"arrays": [1, np.zeros(2)]}})
    assert list(tmp_path.iterdir()) == []  # found before anything was written


def test_files_get_the_usual_permissions(tmp_path):
    path = save_checkpoint(tmp_path / "ck.pt", small_state(1))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------- RNG


def draws() -> tuple:
    return (
        torch.rand(5),
        torch.randn(3),
        np.random.rand(4),
        np.random.standard_normal(3),  # odd count leaves a cached Gaussian behind
        [random.random() for _ in range(3)],
        random.gauss(0, 1),  # leaves random's cached gauss_next behind
    )


def test_rng_restore_repeats_every_generator_exactly(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    draws()  # move every generator, including the cached-Gaussian slots, off its seed state
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()})
    expected = draws()
    draws()  # move on again, so equality below can only come from the restore
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = draws()
    for want, got in zip(expected, again):
        if isinstance(want, torch.Tensor):
            assert torch.equal(want, got)
        else:
            np.testing.assert_array_equal(want, got)


def test_rng_state_must_be_complete():
    state = rng_state()
    del state["numpy"]
    with pytest.raises(CheckpointError, match="RNG state lacks numpy"):
        set_rng_state(state)


# --------------------------------------------------------------------------- crash safety


def test_failing_serialization_leaves_previous_checkpoint(tmp_path, monkeypatch):
    manager = CheckpointManager(tmp_path)
    manager.save(1, small_state(1))

    def write_half_then_fail(obj, file):
        file.write(b"PK\x03\x04" + b"\0" * 4096)
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        manager.save(2, small_state(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001.pt"]  # temp removed
    step, state = manager.load_latest()
    assert step == 1 and torch.equal(state["weights"], torch.full((4,), 1.0))


def test_failing_rename_leaves_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.pt", small_state(1))

    def refuse(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="rename failed"):
        save_checkpoint(path, small_state(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
    assert load_checkpoint(path)["step"] == 1


# The child writes a 16 MiB checkpoint through a file that SIGKILLs its own process once
# 4 MiB are on disk: a deterministic kill in the middle of the write.
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from convergan.checkpoint import CheckpointManager

    LIMIT = 4 << 20
    real_fdopen = os.fdopen

    class DiesMidWrite:
        def __init__(self, file):
            self.file, self.written = file, 0
        def write(self, data):
            data = memoryview(data).cast("B")
            if self.written + len(data) >= LIMIT:
                self.file.write(data[: LIMIT - self.written])
                self.file.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            self.written += len(data)
            return self.file.write(data)
        def __getattr__(self, name):
            return getattr(self.file, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.file.__exit__(*exc)

    os.fdopen = lambda *args, **kwargs: DiesMidWrite(real_fdopen(*args, **kwargs))
    CheckpointManager(sys.argv[1]).save(2, {"big": torch.ones(4 << 20)})
    """
)


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
@pytest.mark.slow  # a subprocess imports torch
def test_process_killed_mid_write_leaves_previous_checkpoint(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(1, small_state(1))
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], capture_output=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size == 4 << 20  # really mid-write
    assert checkpoint_names(tmp_path) == ["step-00000001.pt"]
    assert manager.load_latest()[0] == 1

    manager.save(3, small_state(3))  # the next save clears the dead writer's temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000001.pt", "step-00000003.pt"]


# --------------------------------------------------------------------------- corruption


def truncate_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(2048))


def flip_a_tensor_byte(path: Path) -> None:
    # torch.load alone would return silently wrong weights here; the CRC check catches it.
    data = bytearray(path.read_bytes())
    offset = data.find(np.float32(7.0).tobytes() * 8)
    assert offset > 0
    data[offset + 1] ^= 0xFF
    path.write_bytes(bytes(data))


def unsafe_pickle(path: Path) -> None:
    torch.save({"when": datetime.date(2020, 1, 1)}, path)


@pytest.mark.parametrize(
    "damage", [truncate_half, empty, garbage, flip_a_tensor_byte, unsafe_pickle]
)
def test_damaged_file_raises_one_line_naming_it(tmp_path, damage):
    path = save_checkpoint(tmp_path / "ck.pt", {"weights": torch.full((4096,), 7.0)})
    damage(path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_missing_and_non_dict_files(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a list, not a state dict"):
        load_checkpoint(tmp_path / "list.pt")


def test_load_latest_skips_a_corrupt_newest_checkpoint(tmp_path):
    manager = CheckpointManager(tmp_path)
    for step in (1, 2, 3):
        manager.save(step, small_state(step))
    truncate_half(manager.path_for(3))
    with pytest.warns(RuntimeWarning, match=r"skipping unreadable checkpoint: .*step-00000003.pt"):
        step, state = manager.load_latest()
    assert step == 2 and state["step"] == 2


def test_load_latest_without_a_good_checkpoint(tmp_path):
    manager = CheckpointManager(tmp_path / "none")
    assert manager.latest() is None and manager.list() == []
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        manager.load_latest()
    manager.save(1, small_state(1))
    garbage(manager.path_for(1))
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointError, match="1 corrupt"):
        manager.load_latest()


# --------------------------------------------------------------------------- pruning


@pytest.mark.parametrize(
    ("keep_last", "keep_every", "steps", "kept"),
    [
        (3, None, [1, 2, 3, 4, 5], [3, 4, 5]),
        (1, None, [10, 20], [20]),
        (1, 2, [1, 2, 3, 4, 5, 6, 7], [2, 4, 6, 7]),
        (2, 1000, [500, 1000, 1500, 2000, 2500, 3000], [1000, 2000, 2500, 3000]),
    ],
)
def test_pruning_keeps_last_n_and_multiples(tmp_path, keep_last, keep_every, steps, kept):
    manager = CheckpointManager(tmp_path, keep_last=keep_last, keep_every=keep_every)
    for step in steps:
        manager.save(step, small_state(step))
    assert [manager.step_of(p) for p in manager.list()] == kept
    assert manager.latest() == manager.path_for(kept[-1])


def test_steps_sort_numerically_past_eight_digits(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=5)
    for step in (100_000_000, 99_999_999, 5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manager.save(step, small_state(step))
    assert [manager.step_of(p) for p in manager.list()] == [5, 99_999_999, 100_000_000]


def test_saving_an_earlier_step_warns_and_keeps_it(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in (10, 20):
        manager.save(step, small_state(step))
    with pytest.warns(RuntimeWarning, match="holds a later step"):
        manager.save(5, small_state(5))
    assert [manager.step_of(p) for p in manager.list()] == [5, 10, 20]


def test_temp_files_are_never_listed(tmp_path):
    manager = CheckpointManager(tmp_path)
    (tmp_path / ".step-00000009.pt.x1y2.tmp").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert manager.list() == [] and manager.latest() is None


@pytest.mark.parametrize("kwargs", [{"keep_last": 0}, {"keep_every": 0}])
def test_manager_rejects_bad_policies(tmp_path, kwargs):
    with pytest.raises(ValueError):
        CheckpointManager(tmp_path, **kwargs)
