"""How accurate the shipped spectrum is: against a tight solve of the same operator.

``convergan spectrum`` states each eigenvalue's accuracy by its residual ``‖Au − λu‖/‖u‖``.
This runs the shipped settings (float32 products, tolerance 1e-5, Krylov–Schur; and the same
with ``--solver arpack``) and a tight reference (float64 players and game, tolerance 1e-10,
the same solver) on a run's last checkpoint, and for each shipped eigenvalue records its
distance to the nearest reference eigenvalue beside the residual it stated. A distance above
the residual is possible for a non-normal operator (the residual bounds the backward error,
not the forward error) and for the float32 operator's own rounding; both show here.

    OMP_NUM_THREADS=1 python benchmarks/bench_spectrum_accuracy.py RUN_DIR --name circle \\
        [--k 6] [--which LR] [--samples 2000] [--solvers krylov-schur arpack] \\
        [--shipped-json OUT.json]

Writes ``benchmarks/results/spectrum/accuracy.json`` (one entry per ``--name``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint, open_run

RESULTS = Path(__file__).parent / "results" / "spectrum" / "accuracy.json"


def solve(run, step, args, **settings) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    chosen = SpectrumSettings(k=args.k, which=(args.which,), samples=args.samples, **settings)
    spectrum = analyze_checkpoint(run, step, chosen)["spectra"][args.which]
    return {
        "settings": dict(settings),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "products": spectrum["matvecs"],
        "converged": spectrum["converged"],
        "eigenvalues": spectrum["eigenvalues"],
        "residuals": spectrum["residuals"],
    }


def compare(shipped: dict, reference: dict) -> dict:
    ref = np.array([complex(*p) for p in reference["eigenvalues"]])
    rows = []
    for pair, residual in zip(shipped["eigenvalues"], shipped["residuals"]):
        value = complex(*pair)
        distance = float(np.abs(ref - value).min())
        rows.append({"eigenvalue": pair, "stated_residual": residual, "distance": distance})
    return {
        "rows": rows,
        "within_stated": all(r["distance"] <= r["stated_residual"] for r in rows),
        "largest_distance_over_residual": max(r["distance"] / r["stated_residual"] for r in rows),
        "largest_distance": max(r["distance"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--name", required=True)
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--which", default="LR")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument(
        "--solvers", nargs="*", default=["krylov-schur", "arpack"], help="shipped solves to run"
    )
    parser.add_argument(
        "--shipped-json",
        type=Path,
        help="also compare the output of `convergan spectrum RUN --json` (same k, which, N)",
    )
    args = parser.parse_args()
    run = open_run(args.run_dir)
    step = run.latest_step()
    reference = solve(run, step, args, float64=True, tol=1e-10)
    print("reference", reference["products"], reference["cpu_seconds"], flush=True)
    entry = {"step": step, "k": args.k, "which": args.which, "samples": args.samples}
    entry["reference"] = reference
    for solver in args.solvers:
        shipped = solve(run, step, args, solver=solver)
        print(solver, shipped["products"], shipped["cpu_seconds"], flush=True)
        entry[solver] = {**shipped, **compare(shipped, reference)}
    if args.shipped_json:
        record = json.loads(args.shipped_json.read_text().splitlines()[-1])
        spectrum = record["spectra"][args.which]
        shipped = {"settings": {"from": "convergan spectrum --json", "solver": record["solver"]}}
        shipped |= {key: spectrum[key] for key in ("eigenvalues", "residuals", "converged")}
        shipped |= {"products": spectrum["matvecs"], "seconds": spectrum["seconds"]}
        entry["cli"] = {**shipped, **compare(shipped, reference)}
    entry["load_average_at_end"] = os.getloadavg()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.name] = entry
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    for solver in [*args.solvers, *(["cli"] if args.shipped_json else [])]:
        e = entry[solver]
        print(solver, "within stated:", e["within_stated"], "largest distance / residual:",
              f"{e['largest_distance_over_residual']:.3g}", "largest distance:",
              f"{e['largest_distance']:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
