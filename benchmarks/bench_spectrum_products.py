"""Where the verdict's local picture spends its products and seconds, option by option.

On one checkpoint (opened once: :class:`convergan.runs.at_step.CheckpointAt`) and the
verdict's evaluation game (the diagnostics' N, the run's seed), in one process, interleaved:

* the cost of one product: ``Jᵀw`` (one backward through the kept graph), ``Ju`` (a
  backward through that backward), and a block of 8 ``Jᵀw`` as one batched backward;
* the field's LR and LM solves (k = 6) at tolerances 1e-5 (the float32 default) and 1e-3;
* the run's update operator (LM, preconditioned as the verdict takes it) on ``F′`` by
  ``Ju`` products against ``F′ᵀ`` by ``Jᵀw`` products (:func:`convergan.analysis.spectrum.
  transposed_update_operator`), at tolerances 1e-5 and 1e-4;
* a float64 reference at tolerance 1e-10 (``--reference``), against which every solve's
  eigenvalues are compared: the largest distance, next to the largest residual the solve
  reported (the accuracy the output states).

    OMP_NUM_THREADS=2 python benchmarks/bench_spectrum_products.py RUN_DIR [--reference]

Writes ``benchmarks/results/spectrum/products.json`` (with the load average: the numbers
of a loaded machine are only comparable within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from convergan.analysis.spectrum import field_spectrum, update_spectrum
from convergan.runs.at_step import CheckpointAt
from convergan.runs.spectrum import build_analysis_scheme
from convergan.training.diagnostics import diagnostics_samples
from convergan.training.directory import RunDirectory

RESULTS = Path(__file__).parent / "results" / "spectrum" / "products.json"
K = 6


def per_product(at: CheckpointAt, samples: int, repeats: int = 5) -> dict:
    jacobian = at.jacobian(samples, at.config.seed)
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(8, jacobian.n, generator=g, dtype=torch.float64)
    jacobian.matvec(vectors[0])  # builds the second graph: not timed per product

    def seconds(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    return {
        "transpose_backward_s": seconds(lambda: jacobian.rmatvec(vectors[0])),
        "double_backward_s": seconds(lambda: jacobian.matvec(vectors[0])),
        "block_of_8_transpose_s": seconds(lambda: jacobian.rmatvec(vectors)),
        "eight_single_transpose_s": seconds(lambda: [jacobian.rmatvec(v) for v in vectors]),
    }


def summary(spectrum, seconds: float) -> dict:
    return {
        "products": spectrum.matvecs,
        "seconds": seconds,
        "converged": spectrum.converged,
        "max_residual": float(np.max(spectrum.residuals)) if len(spectrum.residuals) else None,
        "eigenvalues": [[float(v.real), float(v.imag)] for v in spectrum.eigenvalues],
    }


def solves(at: CheckpointAt, samples: int, float64: bool, tols: dict) -> dict:
    seed = at.config.seed
    jacobian = at.jacobian(samples, seed, float64)
    scheme = build_analysis_scheme(at.config, "run")
    gains = scheme.regularization_gains
    rows = {}
    for which in ("LR", "LM"):
        for tol in tols["field"]:
            start = time.perf_counter()
            spectrum = field_spectrum(jacobian, K, which, tol=tol, seed=seed)
            rows[f"field {which} tol {tol:g}"] = summary(spectrum, time.perf_counter() - start)
    for transposed in (True, False):
        operators = {g: at.jacobian(samples, seed, float64, gain=g) for g in gains}
        products = {g: op.rmatvec if transposed else op.matvec for g, op in operators.items()}
        for tol in tols["update"]:
            start = time.perf_counter()
            result = update_spectrum(
                scheme, products, jacobian.sizes, K, at.preconditioner, transposed,
                tol=tol, seed=seed,
            )  # fmt: skip
            name = f"update {'F′ᵀ by Jᵀw' if transposed else 'F′ by Ju'} tol {tol:g}"
            rows[name] = summary(result.spectrum, time.perf_counter() - start)
            rows[name]["spectral_radius"] = result.spectral_radius
    return rows


def shifted(at: CheckpointAt, samples: int) -> dict:
    """The spectral shift ``F′ − I`` against ``F′`` (tolerance 1e-5, transposed products):
    ``F′ − I``'s eigenvalues are not crowded near 1, but its Krylov spaces are ``F′``'s, so
    only ARPACK's choice of wanted Ritz values and its relative tolerance change. ρ from the
    shifted LM and LR runs is ``max |1 + η|`` over what they found."""
    from convergan.analysis.eigensolver import leading_eigenvalues
    from convergan.analysis.spectrum import transposed_update_operator

    seed = at.config.seed
    scheme = build_analysis_scheme(at.config, "run")
    operators = {g: at.jacobian(samples, seed, gain=g).rmatvec for g in scheme.regularization_gains}
    sizes = at.jacobian(samples, seed).sizes
    apply, m = transposed_update_operator(scheme, operators, sizes, at.preconditioner)
    rows = {}
    for name, product, which in (
        ("F′ LM", apply, "LM"),
        ("F′ − I LM", lambda w: apply(w) - w.to(torch.float64), "LM"),
        ("F′ − I LR", lambda w: apply(w) - w.to(torch.float64), "LR"),
    ):
        start = time.perf_counter()
        spectrum = leading_eigenvalues(product, m, K, which, tol=1e-5, seed=seed)
        row = summary(spectrum, time.perf_counter() - start)
        shift = 0.0 if name == "F′ LM" else 1.0
        row["spectral_radius"] = float(np.abs(spectrum.eigenvalues + shift).max())
        rows[name] = row
        print(name, {k: v for k, v in row.items() if k != "eigenvalues"}, flush=True)
    return rows


def distance(values: list, reference: list) -> float:
    """Largest distance from a found eigenvalue to the nearest reference eigenvalue."""
    ref = np.array([complex(*p) for p in reference])
    return max(float(np.abs(ref - complex(*p)).min()) for p in values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--reference", action="store_true", help="float64, tol 1e-10 too")
    parser.add_argument("--shift-only", action="store_true", help="only F′ against F′ − I")
    args = parser.parse_args()
    run = RunDirectory.open(args.run_dir)
    at = CheckpointAt(run, run.latest_step())
    samples = diagnostics_samples(at.config)
    result = {
        "run": Path(args.run_dir).name,
        "step": at.step,
        "n": at.n,
        "samples": samples,
        "scheme": at.config.scheme.name,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg(),
    }
    if not args.shift_only:
        result["per_product"] = per_product(at, samples)
    print(json.dumps(result), flush=True)
    if args.shift_only:
        result = {"run": result["run"], "n": result["n"], "shift": shifted(at, samples)}
        result["load_average_at_end"] = os.getloadavg()
        _save(result, "shift")
        return
    tols = {"field": (1e-5, 1e-3), "update": (1e-5, 1e-4)}
    result["solves"] = solves(at, samples, False, tols)
    for name, row in result["solves"].items():
        print(name, {k: v for k, v in row.items() if k != "eigenvalues"}, flush=True)
    if args.reference:
        tight = {"field": (1e-10,), "update": (1e-10,)}
        reference = solves(at, samples, True, tight)
        result["reference_float64_tol_1e-10"] = reference
        for name, row in result["solves"].items():
            kind = name.rsplit(" tol ", 1)[0]
            ref = next(r for n, r in reference.items() if n.rsplit(" tol ", 1)[0] == kind)
            row["error_vs_reference"] = distance(row["eigenvalues"], ref["eigenvalues"])
            print(name, "error", row["error_vs_reference"], "stated", row["max_residual"])
    result["load_average_at_end"] = os.getloadavg()
    _save(result, "products")


def _save(result: dict, kind: str) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    runs[f"{result['run']} {kind}"] = result
    RESULTS.write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
