"""Field spectra end to end: convergan spectrum against the pattern of Berard et al. (2020).

The peer is the code of "A Closer Look at the Optimization Landscapes of Generative
Adversarial Networks" (Berard, Gidel, Almahairi, Vincent, Lacoste-Julien, ICLR 2020;
facebookresearch/GAN-optimization-landscape), re-implemented here from its description:

* both players' losses computed once on the modules' own parameters (one generator forward
  shared by both; R1 by a plain ``autograd.grad(D(x).sum(), x, create_graph=True)``, written
  here, not convergan's penalty code), and their gradients taken with
  ``autograd.grad(loss, params, create_graph=True)`` and concatenated;
* a ``scipy.sparse.linalg.LinearOperator`` whose product is one backward
  ``autograd.grad(dot(grad, v), params, retain_graph=True)``, each block flattened and
  concatenated, in float32 (their operator's dtype), moved to the CPU;
* ``scipy.sparse.linalg.eigs`` with scipy's default Krylov size.

Their matrix is ``∂∇L/∂params = −J`` (the field is ``v = −∇L``), so J's ``LR`` eigenvalues
are theirs by ``SR``, negated. Both sides get the same checkpoint, the same evaluation game
(``convergan.training.batches.evaluation_batch``: the same samples, latents and draws), the
same ``k`` and the same start vector, and the same tolerance in the arm ``berard``; the arm
``berard_defaults`` calls ``eigs`` as their code does, with scipy's default tolerance (0:
machine precision). convergan is timed end to end
(``convergan.runs.spectrum.analyze_checkpoint``: loading, the game, the graph, the solver and
the residuals the peer does not compute), twice: as shipped (Krylov–Schur, ``ours``) and with
``--solver arpack`` (``ours_arpack``); the peer from the same checkpoint loaded. The three
take turns going first, in one process. Wall and process CPU seconds
are both recorded: on a loaded machine (other work on the same cores) the CPU time of a
one-thread run moves far less than its wall time.

    OMP_NUM_THREADS=2 python benchmarks/bench_spectrum_vs_berard.py \\
        --case circle RUN_DIR --case dcgan RUN_DIR [--rounds 1] [--peer-cap 3]

``--case NAME RUN_DIR`` takes any trained run; NAME picks k and N: ``circle`` k = 6,
N = 2000 (the issue's target: under 60 s), ``dcgan`` k = 10, N = 512 (under 5 minutes).
Writes ``benchmarks/results/spectrum/vs_berard.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as linalg
import torch
from torch import autograd
from torch.nn import functional as F

from convergan.config import config_at
from convergan.field import ParameterLayout
from convergan.problems import make_problem
from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint, open_run
from convergan.training.batches import evaluation_batch

RESULTS = Path(__file__).parent / "results" / "spectrum" / "vs_berard.json"
CASES = {"circle": {"k": 6, "samples": 2000, "target_seconds": 60}}
CASES["dcgan"] = {"k": 10, "samples": 512, "target_seconds": 300}
TOL = 1e-5  # convergan's float32 default; given to both in the equal-tolerance arms
SCIPY_DEFAULT_TOL = 0  # what their code passes (nothing): machine precision


class PeerStopped(Exception):
    """The peer ran past ``--peer-cap`` times convergan's CPU time: its speed-up is a bound."""


class BerardJacobianVectorProduct(linalg.LinearOperator):
    """Their ``JacobianVectorProduct``: ``v ↦ ∂⟨grad, v⟩/∂params`` in float32."""

    def __init__(self, grad, params):
        self.grad = torch.cat([g.reshape(-1) for g in grad])  # theirs: view (fails here)
        self.shape = (self.grad.size(0), self.grad.size(0))
        self.dtype = np.dtype("float32")
        self.params = params
        self.products = 0
        self.cpu_cap = None  # process CPU time at which the bench stops it (not theirs)

    def _matvec(self, v):
        if self.cpu_cap is not None and time.process_time() > self.cpu_cap:
            raise PeerStopped
        self.products += 1
        v = torch.tensor(np.asarray(v).reshape(-1), dtype=torch.float32)
        grad_vector_product = torch.dot(self.grad, v)
        hv = autograd.grad(grad_vector_product, self.params, retain_graph=True, allow_unused=True)
        flat = [
            (torch.zeros_like(p) if g is None else g).contiguous().view(-1)
            for g, p in zip(hv, self.params)
        ]
        return torch.cat(flat).cpu()


