"""``convergan verdict`` end to end (a fresh process each, as a user runs it), on a trained run.

Four calls, in order, on ``RUN_DIR`` (its ``verdict/`` folder cleared first):

1. ``verdict --json``: the default, the local picture only where it can change the verdict;
2. ``verdict --json --spectrum always --recompute``: the whole local picture, computed;
3. ``verdict --html FILE --spectrum always``: the same record read back from ``RUN/verdict``;
4. with ``--baseline SRC`` (another checkout's ``src``, e.g. the revision before issue 21):
   its ``verdict --json`` on the same run, for the "now" column.

Each call's wall seconds, the verdict word, the products of its ARPACK runs and the load
average are written to ``benchmarks/results/verdict/<run name>.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_verdict.py RUN_DIR [--baseline OTHER/src]

The issue's targets: a ``train toy2d/circle`` run at the shipped defaults (2000 steps) in
under 60 s, the shipped Fashion-MNIST DCGAN + R1 run (400+ steps) in under 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "verdict"
SRC = Path(__file__).resolve().parents[1] / "src"


def call(src: Path, run_dir: Path, *options: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    load = os.getloadavg()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "convergan", "verdict", str(run_dir), "--quiet", *options],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    row = {"options": list(options), "seconds": seconds, "load_average_before": load}
    row["exit_code"] = done.returncode
    if done.returncode:
        row["error"] = done.stderr.strip()[-400:]
    elif "--json" in options:
        record = json.loads(done.stdout)
        row["verdict"] = record["verdict"]
        row["spectral_radius_per_step"] = record.get("spectral_radius_per_step")
        row["spectrum_products"] = record.get("spectrum_products")
        row["local_note"] = record.get("local_note")
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory")
    args = parser.parse_args()
    shutil.rmtree(args.run_dir / "verdict", ignore_errors=True)
    html = args.run_dir / "verdict" / "bench-page.html"
    rows = {
        "default": call(SRC, args.run_dir, "--json"),
        "always": call(SRC, args.run_dir, "--json", "--spectrum", "always", "--recompute"),
        "html_reused": call(SRC, args.run_dir, "--html", str(html), "--spectrum", "always"),
    }
    if args.baseline:
        rows["baseline"] = call(args.baseline, args.run_dir, "--json")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.run_dir.name}.json"
    out.write_text(json.dumps({"run": args.run_dir.name, "calls": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
