"""Planning a sweep: every cell with its validated config and status on disk, the cells to
(re)run, and the ``sweep.json`` record that ``status`` and ``report`` read back."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convergan.config import load_config
from convergan.config.schema import Config, config_to_dict
from convergan.files import write_text
from convergan.options import ConfigError
from convergan.studies.cells import (
    FINAL,
    cell_status,
    comparable,
    config_difference,
    last_checkpoint_step,
    read_cell,
)
from convergan.studies.grid import (
    Cell,
    axis_lengths,
    cell_overrides,
    count_cells,
    expand,
    sweep_overrides,
)
from convergan.studies.results import SWEEP_FILE, read_sweep_file
from convergan.studies.spec import SweepSpec

RUNS = "runs"
# Grids larger than this are refused before a single cell is built (``--max-cells`` raises
# it): a typo in an axis (a range of a million seeds) would otherwise fill memory for minutes
# with cells that no machine runs. Above CONFIRM_CELLS the command line asks first.
MAX_CELLS = 100_000
CONFIRM_CELLS = 1_000


class SweepChanged(ConfigError):
    """The spec would change a cell that already ran."""


class GridTooLarge(ConfigError):
    """The spec's grid has more cells than allowed."""


def check_grid_size(spec: SweepSpec, max_cells: int = MAX_CELLS) -> int:
    """The number of cells, counted without building them; :class:`GridTooLarge` (one line,
    with the count) above ``max_cells``."""
    count = count_cells(spec)
    if count > max_cells:
        sizes = " x ".join(str(n) for n in axis_lengths(spec))
        raise GridTooLarge(
            f"sweep {spec.name}: the grid has {count:,} cells ({sizes}), more than the limit of "
            f"{max_cells:,}; narrow its axes, or pass --max-cells {count} if you mean it"
        )
    return count


@dataclass
class PlannedCell:
    cell: Cell
    run_dir: Path
    config: Config
    status: str  # as on disk before this sweep: pending, interrupted, done, ...

    @property
    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)


def plan(spec: SweepSpec, out_dir: Path, max_cells: int = MAX_CELLS) -> list[PlannedCell]:
    """Every cell with its validated config and current status. Raises :class:`GridTooLarge`
    before building any cell when there are more than ``max_cells``, :class:`ConfigError`
    naming the cell for a bad axis value, and :class:`SweepChanged` when the spec would
    change a cell that already started or finished."""
    check_grid_size(spec, max_cells)
    planned = []
    trained: dict[str, str] = {}  # each cell's config (as text) -> the cell's name
    for cell in expand(spec):
        run_dir = Path(out_dir) / RUNS / cell.name
        try:
            config = load_config(cell.base, cell_overrides(spec, cell, run_dir))
        except ConfigError as error:
            raise ConfigError(f"cell {cell.name}: {error}") from None
        same = json.dumps(comparable(config_to_dict(config)), sort_keys=True)
        if same in trained:
            raise ConfigError(
                f"cells {trained[same]} and {cell.name} would train the same config (their axis "
                "values mean the same setting); give each setting once"
            )
        trained[same] = cell.name
        record = read_cell(run_dir)
        status = cell_status(record)
        started = status in FINAL or last_checkpoint_step(run_dir) is not None
        if record is not None and started:
            changes = config_difference(
                comparable(record.get("config", {})), comparable(config_to_dict(config))
            )
            if changes:
                shown = "; ".join(changes[:3]) + ("; ..." if len(changes) > 3 else "")
                raise SweepChanged(
                    f"cell {cell.name} already ran with another config ({shown}); "
                    f"use another --out or delete {run_dir}"
                )
        planned.append(PlannedCell(cell, run_dir, config, status))
    check_same_plan(spec, Path(out_dir))  # after the cells: a changed cell says what changed
    return planned


def plan_identity(spec: SweepSpec) -> dict[str, Any]:
    """What makes two plans one experiment (cells of either may share the report): the
    sweep's name, its axes (not their values), the overrides every cell gets and, without a
    ``base`` axis, the base config."""
    identity = {
        "name": spec.name,
        "axes": spec.axis_keys,
        "overrides": json.loads(json.dumps(spec.overrides, default=str)),
    }
    if not spec.has_base_axis:
        identity["base"] = str(Path(spec.bases[""]).resolve())
    return identity


