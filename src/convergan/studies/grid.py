"""Grid expansion: a sweep spec becomes cells, each an ordinary run config and directory.

The cells are the product of every axis and every zipped group (a zipped group contributes
its positions, not the product of its axes), in file order, the last axis varying fastest.
A cell's config is the layering, later winning, of

    base config  <  spec overrides  <  axis overrides  <  out_dir, train.progress=false

all passed through :func:`convergan.config.load_config`, so every value is validated exactly
as on the command line. Values are turned into override text as YAML flow (``0.001``,
``[r1:10, r2:10]``), which is what ``load_config`` parses back.

A cell's directory name is its axis overrides, ``key=value`` joined by commas
(``method=r1,seed=0``). That name is injective as long as no value text holds a character
outside ``[A-Za-z0-9._+-]``; otherwise, or when it would be too long, the readable part is
shortened and ``@`` plus 10 hex digits of a SHA-1 of the exact overrides is appended. ``@``
never appears in a readable name, so names are unique, filesystem-safe and depend only on
the cell's own overrides (adding cells to a spec renames nothing).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from convergan.config.load import parse_yaml
from convergan.studies.spec import BASE_AXIS, SweepSpec

_SAFE_VALUE = re.compile(r"[A-Za-z0-9._+-]+")
_SAFE_KEY = re.compile(r"[A-Za-z_][\w.-]*")
MAX_NAME = 120


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its axis values (``base`` label included when there are
    several bases) and its directory name."""

    values: tuple[tuple[str, Any], ...]
    base: Path
    name: str

    @property
    def overrides(self) -> list[str]:
        """The axis values as ``key=value`` override strings (``base`` excluded)."""
        return [override(k, v) for k, v in self.values if k != BASE_AXIS]

    def value(self, key: str, default: Any = None) -> Any:
        return dict(self.values).get(key, default)


def expand(spec: SweepSpec) -> list[Cell]:
    """Every cell of ``spec``, in grid order."""
    factors: list[list[tuple[tuple[str, Any], ...]]] = []
    if spec.has_base_axis:
        factors.append([((BASE_AXIS, label),) for label in spec.bases])
    for key, values in spec.axes.items():
        factors.append([((key, v),) for v in values])
    for group in spec.zipped:
        keys = list(group)
        factors.append([tuple(zip(keys, row)) for row in zip(*group.values())])
    cells = []
    for combination in itertools.product(*factors):
        values = tuple(pair for part in combination for pair in part)
        label = dict(values).get(BASE_AXIS, next(iter(spec.bases)))
        cells.append(Cell(values, spec.bases[label], cell_name(values)))
    return cells


def axis_lengths(spec: SweepSpec) -> list[int]:
    """The length of each factor of the grid: ``base`` (its labels, when it is an axis), each
    axis, each zipped group (its rows: its shortest axis; all are equal in a valid spec)."""
    lengths = [len(spec.bases)] if spec.has_base_axis else []
    lengths += [len(values) for values in spec.axes.values()]
    lengths += [min((len(v) for v in group.values()), default=0) for group in spec.zipped]
    return lengths


def count_cells(spec: SweepSpec) -> int:
    """How many cells :func:`expand` gives, without building them."""
    return math.prod(axis_lengths(spec))


def sweep_overrides(spec: SweepSpec) -> list[str]:
    """The spec's ``overrides`` as override strings."""
    return [override(k, v) for k, v in spec.overrides.items()]


def cell_overrides(spec: SweepSpec, cell: Cell, run_dir: Path) -> list[str]:
    """Everything layered over the cell's base config, lowest first."""
    return [
        *sweep_overrides(spec),
        *cell.overrides,
        f"out_dir={flow(str(run_dir))}",
        "train.progress=false",  # the sweep shows progress; cells write only their logs
    ]


def override(key: str, value: Any) -> str:
    return f"{key}={flow(value)}"


def flow(value: Any) -> str:
    """``value`` as YAML flow text that :func:`parse_yaml` reads back as ``value``.

    >>> flow(0.001), flow([ "r1:10", "r2:10"]), flow({"name": "r1", "gamma": 10})
    ('0.001', '[r1:10, r2:10]', '{name: r1, gamma: 10}')
    """
    text = _flow(value)
    try:
        same = _equal(parse_yaml(text, "value"), value)
    except Exception:  # noqa: BLE001 - any failure means "use the JSON fallback"
        same = False
    if same:
        return text
    # PyYAML's own emitter: double quotes and escapes wherever a plain scalar would not do.
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    if not _equal(parse_yaml(text, "value"), value):
        # A plain scalar our loader reads as a number though PyYAML's emitter does not
        # ("0E0", also as a mapping key): every string double-quoted, PyYAML's escapes.
        text = yaml.dump(value, Dumper=_QuotedStrings, default_flow_style=True, width=math.inf)
        text = text.strip().removesuffix("...").strip()
    return text


class _QuotedStrings(yaml.SafeDumper):
    """PyYAML's safe emitter with every string double-quoted."""


_QuotedStrings.add_representer(
    str, lambda dumper, v: dumper.represent_scalar("tag:yaml.org,2002:str", v, style='"')
)


def _flow(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b) and not (isinstance(b, tuple) and isinstance(a, list)):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    return a == b


def cell_name(values: tuple[tuple[str, Any], ...]) -> str:
    """The directory name of a cell with these axis values (see the module docstring)."""
    if not values:
        return "run"
    parts, lossless = [], True
    for key, value in values:
        text = flow(value)
        if not _SAFE_KEY.fullmatch(key) or not _SAFE_VALUE.fullmatch(text):
            lossless = False
            text = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")[:24] or "x"
        parts.append(f"{re.sub(r'[^A-Za-z0-9._-]+', '-', key)}={text}")
    readable = ",".join(parts)
    if lossless and len(readable) <= MAX_NAME:
        return readable
    exact = json.dumps([[k, v] for k, v in values], sort_keys=True, default=str)
    digest = hashlib.sha1(exact.encode()).hexdigest()[:10]
    return f"{readable[: MAX_NAME - 11]}@{digest}"
