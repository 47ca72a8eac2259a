"""Planning a sweep: every cell with its validated config and status on disk, the cells to
(re)run, and the ``sweep.json`` record that ``status`` and ``report`` read back."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convergan.config import load_config
from convergan.config.schema import Config, ConfigError, config_to_dict
from convergan.files import write_text
from convergan.studies.cells import (
    FINAL,
    cell_status,
    comparable,
    config_difference,
    last_checkpoint_step,
    read_cell,
)
from convergan.studies.grid import Cell, axis_lengths, cell_overrides, count_cells, expand
from convergan.studies.results import SWEEP_FILE
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
    for cell in expand(spec):
        run_dir = Path(out_dir) / RUNS / cell.name
        try:
            config = load_config(cell.base, cell_overrides(spec, cell, run_dir))
        except ConfigError as error:
            raise ConfigError(f"cell {cell.name}: {error}") from None
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
    return planned


def write_sweep_record(spec: SweepSpec, out_dir: Path, planned: list[PlannedCell]) -> None:
    """``sweep.json``: what ``status`` and ``report`` read (the cells, in grid order, with
    their axis values) and the spec it came from."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "name": spec.name,
        "description": spec.description,
        "spec": str(spec.source) if spec.source else None,
        "spec_text": spec.source.read_text(encoding="utf-8") if spec.source else None,
        # What actually ran, command-line overrides and axes included; the bases absolute
        # (the spec's paths are relative to the current folder), so a report made from any
        # folder can show them relative to itself (studies.tables.portable_path).
        "effective_spec": {
            "base": {k or "base": str(Path(v).resolve()) for k, v in spec.bases.items()},
            "axes": spec.axes,
            "zip": spec.zipped,
            "overrides": spec.overrides,
            "launcher": dataclasses.asdict(spec.launcher),
        },
        "axes": spec.axis_keys,
        "bases": {k: str(v) for k, v in spec.bases.items()},
        "report": {"metric": spec.report.metric, "axis": spec.report.axis},
        "launcher": spec.launcher.name,
        "cells": [
            {"name": p.cell.name, "values": dict(p.cell.values), "run_dir": f"{RUNS}/{p.cell.name}"}
            for p in planned
        ],
    }
    write_text(out_dir / SWEEP_FILE, json.dumps(record, indent=1, default=str))


def to_run(planned: list[PlannedCell], retry_failed: bool = False) -> list[PlannedCell]:
    again = ("pending", "interrupted", "failed") if retry_failed else ("pending", "interrupted")
    return [p for p in planned if p.status in again]
