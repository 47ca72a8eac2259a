"""Sweep specs: a base config, axes over dotted config keys, and where to run the cells.

A spec is a small YAML file, validated like a run config (an unknown or ill-typed key is one
line that names it)::

    base: toy2d/circle                     # a file or a shipped name; or {circle: ..., ...}
    axes:                                  # a grid: the product of every axis
      method: [gan, r1]
      seed: [0, 1]
    zip:                                   # optional: groups of axes that move together
      - {optim.g.lr: [1e-4, 1e-3], optim.d.lr: [1e-4, 1e-3]}
    overrides: {train.steps: 50}           # applied to every cell, below the axes
    launcher: {name: local, jobs: 2}       # local | slurm | debug, see LauncherSpec
    report: {metric: eval/w1, axis: method.gamma}

A mapping as ``base`` is itself an axis, named ``base``, whose values are the mapping's labels
(one base config per problem), even when it has a single entry. Paths in ``base`` are looked
up in the current directory, then beside the spec file and in its parent folders; an entry
that is no file there is the name of a shipped config (``toy2d/circle``), as the shipped specs
use, so they run from anywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convergan.config.load import parse_yaml
from convergan.config.shipped import CONFIGS, find_sweep_spec, not_found, shipped_file
from convergan.options import ConfigError, build, option, unknown_key

LAUNCHERS = ("local", "slurm", "debug")
BASE_AXIS = "base"
# Set by the sweep for every cell (its run directory, no progress bar): an axis or override
# on them would give cells names that disagree with what they ran.
SET_BY_THE_SWEEP = {"out_dir": "use --out", "train.progress": "the sweep shows progress"}


@dataclass(frozen=True)
class SlurmSpec:
    """What ``sbatch`` gets for each array task (submitit's ``slurm_*`` parameters)."""

    partition: str | None = None
    time_minutes: int = option(60, ge=1)  # wall-clock limit per cell
    gpus_per_node: int = option(0, ge=0)
    nodes: int = option(1, ge=1)  # > 1 or tasks_per_node > 1 for multi-process (DDP) cells
    tasks_per_node: int = option(1, ge=1)
    cpus_per_task: int | None = option(None, ge=1)  # None = launcher.threads
    mem_gb: float | None = option(None, gt=0)
    array_parallelism: int = option(64, ge=1)  # array tasks running at once
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: list[str] = option([], repeats=True)  # shell lines run before each task
    additional: dict[str, Any] = option(factory=dict)  # extra #SBATCH --key=value


@dataclass(frozen=True)
class LauncherSpec:
    name: str = option("local", choices=LAUNCHERS)
    jobs: int | None = option(None, ge=1)  # cells at once (local); None = cores // threads
    threads: int = option(1, ge=1)  # torch/OpenMP threads per cell
    timeout_minutes: int = option(24 * 60, ge=1)  # per cell, local and debug launchers
    slurm: SlurmSpec = field(default_factory=SlurmSpec)


@dataclass(frozen=True)
class ReportSpec:
    metric: str | None = None  # the headline metric; None = the first eval/* metric logged
    axis: str | None = None  # numeric axis for "final metric vs axis"; None = first numeric


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. ``bases`` maps a label to a config path (one entry, label ``""``,
    when ``base`` is a single path); ``axes`` and every group in ``zipped`` keep file order."""

    bases: dict[str, Path]
    axes: dict[str, list[Any]]
    zipped: list[dict[str, list[Any]]]
    overrides: dict[str, Any]
    launcher: LauncherSpec
    report: ReportSpec
    name: str
    description: str = ""
    source: Path | None = None

    @property
    def has_base_axis(self) -> bool:
        """A mapping as ``base`` is an axis (even with one entry: it names the problem)."""
        return "" not in self.bases

    @property
    def axis_keys(self) -> list[str]:
        """Every axis, in the order of the cell directory names."""
        keys = [BASE_AXIS] if self.has_base_axis else []
        keys += list(self.axes)
        for group in self.zipped:
            keys += list(group)
        return keys


_TOP_KEYS = ("name", "description", "base", "axes", "zip", "overrides", "launcher", "report")


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec (a file, or a shipped spec's name such as
    ``toy2d-methods``); raises :class:`ConfigError` with one line naming the file and the key
    at fault."""
    path = find_sweep_spec(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:  # a binary file, a folder, unreadable
        raise ConfigError(f"cannot read sweep spec {path}: {error}") from None
    data = parse_yaml(text, str(path))
    return sweep_spec_from_dict(data, path)


def sweep_spec_from_dict(data: Any, source: Path | None = None) -> SweepSpec:
    where = f"{source}: " if source else ""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}expected a mapping with base and axes")
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{where}{unknown_key(str(key), _TOP_KEYS)}")
    if "base" not in data:
        raise ConfigError(f"{where}base: missing (a config path, or a mapping label: path)")
    bases = _bases(data["base"], source, where)
    axes = _axes(data.get("axes") or {}, "axes", where)
    zipped = []
    raw_zip = data.get("zip") or []
    if not isinstance(raw_zip, list):
        raise ConfigError(f"{where}zip: expected a list of mappings key: [values]")
    for i, group in enumerate(raw_zip):
        group = _axes(group, f"zip[{i}]", where, unique=False)
        lengths = {len(v) for v in group.values()}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in group.items())
            raise ConfigError(f"{where}zip[{i}]: axes must have equal lengths, got {sizes}")
        zipped.append(group)
    seen = [BASE_AXIS] if "" not in bases else []
    for key in [*axes, *(k for g in zipped for k in g)]:
        if key in seen:
            raise ConfigError(f"{where}axis {key!r} appears twice")
        seen.append(key)
    for i, group in enumerate(zipped):
        _no_repeats(list(zip(*group.values())), f"zip[{i}]", where, "row")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides):
        raise ConfigError(f"{where}overrides: expected a mapping dotted.key: value")
    for key in [*seen, *overrides]:
        if key in SET_BY_THE_SWEEP:
            raise ConfigError(
                f"{where}{key}: set by the sweep for each cell; {SET_BY_THE_SWEEP[key]}"
            )
    name = data.get("name") or (source.stem if source else "sweep")
    description = data.get("description") or ""
    if not isinstance(name, str) or not isinstance(description, str):
        raise ConfigError(f"{where}name and description must be strings")
    launcher = _dataclass(LauncherSpec, data.get("launcher") or {}, "launcher", where)
    return SweepSpec(
        bases=bases,
        axes=axes,
        zipped=zipped,
        overrides=dict(overrides),
        launcher=launcher,
        report=_dataclass(ReportSpec, data.get("report") or {}, "report", where),
        name=name,
        description=description.strip(),
        source=source,
    )


