"""Cost of matrix-free spectra on real players (issue 8's benchmarks).

* k = 10 LR eigenvalues of the field Jacobian of the 2D MLP players (3x256, circle config,
  R1) on the default 2000-sample evaluation game;
* k = 10 LR eigenvalues of the Fashion-MNIST DCGAN players (R1) on 512 samples;
* for both: products per second, the count ARPACK needed, and the cost of one J·u by each
  route (double backward through a kept graph, forward-over-reverse) relative to one training
  step of the same players (the trainer's scheme, optimizers and batch size).

The players are at their initialisation (seed 0) unless ``--run`` points at run directories;
spectra at init and after training cost about the same per product. Writes
benchmarks/results/spectrum/bench.json.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spectrum.py [--only 2d|dcgan]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from convergan.analysis.spectrum import PRODUCT_ROUTES, JacobianOperator, field_spectrum
from convergan.config import load_config
from convergan.field import GameField, OptimizerStep, ParameterLayout
from convergan.models.players import make_players
from convergan.problems import make_problem
from convergan.runs.spectrum import evaluation_field
from convergan.training.batches import BatchSampler, evaluation_batch
from convergan.training.in_force import build_scheme
from convergan.training.optim import build_optimizer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "spectrum" / "bench.json"
CASES = {
    "2d": ("configs/toy2d/circle.yaml", ["method=r1"], 2000),
    "dcgan": ("configs/fashion-mnist/dcgan-r1.yaml", ["device=cpu", "eval.metrics=[]"], 512),
}


def training_step_seconds(config, players, repeats: int) -> float:
    """One step of the trainer's scheme (eager route, optimizer moves, fresh minibatches)."""
    method, scheme = config.method.build(), build_scheme(config)
    optimizers = (build_optimizer(config.optim.g), build_optimizer(config.optim.d))
    mover = OptimizerStep(optimizers, clip=method.clip)
    sampler = BatchSampler(
        make_problem(config).real_stream(config.data.batch_size, config.seed * 1000),
        players.latent_dim,
        config.data.batch_size,
        method,
        seed=1,
    )
    field = GameField(players.generator, players.discriminator, method, sampler, route="eager")
    x = (ParameterLayout(players.generator).flat(), ParameterLayout(players.discriminator).flat())
    state = scheme.init(field, mover, x)
    x, state = scheme.step(field, mover, x, state, 0)  # warm-up
    start = time.perf_counter()
    for t in range(repeats):
        x, state = scheme.step(field.at_step(t + 1), mover, x, state, t + 1)
    return (time.perf_counter() - start) / repeats


def product_seconds(operator: JacobianOperator, repeats: int) -> float:
    """One product of the kind the field's spectra use (``Jᵀw`` on the transpose route)."""
    u = torch.randn(operator.n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    product = operator.spectrum_product
    product(u)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        product(u)
    return (time.perf_counter() - start) / repeats


def bench(name: str, k: int, repeats: int, arpack: bool = True) -> dict:
    path, overrides, samples = CASES[name]
    config = load_config(ROOT / path, overrides)
    info = make_problem(config).info()
    players = make_players(config, info.shape, info.num_classes)
    method = config.method.build()
    batch = evaluation_batch(config, method, players.latent_dim, samples, seed=0)
    field = evaluation_field(players.generator, players.discriminator, method, batch)
    x = (ParameterLayout(players.generator).flat(), ParameterLayout(players.discriminator).flat())
    result = {"config": path, "method": str(config.method), "samples": samples, "k": k}
    step = training_step_seconds(config, players, repeats)
    result["training_step_seconds"] = step
    result["training_batch"] = config.data.batch_size
    for route in PRODUCT_ROUTES:
        start = time.perf_counter()
        operator = JacobianOperator(field, x, route)
        setup = time.perf_counter() - start
        seconds = product_seconds(operator, repeats)
        result[route] = {
            "setup_seconds": setup,
            "product_seconds": seconds,
            "product_vs_training_step": seconds / step,
        }
    operator = JacobianOperator(field, x)
    result["n_parameters"] = operator.n
    if not arpack:
        print(json.dumps({name: result}, indent=1), flush=True)
        return result
    spectrum = field_spectrum(operator, k=k, which="LR", tol=1e-5, seed=0)
    result["arpack"] = {
        "which": "LR",
        "seconds": spectrum.seconds,
        "matvecs": spectrum.matvecs,
        "matvecs_per_second": spectrum.matvecs / spectrum.seconds,
        "converged": spectrum.converged,
        "max_residual": float(spectrum.residuals.max()),
        "eigenvalues": [[float(v.real), float(v.imag)] for v in spectrum.eigenvalues],
    }
    print(json.dumps({name: result}, indent=1), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), nargs="+", default=sorted(CASES))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--products-only", action="store_true", help="skip the ARPACK run")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }
    for name in args.only:
        results[name] = bench(name, args.k, args.repeats, arpack=not args.products_only)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
