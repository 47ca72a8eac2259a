"""Files for users, swapped in atomically: a reader (or a killed writer) never sees half a file.

Every file a command writes for a user (a report's tables and page, a verdict page, a sample
grid, a figure) goes through :func:`atomic_output`: the content is written to a hidden temp
file in the target folder (``.NAME.PID@HOST.XXXX.tmp``), flushed and fsynced, then renamed
over ``NAME`` with ``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename
survives a power cut. A kill at any moment leaves the previous complete file or the new one;
a full disk leaves the previous file and raises ``OSError``.

A group of files that must agree with each other (a report's ``results.csv``, ``report.md``
and ``report.html``) is written through :class:`StagedFiles`: every file is written and
fsynced under its temp name first, and the renames, which take microseconds, run only once
all of them are complete. A kill while the content is computed or written leaves the previous
report whole.

This module is pure Python and sits at the bottom of the layers (checkpoints use it too).
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any


def host_tag() -> str:
    """This host's name as it appears in temp-file names."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; files for users get the usual permissions.
FILE_MODE = 0o666 & ~_read_umask()


def writer_gone(pid: int, host: str) -> bool:
    """Whether the writer ``pid@host`` of a temp file has exited: only a writer on this host
    can be checked (another host's temp file is never taken for a leftover)."""
    if host != host_tag() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's live process
        return False
    return False


def remove_leftovers(path: Path) -> None:
    """Remove the temp files of ``path`` whose writers were killed (``.NAME.PID@HOST.*.tmp``)."""
    prefix = f".{path.name}."
    with suppress(OSError):
        for leftover in path.parent.glob(f"{glob_escape(prefix)}*.tmp"):
            owner = leftover.name[len(prefix) :].split(".", 1)[0]
            pid, _, host = owner.partition("@")
            if pid.isdigit() and writer_gone(int(pid), host):
                with suppress(FileNotFoundError):
                    leftover.unlink()


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def fsync_directory(directory: Path) -> None:
    """Persist a rename: on POSIX a directory entry is only durable once the directory is."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def temp_file(path: Path) -> tuple[int, str]:
    """A new hidden temp file beside ``path`` (descriptor, name), named after its writer;
    the leftovers of killed writers of ``path`` are removed first."""
    remove_leftovers(path)
    return tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}@{host_tag()}.", suffix=".tmp", dir=path.parent
    )


def _write_temp(path: Path, mode: str, encoding: str | None, newline: str | None):
    descriptor, temp_name = temp_file(path)
    try:
        os.chmod(temp_name, FILE_MODE)
        file = os.fdopen(descriptor, mode, encoding=encoding, newline=newline)
    except BaseException:
        os.close(descriptor)
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return file, temp_name


def _finish(file: IO) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()


@contextmanager
def _written_temp(
    path: Path, mode: str, encoding: str | None, newline: str | None
) -> Iterator[tuple[IO[Any], str]]:
    """``(file, temp name)`` beside ``path``: fsynced and closed when the block ends, removed
    when it ends by an exception. ``mode`` is ``"wb"`` or ``"w"`` (text: UTF-8 by default)."""
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    file, temp_name = _write_temp(path, mode, encoding, newline)
    try:
        yield file, temp_name
        _finish(file)
    except BaseException:
        file.close()
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


@contextmanager
def atomic_output(
    path: str | Path, mode: str = "wb", encoding: str | None = None, newline: str | None = None
) -> Iterator[IO[Any]]:
    """A file object whose content replaces ``path`` in one step when the block ends without
    an exception; on an exception (a full disk, a kill's ``KeyboardInterrupt``) the temp file
    is removed and ``path`` is untouched. ``mode`` is ``"wb"`` or ``"w"`` (text:
    ``encoding`` defaults to UTF-8)."""
    path = Path(path)
    with _written_temp(path, mode, encoding, newline) as (file, temp_name):
        yield file
    try:
        os.replace(temp_name, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_directory(path.parent)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path, "w") as file:
        file.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as file:
        file.write(data)
    return Path(path)


def save_figure(figure: Any, path: str | Path, **savefig: Any) -> Path:
    """``figure.savefig(path, ...)`` atomically; the format is the suffix's (``.png``)."""
    path = Path(path)
    with atomic_output(path) as file:
        figure.savefig(file, format=path.suffix.lstrip(".") or "png", **savefig)
    return path


class StagedFiles:
    """Files that appear together: :meth:`open` writes each under a temp name, :meth:`commit`
    renames them all over their final names (in the order they were opened), :meth:`discard`
    (or leaving a ``with`` block by an exception) removes the temp files and keeps the old
    ones.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with StagedFiles() as staged:
    ...     with staged.open(folder / "a.txt", "w") as f:
    ...         _ = f.write("new")
    ...     (folder / "a.txt").exists()
    False
    >>> (folder / "a.txt").read_text()
    'new'
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []

    @contextmanager
    def open(
        self,
        path: str | Path,
        mode: str = "wb",
        encoding: str | None = None,
        newline: str | None = None,
    ) -> Iterator[IO[Any]]:
        path = Path(path)
        with _written_temp(path, mode, encoding, newline) as (file, temp_name):
            yield file
        self._staged.append((temp_name, path))

    def write_text(self, path: str | Path, text: str) -> None:
        with self.open(path, "w") as file:
            file.write(text)

    def save_figure(self, figure: Any, path: str | Path, **savefig: Any) -> None:
        path = Path(path)
        with self.open(path) as file:
            figure.savefig(file, format=path.suffix.lstrip(".") or "png", **savefig)

    def commit(self) -> None:
        folders = []
        for temp_name, path in self._staged:
            os.replace(temp_name, path)
            if path.parent not in folders:
                folders.append(path.parent)
        self._staged = []
        for folder in folders:
            fsync_directory(folder)

    def discard(self) -> None:
        for temp_name, _ in self._staged:
            with suppress(FileNotFoundError):
                os.unlink(temp_name)
        self._staged = []

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
