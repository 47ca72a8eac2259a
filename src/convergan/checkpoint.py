"""Checkpoints that survive crashes and load without unpickling code.

Three guarantees, each from DESIGN.md §7:

* **Atomic writes.** A checkpoint is written to a hidden temp file in the target directory,
  flushed and fsynced, then renamed over the final name with ``os.replace`` (atomic on POSIX),
  and the directory is fsynced so the rename itself survives a power cut. A crash at any
  point leaves either the old file or the new one, never a half file under a checkpoint name.
* **Safe loading.** Files load with ``torch.load(weights_only=True)``, so a state may hold
  only tensors, numbers, strings, ``None`` and lists/tuples/dicts of them. :func:`save_checkpoint`
  checks this *before* writing, so an unloadable object is found at save time, not at resume.
* **Failed writes are one line.** An ``OSError`` while writing (a full disk, a lost mount) is
  raised as :class:`CheckpointWriteError` naming the file and the reason; the temp file is
  removed and every older checkpoint is untouched.
* **Only our own leftovers are removed.** Temp files are named ``.step-N.pt.PID@HOST.*.tmp``;
  clean-up deletes those whose writer on this host has exited, never a temp file that another
  live process is still writing.
* **Detected corruption.** PyTorch writes a zip archive with a CRC32 per record but does not
  check them when loading, so a flipped byte in tensor data would load silently. We check the
  CRCs ourselves; missing, truncated or corrupt files raise :class:`CheckpointError`.

Resume must be bit-identical on CPU, so :func:`rng_state` captures every global RNG (torch,
CUDA, numpy, ``random``) as weights-only-loadable values and :func:`set_rng_state` restores it.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time
import warnings
import zipfile
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convergan.files import FILE_MODE, fsync_directory, host_tag, writer_gone


class CheckpointError(ValueError):
    """A missing, truncated or corrupt checkpoint; the message is one line naming the file."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written (e.g. no space left); older checkpoints are intact.

    A :class:`CheckpointError` for the CLI (one line, exit 2) and still an ``OSError`` for
    callers that handle file-system failures."""


_LEAF_TYPES = (torch.Tensor, torch.Size, torch.dtype, torch.device, str, bytes, int, float)
_CHECKPOINT_NAME = re.compile(r"step-(\d+)\.pt")
_TEMP_NAME = re.compile(r"\.step-\d+\.pt\..+\.tmp")
_TEMP_OWNER = re.compile(r"\.step-\d+\.pt\.(\d+)@([A-Za-z0-9-]*)\..+\.tmp")
_UNOWNED_TEMP_AGE_S = 3600.0  # temp files of older versions carry no owner: old ones only


def is_stale_temp(path: Path) -> bool:
    """Whether the temp file ``path`` was left by a writer that no longer runs: its pid is not
    alive on this host. Temp files of other hosts are never stale (we cannot tell); unowned
    ones (older versions) only after an hour."""
    match = _TEMP_OWNER.fullmatch(path.name)
    if match is None:
        try:
            return time.time() - path.stat().st_mtime > _UNOWNED_TEMP_AGE_S
        except FileNotFoundError:
            return False
    return writer_gone(int(match.group(1)), match.group(2))


# --------------------------------------------------------------------------- single files


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temp file, fsync, rename, fsync directory).

    Raises ``TypeError`` naming the offending key if ``state`` holds anything that
    ``torch.load(weights_only=True)`` would refuse (custom classes, numpy arrays, ...), and
    :class:`CheckpointWriteError` (one line) when the file system refuses the write.
    """
    path = Path(path)
    _check_weights_only(state, "state")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Hidden and suffixed .tmp, so a leftover from a killed process never looks like a
        # checkpoint; the pid@host tag tells clean-up whose it is.
        descriptor, temp_name = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}@{host_tag()}.", suffix=".tmp", dir=path.parent
        )
    except OSError as error:
        raise CheckpointWriteError(_write_failure(path, error)) from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.chmod(temp_name, FILE_MODE)
            torch.save(dict(state), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise CheckpointWriteError(_write_failure(path, error)) from None
        if isinstance(error, RuntimeError) and "write" in str(error).lower():
            # torch.save reports a failed write of its zip writer as a RuntimeError
            raise CheckpointWriteError(_write_failure(path, error)) from None
        raise
    fsync_directory(path.parent)
    return path


def _write_failure(path: Path, error: BaseException) -> str:
    reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:160]
    return (
        f"cannot write checkpoint {path} ({reason}); older checkpoints are intact, "
        "free space or choose another out_dir, then resume"
    )


def load_checkpoint(path: str | Path, map_location: str | torch.device | None = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, safely and with CRC checks.

    Raises :class:`CheckpointError` (one line, naming the file) when the file is missing,
    truncated, corrupt, or holds anything weights-only loading refuses.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        _verify_record_checksums(path)
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = " ".join(str(error).split()) or "no details"
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(error).__name__}: {reason})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict")
    return state


