"""Sweep overhead: what the launcher adds to each cell over the run itself.

A sweep of N tiny cells runs with the ``local`` launcher (submitit workers, one at a time);
each cell records how long its ``train`` call took. Then

    overhead per cell = (sweep wall time − Σ train time) / N

split into the one-off start (the sweep command, then each worker's Python, torch and
convergan imports), what every cell pays (the gap between two cells in a worker: the queue,
config validation, records) and the end (last records, the workers' exit). For contrast, the same
cells as one ``convergan train`` process each, the pattern of a throw-away shell loop.

It also reads the wall time of a finished sweep directory (``--sweep DIR``), e.g.
toy2d-methods: from the first cell's start to the last cell's end, against Σ train time.

    python benchmarks/bench_sweep.py --cells 6 --sweep out/sweeps/toy2d-methods
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "model.width=16",
    "model.depth=1",
    "data.batch_size=64",
    "eval.w1_samples=200",
    "train.sample_every=0",
    "train.steps=50",
]


def sweep_overhead(cells: int, folder: Path) -> dict:
    spec = {
        "name": "overhead",
        "base": str(ROOT / "configs/toy2d/circle.yaml"),
        "axes": {"seed": list(range(cells))},
        "overrides": dict(item.split("=", 1) for item in TINY),
        "launcher": {"name": "local", "jobs": 1},
    }
    spec["overrides"] = {k: _number(v) for k, v in spec["overrides"].items()}
    spec_file = folder / "overhead.yaml"
    spec_file.write_text(json.dumps(spec))
    out = folder / "sweep"
    command = [sys.executable, "-m", "convergan", "sweep", str(spec_file), "--out", str(out)]
    started = time.time()
    subprocess.run([*command, "--no-progress"], check=True, capture_output=True)
    wall = time.time() - started
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/cell.json"))]
    train = sum(r["train_seconds"] for r in records)
    first_start = min(r["started"] for r in records)
    startup = first_start - started  # sweep process + submitit worker start, imports
    per_cell = (wall - startup - train) / cells
    # In the worker, from one cell's end to the next one's start: what every cell pays.
    ordered = sorted(records, key=lambda r: r["started"])
    gaps = [b["started"] - a["finished"] for a, b in zip(ordered, ordered[1:])]
    # Inside a cell's record, around its train() call: validation, records, resume check.
    around = [r["finished"] - r["started"] - r["train_seconds"] for r in records]
    return {
        "gap_between_cells_s": sum(gaps) / len(gaps),
        "cell_bookkeeping_s": sum(around) / len(around),
        "shutdown_s": started + wall - max(r["finished"] for r in records),
        "cells": cells,
        "wall_s": wall,
        "train_s": train,
        "startup_s": startup,
        "overhead_per_cell_s": (wall - train) / cells,
        "overhead_per_cell_after_startup_s": per_cell,
    }


def process_per_cell(cells: int, folder: Path) -> dict:
    """The throw-away-script pattern: one ``convergan train`` process per cell."""
    wall = 0.0
    for seed in range(cells):
        out = folder / f"loop-{seed}"
        command = [
            sys.executable,
            "-m",
            "convergan",
            "train",
            str(ROOT / "configs/toy2d/circle.yaml"),
        ]
        command += [*TINY, f"seed={seed}", f"out_dir={out}", "train.progress=false"]
        started = time.time()
        subprocess.run(command, check=True, capture_output=True)
        wall += time.time() - started
    train = _train_seconds_in_process(cells, folder)  # the same runs' train() time
    return {"cells": cells, "wall_s": wall, "overhead_per_cell_s": (wall - train) / cells}


def _train_seconds_in_process(cells: int, folder: Path) -> float:
    code = (
        "import time, sys; from convergan.config import load_config;"
        "from convergan.training.loop import train; t = 0.0\n"
        f"for seed in range({cells}):\n"
        f"    c = load_config({str(ROOT / 'configs/toy2d/circle.yaml')!r}, "
        f"{TINY!r} + [f'seed={{seed}}', f'out_dir={folder}/inproc-{{seed}}',"
        " 'train.progress=false'])\n"
        "    s = time.perf_counter(); train(c, progress=False); t += time.perf_counter() - s\n"
        "print(t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def sweep_wall_time(directory: Path) -> dict:
    records = [json.loads(p.read_text()) for p in sorted((directory / "runs").glob("*/cell.json"))]
    records = [r for r in records if r.get("finished")]
    started = min(r["started"] for r in records)
    finished = max(r["finished"] for r in records)
    train = sum(r.get("train_seconds_total", r.get("train_seconds", 0.0)) for r in records)
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {
        "sweep": directory.name,
        "cells": len(records),
        "statuses": statuses,
        "wall_s": finished - started,
        "train_s": train,
        "mean_train_s_per_cell": train / len(records),
    }


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text) if text.replace(".", "", 1).isdigit() else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=6)
    parser.add_argument("--sweep", action="append", default=[], help="finished sweep dirs")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/sweeps/bench_sweep.json"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results: dict = {"load_average_1min_at_start": os.getloadavg()[0], "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        results["local_sweep"] = sweep_overhead(args.cells, Path(tmp))
        results["process_per_cell"] = process_per_cell(args.cells, Path(tmp))
    results["sweeps"] = [sweep_wall_time(Path(d)) for d in args.sweep]
    results["load_average_1min_at_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
