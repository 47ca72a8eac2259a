"""Fuzzing findings on the trainer (issue 10): each ends in one line (exit 2 through the CLI)
and loses no data. Runs are the circle config shrunk to a width-8 MLP and a few steps."""

from __future__ import annotations

import errno
import json
import math
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import TINY_CIRCLE

from convergan.checkpoint import (
    CheckpointError,
    CheckpointManager,
    CheckpointWriteError,
    load_checkpoint,
)
from convergan.cli.main import main
from convergan.config import ConfigError, load_config
from convergan.field import DivergenceError
from convergan.methods import Batch
from convergan.runs import train
from convergan.training import loop
from convergan.training.batches import BatchSampler
from convergan.training.lock import RunDirectoryError, RunLock, RunLockedError
from convergan.training.metrics_log import read_metrics
from convergan.training.run import Run

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = ROOT / "configs" / "toy2d" / "circle.yaml"
TINY = [*TINY_CIRCLE, "train.log_every=1", "train.eval_every=0"]


def tiny_config(out_dir: Path, *overrides: str):
    return load_config(CIRCLE, [f"out_dir={out_dir}", *TINY, *overrides])


def cli(capsys, *argv: str):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def assert_one_line_exit_2(code: int, err: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("convergan: error:"), err


def loss_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir / "metrics.jsonl") if "progress/samples_seen" in r]


# ------------------------------------------------------------------ one writer per run


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    with RunLock(run_dir):
        with pytest.raises(RunLockedError) as info:
            train(tiny_config(run_dir, "train.steps=2"), progress=False)
    message = str(info.value)
    assert "\n" not in message and f"pid {os.getpid()}" in message
    assert socket.gethostname() in message
    assert not (run_dir / "config.yaml").exists()  # the refused run wrote nothing


def test_resume_of_a_running_run_is_refused_and_leaves_it_intact(tmp_path):
    run_dir = tmp_path / "run"
    train(tiny_config(run_dir, "train.steps=2"), progress=False)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    with RunLock(run_dir):
        with pytest.raises(RunLockedError):
            train(tiny_config(run_dir, "train.steps=4"), resume=True, progress=False)
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert after == before
    # The lock is gone once its holder is: resume now works.
    assert train(tiny_config(run_dir, "train.steps=4"), resume=True, progress=False).steps == 4


@pytest.mark.slow  # a subprocess imports torch
def test_the_lock_dies_with_a_crashed_process(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from convergan.training.lock import RunLock; "
            f"lock = RunLock({str(run_dir)!r}); lock.acquire(); print('locked', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} "):
            RunLock(run_dir).acquire()
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs in the holder
        holder.wait()
    lock = RunLock(run_dir)
    lock.acquire()  # the kernel dropped the dead process's flock
    lock.release()