def _verify_record_checksums(path: Path) -> None:
    """Check the CRC32 that ``torch.save`` stores for every record of its zip archive."""
    if not zipfile.is_zipfile(path):
        return  # not a zip at all: torch.load gives the error
    with zipfile.ZipFile(path) as archive:
        for record in archive.infolist():
            if record.CRC == 0 and record.file_size > 0:
                continue  # written with torch's CRC computation switched off: nothing to check
            with archive.open(record) as stream:  # raises BadZipFile on a CRC mismatch
                while stream.read(1 << 20):
                    pass


def _check_weights_only(value: Any, where: str) -> None:
    if value is None or isinstance(value, _LEAF_TYPES):  # bool is an int
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} must be a str or int to load weights-only")
            _check_weights_only(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_weights_only(item, f"{where}[{index}]")
        return
    raise TypeError(
        f"{where}: {type(value).__name__} cannot be loaded with weights_only=True; "
        "store tensors, numbers, strings and lists/dicts of them"
    )


# --------------------------------------------------------------------------- RNG state


def rng_state() -> dict[str, Any]:
    """Every global RNG as weights-only-loadable values: torch CPU, CUDA, numpy, ``random``."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(
                keys.astype(np.int64)
            ),  # uint32 does not round-trip everywhere
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured, so later draws repeat exactly.

    CUDA states are restored for the devices present; a GPU checkpoint resumed on a CPU-only
    machine restores the CPU generators alone.
    """
    missing = {"torch", "numpy", "python"} - set(state)
    if missing:
        raise CheckpointError(f"RNG state lacks {', '.join(sorted(missing))}")
    torch.set_rng_state(state["torch"].to("cpu", torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        for device, device_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(device_state.to("cpu", torch.uint8), device)
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].cpu().numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    random.setstate(
        (python_state["version"], tuple(python_state["internal"]), python_state["gauss_next"])
    )


# --------------------------------------------------------------------------- a run's directory


class CheckpointManager:
    """The checkpoints of one run: ``directory/step-00001234.pt``, pruned as they are written.

    Keeps the ``keep_last`` newest plus every step that is a multiple of ``keep_every``. It
    assumes it is the only writer of ``directory`` (rank 0 in distributed runs).

    Usage::

        manager = CheckpointManager("runs/x/checkpoints", keep_last=2)
        manager.save(1000, {"generator": generator.state_dict(), "rng": rng_state()})
        step, state = manager.load_latest()
    """

    def __init__(
        self, directory: str | Path, keep_last: int = 3, keep_every: int | None = None
    ) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        if keep_every is not None and keep_every < 1:
            raise ValueError(f"keep_every must be >= 1 or None, got {keep_every}")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.keep_every = keep_every

    def path_for(self, step: int) -> Path:
        return self.directory / f"step-{step:08d}.pt"

    @staticmethod
    def step_of(path: str | Path) -> int:
        match = _CHECKPOINT_NAME.fullmatch(Path(path).name)
        if match is None:
            raise ValueError(f"not a checkpoint name: {path}")
        return int(match.group(1))

    def list(self) -> list[Path]:
        """Checkpoint files, oldest step first (temp files from killed writes never appear)."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if _CHECKPOINT_NAME.fullmatch(p.name)]
        return sorted(found, key=self.step_of)

    def latest(self) -> Path | None:
        checkpoints = self.list()
        return checkpoints[-1] if checkpoints else None

    def save(self, step: int, state: Mapping[str, Any]) -> Path:
        """Write the checkpoint of ``step`` atomically, then prune and remove stale temp files."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        newest = self.latest()
        if newest is not None and self.step_of(newest) > step:
            warnings.warn(
                f"saving step {step} into {self.directory}, which holds a later step "
                f"({self.step_of(newest)}); latest() will still return the later one",
                RuntimeWarning,
                stacklevel=2,
            )
        path = save_checkpoint(self.path_for(step), state)
        self._prune(protect=path)
        for leftover in self.directory.iterdir():
            if _TEMP_NAME.fullmatch(leftover.name) and is_stale_temp(leftover):
                with suppress(FileNotFoundError):
                    leftover.unlink()
        return path

    def _prune(self, protect: Path) -> None:
        checkpoints = self.list()
        keep = set(checkpoints[-self.keep_last :]) | {protect}
        if self.keep_every is not None:
            keep |= {p for p in checkpoints if self.step_of(p) % self.keep_every == 0}
        for path in checkpoints:
            if path not in keep:
                with suppress(FileNotFoundError):
                    path.unlink()

    def load_latest(self, map_location: str | torch.device | None = "cpu") -> tuple[int, dict]:
        """``(step, state)`` of the newest loadable checkpoint.

        A corrupt newest file (say, from a disk that failed under us) is skipped with a
        warning and the previous checkpoint is used, so a run never restarts from scratch
        while a good checkpoint exists. Raises :class:`CheckpointError` if none loads.
        """
        checkpoints = self.list()
        if not checkpoints:
            raise CheckpointError(f"no checkpoint found in {self.directory}")
        for path in reversed(checkpoints):
            try:
                return self.step_of(path), load_checkpoint(path, map_location)
            except CheckpointError as error:
                warnings.warn(
                    f"skipping unreadable checkpoint: {error}", RuntimeWarning, stacklevel=2
                )
        raise CheckpointError(
            f"no loadable checkpoint in {self.directory} ({len(checkpoints)} corrupt)"
        )
