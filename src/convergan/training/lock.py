"""One writer per run directory: an exclusive ``flock`` held for the life of a run.

Two ``convergan train`` commands started at the same moment into one ``out_dir`` would
otherwise interleave their configs, logs and checkpoints (and one's clean-up would delete the
other's temporary checkpoint); a ``resume`` of a run that is still training would do the same.
The run holds ``flock(LOCK_EX)`` on ``out_dir/.lock`` from the moment it starts until it ends.
The kernel drops the lock when the process exits for any reason, a crash or ``kill -9``
included, so a stale lock never blocks a later ``resume``. The holder writes its pid, host and
command line into the file, and a second writer is refused with one line that names it.

``flock`` is advisory and local: on network file systems that do not forward it (some NFS
set-ups), two hosts may both acquire it; the holder line still helps to find the other run.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import suppress
from pathlib import Path

LOCK_NAME = ".lock"


class RunLockedError(FileExistsError):
    """Another process holds the run directory (one line naming the holder)."""


class RunDirectoryError(FileExistsError):
    """The run directory cannot be created or written (below a file, no permission, ...)."""


def holder_description(record: dict) -> str:
    """``pid 123 on host (convergan train ...)``, from what the holder wrote."""
    command = record.get("command") or "?"
    command = command if len(command) <= 120 else command[:117] + "..."
    return f"pid {record.get('pid', '?')} on {record.get('host', '?')} ({command})"


def _described(text: str) -> str:
    """The holder that the lock file's ``text`` names."""
    try:
        record = json.loads(text or "{}")
    except ValueError:
        record = {}
    # Empty while the holder is between taking the lock and writing its record.
    return holder_description(record) if record else "another process (starting)"


class RunLock:
    """An exclusive lock on ``directory``; use as a context manager or acquire/release."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming the process that holds it.

        Creates the directory; raises :class:`RunDirectoryError` when that is impossible.
        """
        if self._file is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            file = self.path.open("a+", encoding="utf-8")
        except OSError as error:
            raise RunDirectoryError(
                f"out_dir: cannot write the run directory {self.directory} "
                f"({error.strerror or type(error).__name__}); choose another out_dir"
            ) from None
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = _described(file.read())
            file.close()
            raise RunLockedError(
                f"{self.directory} is in use by {holder}; wait for it to finish "
                "or choose another out_dir"
            ) from None
        file.seek(0)
        file.truncate()
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        try:
            file.write(json.dumps(record) + "\n")
            file.flush()
        except OSError as error:  # a full disk: nothing of the run has been written yet
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            with suppress(OSError):  # closing flushes the unwritten record again; it still closes
                file.close()
            raise RunDirectoryError(
                f"out_dir: cannot write the lock file of {self.directory} "
                f"({error.strerror or type(error).__name__}); nothing was written or lost: "
                "free space or choose another out_dir, then run again"
            ) from None
        self._file = file

    def holder(self) -> str:
        """The process that holds the lock, as its holder wrote itself down."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        return _described(text)

    def release(self) -> None:
        """Drop the lock. The file stays: deleting it would race with a process opening it."""
        if self._file is None:
            return
        try:
            self._file.seek(0)
            self._file.truncate()
        except OSError:  # pragma: no cover - a full disk must not keep the lock
            pass
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:  # a Run dropped after an error must not keep the directory
        self.release()