def with_launcher(spec: SweepSpec, **changes: Any) -> SweepSpec:
    """The spec with launcher fields replaced (``None`` values are ignored): the CLI flags."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(spec, launcher=dataclasses.replace(spec.launcher, **changes))


def with_command_line(
    spec: SweepSpec, overrides: Mapping[str, Any], axes: list[tuple[str, list[Any]]]
) -> SweepSpec:
    """The spec with the command line's ``KEY=VALUE`` overrides and ``--axis KEY=[...]``.

    An ``--axis`` replaces the spec's axis of that key wherever it is: ``base`` (its values are
    the spec's base labels, or config names and paths, labelled by their file name), a plain
    axis, or a key of a ``zip`` group (then every key of the group is given, with equal
    lengths); a new key adds an axis. An override of a key that is an axis is refused: the
    axis would win, and the setting would be silently dropped.
    """
    given: dict[str, list[Any]] = {}
    for key, values in axes:
        if key in given:
            raise ConfigError(f"--axis {key}: given twice; give its values once")
        if key in SET_BY_THE_SWEEP:
            raise ConfigError(
                f"--axis {key}: set by the sweep for each cell; {SET_BY_THE_SWEEP[key]}"
            )
        _no_repeats(values, f"--axis {key}", "")
        given[key] = values
    for key in overrides:
        if key in SET_BY_THE_SWEEP:
            raise ConfigError(f"{key}: set by the sweep for each cell; {SET_BY_THE_SWEEP[key]}")
        if key in spec.axis_keys and key not in given:
            raise ConfigError(
                f"{key} is an axis of sweep {spec.name}; an override would be overruled by the "
                f"axis: use --axis {key}=[...] to change its values"
            )
    bases = dict(spec.bases)
    if BASE_AXIS in given:
        bases = {}
        for value in given.pop(BASE_AXIS):
            if not isinstance(value, str):
                raise ConfigError(
                    f"--axis base: expected base labels or config names, got {value!r}"
                )
            if value in spec.bases and spec.has_base_axis:
                bases[value] = spec.bases[value]
            else:
                label = Path(value).stem
                if label in bases:
                    raise ConfigError(f"--axis base: two bases are labelled {label!r}")
                bases[label] = _find_config(value, None, "--axis base", "")
    zipped = []
    for i, group in enumerate(spec.zipped):
        named = [k for k in group if k in given]
        if not named:
            zipped.append(group)
            continue
        if len(named) < len(group):
            missing = ", ".join(k for k in group if k not in given)
            raise ConfigError(
                f"--axis {named[0]}: it moves with {missing} in the spec's zip[{i}]; give "
                "every key of the group with --axis, with as many values each"
            )
        replaced = {k: given.pop(k) for k in group}
        if len({len(v) for v in replaced.values()}) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in replaced.items())
            raise ConfigError(f"--axis: the keys of zip[{i}] need equal lengths, got {sizes}")
        _no_repeats(list(zip(*replaced.values())), f"--axis zip[{i}]", "", "row")
        zipped.append(replaced)
    new_axes = {**spec.axes, **given}
    return dataclasses.replace(
        spec,
        bases=bases,
        axes=new_axes,
        zipped=zipped,
        overrides={**spec.overrides, **overrides},
    )


def _bases(value: Any, source: Path | None, where: str) -> dict[str, Path]:
    if isinstance(value, str):
        return {"": _find_config(value, source, "base", where)}
    if isinstance(value, Mapping) and value:
        bases = {}
        for label, path in value.items():
            if not isinstance(label, str) or not isinstance(path, str):
                raise ConfigError(f"{where}base: expected label: path pairs of strings")
            bases[label] = _find_config(path, source, f"base.{label}", where)
        return bases
    raise ConfigError(f"{where}base: expected a config path or a mapping label: path")


def _find_config(path: str, source: Path | None, key: str, where: str) -> Path:
    candidates = [Path(path)]
    if source is not None and not Path(path).is_absolute():
        folder = Path(source).resolve().parent
        candidates += [parent / path for parent in (folder, *folder.parents)]
    for candidate in candidates:
        if candidate.is_file():
            # Relative to the current directory where possible: shorter, and movable.
            try:
                return Path(os.path.relpath(candidate.resolve()))
            except ValueError:  # pragma: no cover - another drive on Windows
                return candidate.resolve()
    found = shipped_file(CONFIGS, path)
    if found is None:
        raise ConfigError(f"{where}{key}: {not_found(CONFIGS, path)}")
    return found


def _axes(value: Any, key: str, where: str, unique: bool = True) -> dict[str, list[Any]]:
    """Axes ``name: [values]``; ``unique``: each value once (a zip group's rows are checked
    instead)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}: expected a mapping dotted.key: [values]")
    axes = {}
    for name, values in value.items():
        if not isinstance(name, str) or not name or name == BASE_AXIS:
            raise ConfigError(f"{where}{key}: bad axis name {name!r}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}{key}.{name}: expected a non-empty list of values")
        if unique:
            _no_repeats(values, f"{key}.{name}", where)
        axes[name] = list(values)
    return axes


def _no_repeats(values: list[Any], key: str, where: str, noun: str = "value") -> None:
    """Refuse a value given twice: two cells would be one run directory, counted twice."""
    seen: set[str] = set()
    for value in values:
        text = json.dumps(value, sort_keys=True, default=str)
        if text in seen:
            raise ConfigError(
                f"{where}{key}: the {noun} {text} appears twice (two cells would be one run); "
                "give each once"
            )
        seen.add(text)


def _dataclass(cls: type, value: Any, key: str, where: str) -> Any:
    """Build a spec dataclass from a mapping through the one option validator."""
    if isinstance(value, str) and cls is LauncherSpec:
        value = {"name": value}
    try:
        return build(cls, value, key)
    except ConfigError as error:
        raise ConfigError(f"{where}{error}") from None