def peer_losses(spec, generator, discriminator, batch):
    """The two losses as their code writes them: one generator forward shared by both, plain
    ``autograd.grad(..., create_graph=True)`` for the penalty (none of convergan's code).
    Saturating or non-saturating GAN loss with R1 (the configs benchmarked)."""
    composition = spec.as_composition()
    (penalty,) = composition.penalties
    if composition.loss not in ("saturating", "nonsaturating") or penalty.name != "r1":
        raise SystemExit(f"the peer re-implementation covers GAN/NSGAN + R1, not {spec}")
    gamma = dict(penalty.params)["gamma"]
    real = batch.real.detach().requires_grad_(True)
    fake = generator(batch.latent)
    d_real, d_fake = discriminator(real), discriminator(fake)
    (grad_real,) = autograd.grad(d_real.sum(), real, create_graph=True)
    r1 = grad_real.pow(2).flatten(1).sum(1).mean()
    dis_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + gamma / 2 * r1
    if composition.loss == "saturating":
        gen_loss = -F.softplus(d_fake).mean()
    else:
        gen_loss = F.softplus(-d_fake).mean()
    return gen_loss, dis_loss


def berard(
    run, step: int, k: int, samples: int, seed: int = 0, cpu_limit=None, tol: float = TOL
) -> dict:
    """Their pattern on the checkpoint's players and the evaluation game of ``seed``;
    stopped (``finished: false``) after ``cpu_limit`` process CPU seconds."""
    start, cpu_start = time.perf_counter(), time.process_time()
    players = _players(run, step)
    generator, discriminator = players.generator, players.discriminator
    config = config_at(run.config, step)
    method = config.method.build()
    batch = evaluation_batch(
        config, method, generator.latent_dim, samples, seed, make_problem(config)
    )
    gen_loss, dis_loss = peer_losses(config.method, generator, discriminator, batch)
    gen_params, dis_params = list(generator.parameters()), list(discriminator.parameters())
    grad_gen = autograd.grad(gen_loss, gen_params, create_graph=True)
    grad_dis = autograd.grad(dis_loss, dis_params, create_graph=True)
    operator = BerardJacobianVectorProduct(grad_gen + grad_dis, gen_params + dis_params)
    setup = time.perf_counter() - start
    n = operator.shape[0]
    v0 = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    if cpu_limit is not None:
        operator.cpu_cap = cpu_start + cpu_limit
    try:
        values = linalg.eigs(operator, k=k, which="SR", tol=tol, v0=v0, return_eigenvectors=False)
    except PeerStopped:
        values = None
    row = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "setup_seconds": setup,
        "products": operator.products,
        "finished": values is not None,
    }
    if values is not None:
        values = -values  # their matrix is −J
        order = np.argsort(-values.real, kind="stable")
        row["eigenvalues"] = [[float(v.real), float(v.imag)] for v in values[order]]
    return row


def _players(run, step):
    _, checkpoint = run.load(step)
    players = run.players()
    ParameterLayout(players.generator).assign(checkpoint["theta"])
    ParameterLayout(players.discriminator).assign(checkpoint["psi"])
    return players


def ours(run, step: int, k: int, samples: int, seed: int = 0, solver: str = "krylov-schur"):
    start, cpu_start = time.perf_counter(), time.process_time()
    settings = SpectrumSettings(
        k=k, which=("LR",), samples=samples, seed=seed, tol=TOL, solver=solver
    )
    record = analyze_checkpoint(run, step, settings)
    spectrum = record["spectra"]["LR"]
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "solver_seconds": spectrum["seconds"],
        "products": spectrum["matvecs"],
        "converged": spectrum["converged"],
        "max_residual": max(spectrum["residuals"]),
        "eigenvalues": spectrum["eigenvalues"],
    }