@pytest.mark.slow  # two CLI trainings in subprocesses
def test_two_cli_trainings_at_once_one_is_refused_the_other_finishes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    steps = 1000
    overrides = [f"out_dir={run_dir}", *TINY, f"train.steps={steps}", "train.checkpoint_every=250"]
    first = subprocess.Popen(
        [sys.executable, "-m", "convergan", "train", str(CIRCLE), *overrides, "method=r1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        lock = run_dir / ".lock"
        while not (lock.is_file() and lock.read_text()):  # the first run holds the directory
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        code, _, err = cli(capsys, "train", str(CIRCLE), *overrides, "method=gan", "--quiet")
        assert_one_line_exit_2(code, err)
        assert f"pid {first.pid}" in err
        while not list((run_dir / "checkpoints").glob("*.pt")):  # resumable, still running
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        code, _, err = cli(capsys, "resume", str(run_dir), "--quiet")
        assert_one_line_exit_2(code, err)
        assert f"pid {first.pid}" in err
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    config = load_config(run_dir / "config.yaml")
    assert config.method.name == "r1"
    logged = [r["step"] for r in loss_rows(run_dir)]
    assert logged == list(range(1, steps + 1))  # every step logged once, by the first run only
    assert (
        CheckpointManager(run_dir / "checkpoints").step_of(
            CheckpointManager(run_dir / "checkpoints").latest()
        )
        == steps
    )


def test_clean_up_never_deletes_a_live_writers_temp_file(tmp_path):
    manager = CheckpointManager(tmp_path)
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:64]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = tmp_path / f".step-00000007.pt.{os.getppid()}@{host}.abc123.tmp"  # our parent
    stale = tmp_path / f".step-00000007.pt.{dead.pid}@{host}.def456.tmp"
    other_host = tmp_path / f".step-00000007.pt.{dead.pid}@elsewhere.ghi789.tmp"
    for path in (alive, stale, other_host):
        path.write_bytes(b"half a checkpoint")
    manager.save(1, {"weights": torch.ones(2)})
    assert alive.exists() and other_host.exists()
    assert not stale.exists()


# ------------------------------------------------------------------ the run directory


def test_out_dir_below_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(RunDirectoryError) as info:
        train(tiny_config(tmp_path / "file" / "run", "train.steps=2"), progress=False)
    assert "\n" not in str(info.value) and "out_dir" in str(info.value)
    out_dir = f"out_dir={tmp_path / 'file' / 'run'}"
    code, _, err = cli(capsys, "train", str(CIRCLE), out_dir, *TINY, "train.steps=2", "--quiet")
    assert_one_line_exit_2(code, err)


def test_out_dir_not_writable_is_one_line(tmp_path, monkeypatch):
    target = tmp_path / "readonly" / "run"
    original = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(RunDirectoryError, match="Permission denied") as info:
        train(tiny_config(target, "train.steps=2"), progress=False)
    assert "\n" not in str(info.value)


def test_disk_full_during_a_checkpoint_is_one_line_and_keeps_older_ones(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    real_save = torch.save
    calls = {"n": 0}

    def fill_the_disk(obj, file, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: write part of it, then run out of space
            file.write(b"PK\x03\x04" + b"\0" * 1024)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fill_the_disk)
    config = tiny_config(run_dir, "train.steps=4", "train.checkpoint_every=2")
    with pytest.raises(CheckpointWriteError) as info:
        train(config, progress=False)
    message = str(info.value)
    assert "\n" not in message and "No space left" in message and "intact" in message
    assert isinstance(info.value, CheckpointError)  # what the CLI maps to exit 2
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["step-00000002.pt"]  # no temp file left behind
    assert load_checkpoint(run_dir / "checkpoints" / names[0])["step"] == 2
    monkeypatch.setattr(torch, "save", real_save)
    assert train(config, resume=True, progress=False).steps == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="device"):
        train(tiny_config(tmp_path / "run", "device=cuda", "train.steps=1"), progress=False)
    out_dir = f"out_dir={tmp_path / 'run2'}"
    code, _, err = cli(capsys, "train", str(CIRCLE), out_dir, *TINY, "device=cuda", "--quiet")
    assert_one_line_exit_2(code, err)


def test_dcgan_on_2d_data_is_one_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="model.name") as info:
        train(tiny_config(tmp_path / "run", "model.name=dcgan", "train.steps=1"), progress=False)
    assert "\n" not in str(info.value)
    out_dir = f"out_dir={tmp_path / 'run2'}"
    code, _, err = cli(capsys, "train", str(CIRCLE), out_dir, *TINY, "model.name=dcgan")
    assert_one_line_exit_2(code, err)


def test_dcgan_on_17_pixel_images_names_the_supported_sizes(tmp_path, capsys):
    images = np.random.default_rng(0).integers(0, 256, (32, 17, 17), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    fashion = ROOT / "configs" / "fashion-mnist" / "dcgan-r1.yaml"
    overrides = [
        f"out_dir={tmp_path / 'run'}",
        "data.name=npy",
        f"data.path={tmp_path / 'images.npy'}",
        "data.batch_size=8",
        "model.width=4",
        "train.steps=1",
        "eval.metrics=[]",
    ]
    code, _, err = cli(capsys, "train", str(fashion), *overrides, "--quiet")
    assert_one_line_exit_2(code, err)
    assert "28, 32, 64" in err and "17x17" in err and "model.image_size" in err


# ------------------------------------------------------------------ resume rules


@pytest.mark.parametrize(
    "change,keys",
    [
        (["model.width=16"], ["model.width"]),
        (["data.batch_size=32"], ["data.batch_size"]),
        (["model.width=16", "model.depth=2"], ["model.depth", "model.width"]),
    ],
)
def test_resume_refuses_to_change_fixed_keys(tmp_path, capsys, change, keys):
    run_dir = tmp_path / "run"
    train(tiny_config(run_dir, "train.steps=2"), progress=False)
    before = (run_dir / "config.yaml").read_text()
    code, _, err = cli(capsys, "resume", str(run_dir), *change, "train.steps=4", "--quiet")
    assert_one_line_exit_2(code, err)
    for key in keys:
        assert key in err
    assert "cannot change" in err
    assert (run_dir / "config.yaml").read_text() == before  # nothing recorded
    # A key that may change (the step budget) still resumes.
    code, _, err = cli(capsys, "resume", str(run_dir), "train.steps=3", "--quiet")
    assert code == 0, err


# ------------------------------------------------------------------ logs after a crash


def test_no_duplicate_metrics_rows_after_a_crash_and_resume(tmp_path, monkeypatch):
    common = ["train.steps=6", "train.checkpoint_every=3"]
    straight = tmp_path / "straight"
    train(tiny_config(straight, *common), progress=False)

    crashed = tmp_path / "crashed"
    original = Run.after_step

    def crash_after_step_5(self, state, *args, **kwargs):
        original(self, state, *args, **kwargs)
        if state.step == 5:
            raise KeyboardInterrupt  # killed after logging steps 4 and 5

    monkeypatch.setattr(Run, "after_step", crash_after_step_5)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(crashed, *common), progress=False)
    assert [r["step"] for r in loss_rows(crashed)] == [1, 2, 3, 4, 5]
    monkeypatch.setattr(Run, "after_step", original)
    train(tiny_config(crashed, *common), resume=True, progress=False)
    assert [r["step"] for r in loss_rows(crashed)] == [1, 2, 3, 4, 5, 6]
    assert loss_rows(crashed) == loss_rows(straight)  # the replayed steps equal, once each