def read_sweep_record(out_dir: Path) -> dict[str, Any] | None:
    path = Path(out_dir) / SWEEP_FILE
    if not path.is_file():
        return None
    try:
        return read_sweep_file(path)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_same_plan(spec: SweepSpec, out_dir: Path) -> None:
    """Refuse (:class:`SweepChanged`, one line) a plan that is another experiment than the one
    recorded in ``out_dir``: another sweep, other axes, other overrides, another base or a
    base label that names another config. Other values of the same axes are the same
    experiment, extended or narrowed: the record keeps every cell of both."""
    record = read_sweep_record(out_dir)
    if record is None:
        return
    # a sweep.json written before plans were recorded: its effective spec has the overrides
    recorded = record.get("plan") or {
        "name": record.get("name"),
        "axes": record.get("axes"),
        "overrides": json.loads(
            json.dumps((record.get("effective_spec") or {}).get("overrides") or {}, default=str)
        ),
    }
    mine = plan_identity(spec)
    differs = [k for k in recorded if recorded.get(k) != mine.get(k) and k != "overrides"]
    old, new = recorded.get("overrides") or {}, mine["overrides"]
    differs += [
        f"{k}: {old.get(k)} -> {new.get(k)}" for k in {**old, **new} if old.get(k) != new.get(k)
    ]
    bases = (record.get("effective_spec") or {}).get("base") or {}
    if spec.has_base_axis:
        differs += [
            f"base {label}"
            for label, path in spec.bases.items()
            if label in bases and bases[label] != str(Path(path).resolve())
        ]
    if differs:
        finished = sum(
            cell_status(read_cell(Path(out_dir) / c["run_dir"])) in FINAL
            for c in record.get("cells", [])
        )
        shown = ", ".join(differs)
        raise SweepChanged(
            f"{out_dir} holds another plan, sweep {record.get('name')!r} with "
            f"{len(record.get('cells', []))} cells ({finished} finished), which differs in "
            f"{shown}; use another --out"
        )


def write_sweep_record(spec: SweepSpec, out_dir: Path, planned: list[PlannedCell]) -> None:
    """``sweep.json``: what ``status`` and ``report`` read (the cells, in grid order, with
    their axis values) and the spec it came from. Cells of an earlier plan of the same
    experiment (:func:`check_same_plan`) that this one leaves out stay in the record, first:
    a narrowed re-run never hides finished runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = read_sweep_record(out_dir) or {}
    names = {p.cell.name for p in planned}
    kept = [c for c in earlier.get("cells", []) if c.get("name") not in names]
    # Each cell's base and overrides: a report shows a pending cell's Dirac verdict from them.
    cells = [
        {
            "name": p.cell.name,
            "values": dict(p.cell.values),
            "run_dir": f"{RUNS}/{p.cell.name}",
            "base": str(Path(p.cell.base).resolve()),
            "overrides": [*sweep_overrides(spec), *p.cell.overrides],
        }
        for p in planned
    ]
    effective = {
        "base": {k or "base": str(Path(v).resolve()) for k, v in spec.bases.items()},
        "axes": spec.axes,
        "zip": spec.zipped,
        "overrides": spec.overrides,
        "launcher": dataclasses.asdict(spec.launcher),
    }
    if kept:
        effective = _union(earlier.get("effective_spec") or {}, effective)
    record = {
        "plan": plan_identity(spec),
        "name": spec.name,
        "description": spec.description,
        "spec": str(spec.source) if spec.source else None,
        "spec_text": spec.source.read_text(encoding="utf-8") if spec.source else None,
        # What actually ran, command-line overrides and axes included; the bases absolute
        # (the spec's paths are relative to the current folder), so a report made from any
        # folder can show them relative to itself (studies.tables.portable_path).
        "effective_spec": effective,
        "axes": spec.axis_keys,
        "bases": {k: str(v) for k, v in spec.bases.items()},
        "report": {"metric": spec.report.metric, "axis": spec.report.axis},
        "launcher": spec.launcher.name,
        "cells": kept + cells,
    }
    write_text(out_dir / SWEEP_FILE, json.dumps(record, indent=1, default=str))


def _union(earlier: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The effective spec of two plans of one experiment: every base, every value of each
    axis, every row of each zip group (earlier ones first)."""
    merged = dict(now)
    merged["base"] = {**(earlier.get("base") or {}), **now["base"]}
    axes = {k: list(v) for k, v in (earlier.get("axes") or {}).items()}
    for key, values in now["axes"].items():
        axes[key] = axes.get(key, []) + [v for v in values if v not in axes.get(key, [])]
    merged["axes"] = axes
    groups = [dict(g) for g in (earlier.get("zip") or [])]
    for i, group in enumerate(now["zip"]):
        if i < len(groups) and list(groups[i]) == list(group):
            rows = list(zip(*groups[i].values()))
            rows += [r for r in zip(*group.values()) if r not in rows]
            groups[i] = {k: [r[j] for r in rows] for j, k in enumerate(group)}
        else:
            groups.append(group)
    merged["zip"] = groups
    return merged


def to_run(planned: list[PlannedCell], retry_failed: bool = False) -> list[PlannedCell]:
    again = ("pending", "interrupted", "failed") if retry_failed else ("pending", "interrupted")
    return [p for p in planned if p.status in again]