ARMS = {
    "ours": ours,  # convergan spectrum as shipped: Krylov–Schur
    "ours_arpack": lambda *args, **kw: ours(*args, solver="arpack", **kw),  # --solver arpack
    "berard": berard,  # their pattern at our tolerance
    # their pattern as their code calls it: scipy's default tolerance (machine precision)
    "berard_defaults": lambda *args, **kw: berard(*args, tol=SCIPY_DEFAULT_TOL, **kw),
}


def _ratio(best: dict, slow: str, fast: str) -> float | None:
    return best[slow] / best[fast] if slow in best and fast in best else None


def agreement(a: list, b: list) -> float:
    """Largest distance between the two sorted lists, relative to the largest |λ|."""
    x = np.sort_complex(np.array([complex(*p) for p in a]))
    y = np.sort_complex(np.array([complex(*p) for p in b]))
    return float(np.abs(x - y).max() / np.abs(y).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=2, action="append", metavar=("NAME", "RUN_DIR"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--arms", nargs="+", choices=list(ARMS), default=list(ARMS), help="what to time"
    )
    parser.add_argument(
        "--peer-cap",
        type=float,
        default=None,
        metavar="R",
        help="stop the peer after R times convergan's best CPU time so far (its speed-up is "
        "then at least R); convergan runs first in round 1",
    )
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "load_average_at_start": os.getloadavg(),
    }
    for name, run_dir in args.case or []:
        case = CASES[name]
        run = open_run(run_dir)
        step = run.latest_step()
        rows = {who: [] for who in args.arms}
        names = list(args.arms)
        for round_ in range(args.rounds):
            turn = round_ % len(names)
            order = names[turn:] + names[:turn]  # each arm first in turn
            for who in order:
                extra = {}
                if who.startswith("berard") and args.peer_cap and rows["ours"]:
                    best_ours = min(r["cpu_seconds"] for r in rows["ours"])
                    extra["cpu_limit"] = args.peer_cap * best_ours
                rows[who].append(ARMS[who](run, step, case["k"], case["samples"], **extra))
                print(name, who, json.dumps(rows[who][-1])[:300], flush=True)
        best = {who: min(r["seconds"] for r in rows[who]) for who in rows}
        best_cpu = {who: min(r["cpu_seconds"] for r in rows[who]) for who in rows}
        finished = [r for r in rows.get("berard", []) if r["finished"]]
        peer = finished[0] if finished else None  # else its speed-ups are lower bounds
        results[name] = {
            "run_parameters": sum(
                p.numel()
                for m in (run.players().generator, run.players().discriminator)
                for p in m.parameters()
            ),
            "step": step,
            **case,
            "tol": TOL,
            "rounds": rows,
            "best_seconds": best,
            "speedup": _ratio(best, "berard", "ours"),
            "speedup_arpack": _ratio(best, "berard", "ours_arpack"),
            # process CPU time: one thread each, less moved by other work on a loaded machine
            "best_cpu_seconds": best_cpu,
            "cpu_speedup": _ratio(best_cpu, "berard", "ours"),
            "cpu_speedup_arpack": _ratio(best_cpu, "berard", "ours_arpack"),
            "cpu_speedup_at_their_defaults": _ratio(best_cpu, "berard_defaults", "ours"),
            "peer_at_their_defaults_finished": all(
                r["finished"] for r in rows.get("berard_defaults", [])
            ),
            "peer_finished": peer is not None,
            "eigenvalue_agreement": peer
            and agreement(rows["ours"][0]["eigenvalues"], peer["eigenvalues"]),
            "eigenvalue_agreement_arpack": peer
            and "ours_arpack" in rows
            and agreement(rows["ours_arpack"][0]["eigenvalues"], peer["eigenvalues"]),
            "target_met": best["ours"] < case["target_seconds"],
            "load_average_at_end": os.getloadavg(),
        }
        print(json.dumps({name: {k: v for k, v in results[name].items() if k != "rounds"}}))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
