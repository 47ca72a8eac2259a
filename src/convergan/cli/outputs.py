"""Output paths checked before any work: a command that would compute for minutes and then
fail to write its result refuses at once, in one line naming the option.

The check is the write itself, not a guess from permission bits (root ignores them): a
temporary file is created in the folder the output goes to and removed again. Folders that do
not exist yet are created, as the command would create them anyway.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convergan.cli.errors import UsageError


def writable_file(path: str | Path, option: str) -> Path:
    """``path`` as a file the command can write; :class:`UsageError` naming ``option`` when
    it is a folder, lies under a file, or its folder refuses new files."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder; give a file name")
    _probe(path.parent, option, path)
    return path


def writable_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder the command can write into (created if missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option}: {path} is a file; give a folder")
    _probe(path, option, path)
    return path


def _probe(folder: Path, option: str, shown: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(prefix=".convergan-probe.", dir=folder)
        os.close(descriptor)
        os.unlink(name)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            f"{option}: cannot write {shown} ({reason}); choose another path"
        ) from None
