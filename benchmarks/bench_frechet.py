"""Fréchet distance at d = 2048 (Inception pool3): ours against the routines FID tools use.

Compares, on the same statistics, interleaved round-robin in one process (medians):
  * ours: ``convergan.metrics.images.frechet_distance`` (``eigh`` of Σ₁, ``eigvalsh`` of
    Σ₁^{1/2} Σ₂ Σ₁^{1/2}; float64);
  * torchmetrics: ``_compute_fid``, the general ``eigvals`` of Σ₁Σ₂ (the routine behind its
    ``FrechetInceptionDistance``);
  * torch-fidelity 0.4: ``fid_statistics_to_metric``, NumPy's general ``eigvals`` of Σ₁Σ₂.
    Where torchvision imports, torch-fidelity's own function runs; otherwise a line-by-line
    re-implementation of it (its module imports torchvision);
  * pytorch-fid: ``scipy.linalg.sqrtm(Σ₁Σ₂)`` with its εI retry, re-implemented.
The features are n = 5000 Gaussian draws with a decaying spectrum, so both covariances are
full rank and every route is well defined. Prints a markdown table; writes
benchmarks/results/frechet.json (``--out`` to write elsewhere).

    .venv/bin/python benchmarks/bench_frechet.py --threads 1 2

Each thread count runs in its own process with OMP_NUM_THREADS, MKL_NUM_THREADS and
OPENBLAS_NUM_THREADS set to it (SciPy's LAPACK reads them at start) and torch.set_num_threads.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from convergan.metrics.fidelity import torchvision_available
from convergan.metrics.images import frechet_distance

RESULTS = Path(__file__).parent / "results" / "frechet.json"


def torch_fidelity_fid(mu1, sigma1, mu2, sigma2) -> float:
    """torch-fidelity 0.4's ``fid_statistics_to_metric``."""
    if torchvision_available():
        metric_fid = importlib.import_module("torch_fidelity.metric_fid")
        stats = [{"mu": m, "sigma": s} for m, s in ((mu1, sigma1), (mu2, sigma2))]
        return float(
            metric_fid.fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]
        )
    diff = mu1 - mu2
    tr_covmean = np.sum(np.sqrt(np.linalg.eigvals(sigma1.dot(sigma2)).astype("complex128")).real)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def pytorch_fid_fid(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's ``calculate_frechet_distance``: ``sqrtm`` with an εI retry."""
    diff = mu1 - mu2
    with warnings.catch_warnings():  # SciPy ≥ 1.16 deprecates disp; pytorch-fid passes it
        warnings.simplefilter("ignore", DeprecationWarning)
        covmean, _ = scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def torchmetrics_fid(mu1, sigma1, mu2, sigma2) -> float:
    from torchmetrics.image.fid import _compute_fid

    return float(_compute_fid(*(torch.from_numpy(a) for a in (mu1, sigma1, mu2, sigma2))))


def statistics_pair(d: int, n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    scales = 1.0 / np.sqrt(1.0 + np.arange(d))  # a decaying spectrum, like pool3 features
    out = []
    for shift in (0.0, 0.3):
        mixing = rng.normal(size=(d, d)) / np.sqrt(d)
        features = (rng.normal(size=(n, d)) * scales) @ mixing + shift
        out += [features.mean(0), np.cov(features, rowvar=False)]
    return tuple(out)


def measure(dim: int, n: int, repeats: int) -> dict:
    """Values and median seconds of each route, round-robin in this process."""
    stats = statistics_pair(dim, n, seed=0)
    routes = {
        "ours (eigh)": lambda: frechet_distance(*stats),
        "torchmetrics (eigvals)": lambda: torchmetrics_fid(*stats),
        "torch-fidelity (numpy eigvals)": lambda: torch_fidelity_fid(*stats),
        "pytorch-fid (scipy sqrtm)": lambda: pytorch_fid_fid(*stats),
    }
    values = {name: route() for name, route in routes.items()}  # warm-up, and the values
    times: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(repeats):  # round-robin: load from elsewhere hits all routes alike
        for name, route in routes.items():
            start = time.perf_counter()
            route()
            times[name].append(time.perf_counter() - start)
    return {"values": values, "seconds": {k: statistics.median(t) for k, t in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(args.threads[0])
        print(json.dumps(measure(args.dim, args.n, args.repeats)))
        return
    runs = {}
    for threads in args.threads:
        env = {**os.environ, **{k: str(threads) for k in
               ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}  # fmt: skip
        sizes = ["--dim", str(args.dim), "--n", str(args.n), "--repeats", str(args.repeats)]
        command = [sys.executable, __file__, "--worker", "--threads", str(threads), *sizes]
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        runs[threads] = json.loads(output.stdout.strip().splitlines()[-1])
    values = runs[args.threads[0]]["values"]
    reference = values["torch-fidelity (numpy eigvals)"]
    difference = max(abs(v - reference) / abs(reference) for v in values.values())
    print(f"Fréchet distance, d = {args.dim}, n = {args.n}; medians of {args.repeats}, seconds\n")
    print("| route | value | " + " | ".join(f"{t} thread(s)" for t in args.threads) + " |")
    print("|---|---|" + "---|" * len(args.threads))
    for name, value in values.items():
        cells = " | ".join(f"{runs[t]['seconds'][name]:.2f}" for t in args.threads)
        print(f"| {name} | {value:.9f} | {cells} |")
    print(f"\nlargest relative difference to torch-fidelity's routine: {difference:.1e}")
    results = {"dim": args.dim, "n": args.n, "repeats": args.repeats, "torch": torch.__version__,
               "torchvision_imports": torchvision_available(), "values": values,
               "max_relative_difference": difference,
               "seconds": {t: runs[t]["seconds"] for t in args.threads}}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
