"""How many products any Krylov method needs on a run's field: an unrestarted Arnoldi profile.

An unrestarted Krylov space from a start vector holds the best the products so far can give
(every restarted method, ARPACK's and Krylov–Schur's included, keeps a subspace of it). This
builds one on a run's last checkpoint, ``Jᵀ`` through the kept graph as ``convergan spectrum``
does, and every 20 products writes the ``k`` leading Ritz values by ``which`` with their
residuals ``‖Au − θu‖`` and ``‖Au − θu‖/|θ|`` (from the kept images, no extra product). The
first line where every relative residual is below a tolerance is the floor on the products
a solve to that tolerance needs from this start.

    OMP_NUM_THREADS=2 python benchmarks/bench_krylov_profile.py RUN_DIR \\
        [--samples 512] [--k 10] [--which LR] [--products 400] [--out FILE]

The basis and images take ``16 · n · products`` bytes (the DCGAN at 400 products: 7 GB).
Writes JSON lines to ``--out`` (default ``benchmarks/results/spectrum/krylov_profile.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from convergan.analysis.ritz import Subspace, ritz_spectrum
from convergan.runs.at_step import CheckpointAt
from convergan.training.directory import RunDirectory

RESULTS = Path(__file__).parent / "results" / "spectrum" / "krylov_profile.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--which", default="LR", choices=("LR", "LM", "LI"))
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    run = RunDirectory.open(args.run_dir)
    at = CheckpointAt(run, run.latest_step())
    operator = at.jacobian(args.samples, 0)
    n, total = operator.n, args.products
    basis, images = np.empty((total, n)), np.empty((total, n))
    vector = np.random.default_rng(0).standard_normal(n)
    start, cpu_start = time.perf_counter(), time.process_time()
    with args.out.open("w") as out:
        header = {"run": str(args.run_dir), "step": at.step, "n": n, "samples": args.samples}
        header |= {"k": args.k, "which": args.which, "threads": torch.get_num_threads()}
        out.write(json.dumps(header) + "\n")
        for j in range(total):
            for _ in range(2):  # classical Gram–Schmidt twice
                vector = vector - basis[:j].T @ (basis[:j] @ vector)
            basis[j] = vector / np.linalg.norm(vector)
            image = operator.rmatvec(torch.from_numpy(basis[j]))
            images[j] = image.detach().cpu().numpy().astype(np.float64)
            vector = images[j].copy()
            m = j + 1
            if m % args.every and m != total:
                continue
            spectrum = ritz_spectrum(Subspace(basis[:m], images[:m], m, 0.0), args.k,
                                     args.which, 1e-3)  # fmt: skip
            values, residuals = spectrum.eigenvalues, spectrum.residuals
            row = {
                "products": m,
                "seconds": round(time.perf_counter() - start, 1),
                "cpu_seconds": round(time.process_time() - cpu_start, 1),
                "eigenvalues": [[float(v.real), float(v.imag)] for v in values],
                "residuals": [float(r) for r in residuals],
                "relative_residuals": [float(r / abs(v)) for r, v in zip(residuals, values)],
                "load": os.getloadavg()[0],
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(m, f"{max(row['relative_residuals']):.1e}", flush=True)


if __name__ == "__main__":
    main()