def test_reporter_means_after_resume_equal_an_uninterrupted_run(tmp_path):
    # Logs every 4 steps, checkpoints every 3: the log at step 4 after a resume at step 3
    # must average steps 1..4, three of them reported before the checkpoint.
    common = ["train.log_every=4", "train.checkpoint_every=3"]
    straight = tmp_path / "straight"
    train(tiny_config(straight, *common, "train.steps=8"), progress=False)
    halves = tmp_path / "halves"
    train(tiny_config(halves, *common, "train.steps=3"), progress=False)
    train(tiny_config(halves, *common, "train.steps=8"), resume=True, progress=False)

    def by_step(run_dir):
        return {r["step"]: r for r in loss_rows(run_dir)}

    a, b = by_step(straight), by_step(halves)
    assert sorted(a) == [4, 8]
    assert a[4] == b[4] and a[8] == b[8]  # bit-identical means


def test_divergence_without_a_checkpoint_says_none_is_kept(tmp_path, monkeypatch):
    class Poisoned(BatchSampler):
        calls = 0

        def __call__(self) -> Batch:
            batch = super().__call__()
            Poisoned.calls += 1
            if Poisoned.calls == 3:  # step 2's D batch (D then G per step)
                batch = replace(batch, real=torch.full_like(batch.real, math.nan))
            return batch

    monkeypatch.setattr(loop, "BatchSampler", Poisoned)
    with pytest.raises(DivergenceError, match="at step 2") as info:
        train(tiny_config(tmp_path / "run", "train.steps=5"), progress=False)
    assert info.value.last_checkpoint_step is None

    Poisoned.calls = -6  # poisoned at step 5 now: checkpoints at 2 and 4 were written
    config = tiny_config(tmp_path / "run2", "train.steps=6", "train.checkpoint_every=2")
    with pytest.raises(DivergenceError) as info:
        train(config, progress=False)
    assert info.value.last_checkpoint_step == 4


# ------------------------------------------------------------------ messages


def test_data_messages_name_the_right_keys(tmp_path):
    from convergan.data.image_formats import DatasetError
    from convergan.data.images import make_image_dataset

    folder = tmp_path / "images"
    folder.mkdir()
    with pytest.raises(DatasetError, match="model.image_size"):
        make_image_dataset("image-folder", path=folder)
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz"):
        make_image_dataset("cifar10", path=tmp_path)
    with pytest.raises(DatasetError, match="--data DIR"):
        make_image_dataset("fashion-mnist", path=tmp_path)


def test_cache_dir_honours_xdg_and_convergan_cache(monkeypatch, tmp_path):
    from convergan.metrics.images import default_cache_dir

    monkeypatch.delenv("CONVERGAN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "convergan"
    monkeypatch.setenv("CONVERGAN_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CONVERGAN_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path("~/.cache/convergan").expanduser()


def test_lock_file_names_the_holder_while_it_runs(tmp_path):
    with RunLock(tmp_path) as lock:
        record = json.loads(lock.path.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert lock.path.read_text() == ""  # released: no stale holder


# ------------------------------------------------------------------ corrupt image files


def write_image_folder(folder: Path, n: int = 12) -> Path:
    """``n`` small JPEGs, the fourth cut to 90% (a truncated download): Pillow's verify()
    passes it, decoding it fails."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.jpg", quality=90)
    broken = folder / "img03.jpg"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) * 9 // 10])
    return broken


@pytest.mark.slow  # a DCGAN trained and resumed on files
def test_a_truncated_jpeg_is_skipped_with_a_warning_and_training_resumes(tmp_path):
    broken = write_image_folder(tmp_path / "images")
    fashion = ROOT / "configs" / "fashion-mnist" / "dcgan-r1.yaml"
    overrides = [
        f"out_dir={tmp_path / 'run'}",
        "data.name=image-folder",
        f"data.path={tmp_path / 'images'}",
        "data.batch_size=4",
        "model.image_size=28",
        "model.width=4",
        "model.latent_dim=8",
        "device=cpu",
        "eval.metrics=[]",
        "train.log_every=1",
        "train.sample_every=0",
        "train.eval_every=0",
        "train.checkpoint_every=2",
        "train.progress=false",
    ]
    with pytest.warns(RuntimeWarning, match=f"skipping unreadable image {broken}"):
        # 3 batches of 4 per epoch: every image, the broken one included, is read
        assert train(load_config(fashion, [*overrides, "train.steps=4"])).steps == 4
    resumed = load_config(fashion, [*overrides, "train.steps=6"])
    with pytest.warns(RuntimeWarning, match="img03.jpg"):  # epoch 2 reads it again
        assert train(resumed, resume=True).steps == 6
    assert [r["step"] for r in loss_rows(tmp_path / "run")] == [1, 2, 3, 4, 5, 6]
