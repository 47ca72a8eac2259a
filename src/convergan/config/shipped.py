"""Configs and sweep specs shipped with convergan (package data), found by name.

``toy2d/circle`` names ``convergan/configs/toy2d/circle.yaml`` and ``toy2d-methods`` names
``convergan/sweeps/toy2d-methods.yaml``, wherever convergan is installed; they are read
through :mod:`importlib.resources`. Wherever a config or a sweep spec is accepted, a file path
is accepted too, and a path that exists wins over a name.

>>> find_config("toy2d/circle").name
'circle.yaml'
"""

from __future__ import annotations

import difflib
import re
from importlib.resources import files
from pathlib import Path

from convergan.options import ConfigError

CONFIGS = "configs"
SWEEPS = "sweeps"


def _folder(kind: str) -> Path:
    # convergan is a regular package installed as files (a wheel, or a checkout's src/), so
    # its resources are plain paths: a config's ``base:`` is read relative to its file.
    return Path(files("convergan") / kind)


def shipped(kind: str) -> dict[str, Path]:
    """``{name: file}`` of the shipped configs (``kind="configs"``) or sweep specs
    (``kind="sweeps"``), sorted by name; a name is the path below the folder without
    ``.yaml``."""
    folder = _folder(kind)
    found = {p.relative_to(folder).with_suffix("").as_posix(): p for p in folder.rglob("*.yaml")}
    return dict(sorted(found.items()))


def description(path: Path) -> str:
    """The first sentence of a YAML file's leading comment: its description (a sentence may
    run over several comment lines; "et al." and "e.g." do not end one)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            if lines:
                break
            continue
        lines.append(line.lstrip("#").strip())
    text = " ".join(part for part in lines if part)
    end = _SENTENCE_END.search(text)
    return text[: end.start() + 1] if end else text


_SENTENCE_END = re.compile(r"(?<!\bal)(?<!e\.g)(?<!i\.e)\.(\s|$)")


def find_config(name_or_path: str | Path) -> Path:
    """The config file ``name_or_path`` names: an existing file, else a shipped config."""
    return _find(CONFIGS, name_or_path)


def find_sweep_spec(name_or_path: str | Path) -> Path:
    """The sweep spec ``name_or_path`` names: an existing file, else a shipped spec."""
    return _find(SWEEPS, name_or_path)


def shipped_file(kind: str, name: str | Path) -> Path | None:
    """The shipped file called ``name`` (``.yaml`` optional), or ``None``."""
    return shipped(kind).get(str(name).removesuffix(".yaml"))


def shipped_name(kind: str, path: str | Path) -> str | None:
    """The name of the shipped file at ``path`` (``toy2d/circle``), or ``None`` for any other
    file: what a report shows instead of the path where convergan is installed."""
    target = Path(path).resolve()
    return next((name for name, file in shipped(kind).items() if file.resolve() == target), None)


def not_found(kind: str, name: str | Path) -> str:
    """The one-line message for a missing file that is not a shipped name either, with the
    closest shipped names."""
    noun = {CONFIGS: "config file", SWEEPS: "sweep spec"}[kind]
    close = difflib.get_close_matches(str(name), list(shipped(kind)), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (
        f"{noun} not found: {name} (no such file, nor a shipped {noun} of that name; {hint}"
        "`convergan configs` lists them)"
    )


def _find(kind: str, name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    found = shipped_file(kind, name_or_path)
    if found is None:
        raise ConfigError(not_found(kind, name_or_path))
    return found
