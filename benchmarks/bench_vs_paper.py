"""convergan's trainer against the paper's trainer pattern, on the same DCGAN-28 players.

The other side is a faithful re-implementation, written from its description, of the
``Trainer`` of LMescheder/GAN_stability (``gan_training/train.py``), the code behind the paper:

* ``discriminator_trainstep``: D on real images with ``x_real.requires_grad_()``; the loss
  (binary cross-entropy with logits, target 1) ``.backward(retain_graph=True)``; then the R1
  term ``reg_param · mean ‖∇ₓD(x_real)‖²`` (``compute_grad2``: ``autograd.grad`` with
  ``create_graph=True``) gets its own ``.backward()``; then D on ``G(z)`` made under
  ``no_grad`` (target 0), ``.backward()``, ``optimizer.step()``; ``toggle_grad`` flips
  ``requires_grad`` on both players around each step, and the losses come back as ``.item()``;
* ``generator_trainstep``: ``G(z)`` through D with target 1, ``.backward()``, ``step()``;
* ``update_average``: for every parameter, ``p_avg ← β·p_avg + (1 − β)·p``.

Lazy R1 on that side adds the R1 term with gain k on every k-th D step (GAN_stability has no
lazy regularization; this is the obvious extension of its pattern). reg_param = γ/2 (docs,
Conventions). Both sides start from the same initial weights, use torch's/our Adam with the
config's learning rates and betas (configs/fashion-mnist: 2e-4, (0, 0.99)), batch 64 of
Fashion-MNIST from the same kind of stream, and the same EMA β.

Our side is one iteration of ``convergan train`` exactly as ``training/loop.py`` runs it:
``scheme.step(field, mover, x, scheme_state, t)``, the divergence check, then the EMA update. It is
built in one function, :func:`make_ours`, to be kept in step with the loop.

Timing: the variants (plain, R1, lazy R1 k=16; both sides; plus the D steps alone) and the
thread counts run round-robin in one process, in blocks of 16 iterations (one lazy period),
and the report gives medians of the per-iteration time over blocks. On CUDA every block is
bracketed by ``torch.cuda.synchronize()`` (outside the steps).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_vs_paper.py --threads 1 2
    .venv/bin/python benchmarks/bench_vs_paper.py --device cuda [--amp]   # on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import autograd, nn

from convergan.config import load_config
from convergan.config.schema import Config
from convergan.field import (
    DISCRIMINATOR,
    GENERATOR,
    DivergenceGuard,
    Guarded,
    Observed,
    OptimizerStep,
    ParameterLayout,
)
from convergan.models.players import make_players
from convergan.problems import make_problem
from convergan.training.batches import BatchSampler
from convergan.training.ema import GeneratorEMA
from convergan.training.in_force import build_scheme
from convergan.training.loop import training_field
from convergan.training.optim import build_optimizer
from convergan.training.report import Reporter

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "fashion-mnist" / "dcgan-r1.yaml"
RESULTS = Path(__file__).parent / "results" / "vs_paper.json"  # --out to write elsewhere
BLOCK = 16  # iterations per timed block: one period of lazy R1 with k = 16
GAMMA = 10.0  # configs/fashion-mnist/dcgan-r1.yaml; GAN_stability's reg_param = γ/2
VARIANTS = {
    "plain": ["method=nsgan"],
    "r1": ["method=nsgan-r1", f"method.gamma={GAMMA}"],
    "lazy-r1-16": ["method=nsgan-r1", f"method.gamma={GAMMA}", "scheme.lazy_every=16"],
}


def variant_config(variant: str, device: str, amp: bool) -> Config:
    overrides = [*VARIANTS[variant], f"device={device}", f"distributed.amp={str(amp).lower()}"]
    return load_config(CONFIG, overrides)


def resolved_device(config: Config) -> torch.device:
    from convergan.training.distributed import resolve_device

    return resolve_device(config.device)


# ------------------------------------------------------------------------------ our side


def make_ours(config: Config) -> Callable[[], None]:
    """One iteration of our trainer, built as ``training/loop.py`` builds it (keep in step).

    The returned callable also carries ``d_step()``: our D step alone (the field's D player
    and the optimizer move), and ``players``: the initial (generator, discriminator).
    """
    device = resolved_device(config)
    torch.manual_seed(config.seed)
    problem = make_problem(config)
    stream = problem.real_stream(config.data.batch_size, config.seed * 1000)
    info = problem.info()
    players = make_players(config, info.shape, info.num_classes)
    initial = (copy.deepcopy(players.generator), copy.deepcopy(players.discriminator))
    generator = players.generator.to(device)
    discriminator = players.discriminator.to(device)
    method, scheme = config.method.build(), build_scheme(config)
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    sampler = BatchSampler(stream, players.latent_dim, config.data.batch_size, method,
                           seed=config.seed * 1000 + 500, device=device,
                           conditional=config.model.conditional)  # fmt: skip
    ema = GeneratorEMA(x[0], config.ema.half_life_samples, config.ema.rampup)
    reporter, guard = Reporter(), DivergenceGuard()
    batch = config.data.batch_size
    autocast = device.type if config.distributed.amp else None

    field = Observed(
        training_field(generator, discriminator, method, sampler, autocast_device=autocast),
        reporter=reporter,
        guard=guard,
        average=None,
    )
    optimizers = (build_optimizer(config.optim.g), build_optimizer(config.optim.d))
    mover = Guarded(OptimizerStep(optimizers, clip=method.clip), guard)
    state = {"x": x, "scheme_state": scheme.init(field.at_step(0), mover, x), "step": 0}

    def iteration() -> None:
        step = state["step"]
        # The benchmark's config has constant rates (no schedule), as the paper's trainer.
        state["x"], state["scheme_state"] = scheme.step(
            field.at_step(step), mover, state["x"], state["scheme_state"], step
        )
        guard.check(step + 1)
        state["step"] = step + 1
        if config.ema.enabled:
            ema.update(state["x"][GENERATOR], batch, (step + 1) * batch)

    d_state = {"x": x, "move": mover.init(DISCRIMINATOR, x[DISCRIMINATOR]), "t": 0}

    def d_step() -> None:
        v = field.at_step(d_state["t"]).player(DISCRIMINATOR, d_state["x"])
        moved, d_state["move"] = mover(DISCRIMINATOR, d_state["x"][DISCRIMINATOR], v,
                                       config.optim.d.lr, d_state["move"])  # fmt: skip
        d_state["x"] = (d_state["x"][GENERATOR], moved)
        guard.check(d_state["t"] + 1)
        d_state["t"] += 1

    iteration.d_step = d_step  # type: ignore[attr-defined]
    iteration.players = initial  # type: ignore[attr-defined]
    return iteration


# ---------------------------------------------------------------------- the paper's side


def toggle_grad(model: nn.Module, requires_grad: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(requires_grad)


def compute_grad2(d_out: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖∇ₓD(x)‖², with the graph kept for the penalty's own backward."""
    grad = autograd.grad(d_out.sum(), x_in, create_graph=True, retain_graph=True)[0]
    return grad.pow(2).reshape(x_in.size(0), -1).sum(1)


def update_average(target: nn.Module, source: nn.Module, beta: float) -> None:
    sources = dict(source.named_parameters())
    with torch.no_grad():
        for name, p_target in target.named_parameters():
            p_target.copy_(beta * p_target + (1.0 - beta) * sources[name])


class PaperTrainer:
    """GAN_stability's ``Trainer`` with ``gan_type='standard'`` and ``reg_type='real'``
    (or ``'none'``), plus lazy R1 as described in the module docstring."""

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, reg_param: float,
                 lazy_every: int = 1, autocast: str | None = None) -> None:  # fmt: skip
        self.generator, self.discriminator = generator, discriminator
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.reg_param, self.lazy_every = reg_param, lazy_every
        self.autocast = autocast
        self.d_steps = 0

    def _autocast(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.autocast, dtype=torch.bfloat16)

    @staticmethod
    def compute_loss(d_out: torch.Tensor, target: float) -> torch.Tensor:
        targets = d_out.new_full(size=d_out.size(), fill_value=target)
        return F.binary_cross_entropy_with_logits(d_out.float(), targets.float())

    def generator_trainstep(self, z: torch.Tensor) -> float:
        toggle_grad(self.generator, True)
        toggle_grad(self.discriminator, False)
        self.generator.train()
        self.discriminator.train()
        self.g_optimizer.zero_grad()
        with self._autocast():
            gloss = self.compute_loss(self.discriminator(self.generator(z)), 1)
        gloss.backward()
        self.g_optimizer.step()
        return gloss.item()

    def discriminator_trainstep(self, x_real: torch.Tensor, z: torch.Tensor) -> tuple[float, float]:
        toggle_grad(self.generator, False)
        toggle_grad(self.discriminator, True)
        self.generator.train()
        self.discriminator.train()
        self.d_optimizer.zero_grad()
        regularize = self.reg_param > 0 and self.d_steps % self.lazy_every == 0
        self.d_steps += 1
        x_real.requires_grad_()
        with self._autocast():
            d_real = self.discriminator(x_real)
            dloss_real = self.compute_loss(d_real, 1)
        if regularize:
            dloss_real.backward(retain_graph=True)
            with self._autocast():
                gain = self.reg_param * self.lazy_every
                reg = gain * compute_grad2(d_real.float(), x_real).mean()
            reg.backward()
        else:
            dloss_real.backward()
            reg = torch.tensor(0.0)
        with torch.no_grad(), self._autocast():
            x_fake = self.generator(z)
        x_fake.requires_grad_()
        with self._autocast():
            dloss_fake = self.compute_loss(self.discriminator(x_fake), 0)
        dloss_fake.backward()
        self.d_optimizer.step()
        toggle_grad(self.discriminator, False)
        return (dloss_real + dloss_fake).item(), reg.item()


def make_paper(
    config: Config, players: tuple[nn.Module, nn.Module], reg_param: float
) -> Callable[[], None]:
    """One iteration of GAN_stability's ``train.py`` loop (D step, G step with a fresh z,
    parameter averaging) on copies of ``players``; ``.d_step()`` is its D step alone."""
    device = resolved_device(config)
    generator, discriminator = (copy.deepcopy(p).to(device) for p in players)
    average = copy.deepcopy(generator)
    optim = {
        name: torch.optim.Adam(module.parameters(), lr=c.lr, betas=tuple(c.betas))
        for name, module, c in (("g", generator, config.optim.g),
                                ("d", discriminator, config.optim.d))
    }  # fmt: skip
    trainer = PaperTrainer(generator, discriminator, optim["g"], optim["d"], reg_param,
                           config.scheme.lazy_every,
                           device.type if config.distributed.amp else None)  # fmt: skip
    stream = make_problem(config).real_stream(config.data.batch_size, config.seed * 1000)
    latent_dim, batch = config.model.latent_dim, config.data.batch_size
    beta = 0.5 ** (batch / config.ema.half_life_samples)

    def real_batch() -> torch.Tensor:
        real = next(stream)
        real = real[0] if isinstance(real, (tuple, list)) else real
        return real.to(device)

    def iteration() -> None:
        trainer.discriminator_trainstep(real_batch(), torch.randn(batch, latent_dim, device=device))
        trainer.generator_trainstep(torch.randn(batch, latent_dim, device=device))
        update_average(average, generator, beta)

    def d_step() -> None:
        trainer.discriminator_trainstep(real_batch(), torch.randn(batch, latent_dim, device=device))

    iteration.d_step = d_step  # type: ignore[attr-defined]
    return iteration


# ------------------------------------------------------------------------------- timing


def timed_block(run: Callable[[], None], device: torch.device, block: int = BLOCK) -> float:
    """Seconds per iteration over one block of ``block`` iterations."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(block):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast on both sides")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7, help="timed blocks per variant")
    parser.add_argument("--block", type=int, default=BLOCK, help="iterations per timed block")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", type=Path, help="re-report the blocks of a results file")
    args = parser.parse_args()
    if args.report_only:
        saved = json.loads(args.report_only.read_text())
        times = {int(t): {k: [x / 1e3 for x in v] for k, v in r.items()}
                 for t, r in saved["all_blocks_ms"].items()}  # fmt: skip
        args.rounds, args.block, args.amp = saved["rounds"], saved["block"], saved["amp"]
        medians = {t: {k: statistics.median(v) for k, v in r.items()} for t, r in times.items()}
        report(args, torch.device(saved["device"]), list(times), medians, times)
        return
    runs: dict[str, Callable[[], None]] = {}
    for variant in VARIANTS:
        config = variant_config(variant, args.device, args.amp)
        ours = make_ours(config)
        paper = make_paper(config, ours.players, 0.0 if variant == "plain" else GAMMA / 2)
        runs[f"ours/{variant}"], runs[f"paper/{variant}"] = ours, paper
        if variant != "lazy-r1-16":
            runs[f"ours/{variant}/d-step"] = ours.d_step
            runs[f"paper/{variant}/d-step"] = paper.d_step
    device = resolved_device(config)
    threads = args.threads if device.type == "cpu" else [torch.get_num_threads()]
    for run in runs.values():  # warm-up: one block each (allocator, one-off imports)
        timed_block(run, device, args.block)
    times = {t: {name: [] for name in runs} for t in threads}
    for round_ in range(args.rounds):  # round-robin over thread counts and variants
        for t in threads:
            torch.set_num_threads(t)
            for name, run in runs.items():
                times[t][name].append(timed_block(run, device, args.block))
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)
    report(args, device, threads, {t: {k: statistics.median(v) for k, v in r.items()}
                                   for t, r in times.items()}, times)  # fmt: skip


RATIOS = {
    **{f"paper/ours full iteration, {v}": (f"paper/{v}", f"ours/{v}") for v in VARIANTS},
    "our R1 D step / our plain D step": ("ours/r1/d-step", "ours/plain/d-step"),
    "paper R1 D step / our R1 D step": ("paper/r1/d-step", "ours/r1/d-step"),
    "paper plain D step / our plain D step": ("paper/plain/d-step", "ours/plain/d-step"),
    "our lazy R1 iteration / our plain iteration": ("ours/lazy-r1-16", "ours/plain"),
    "our R1 iteration / our plain iteration": ("ours/r1", "ours/plain"),
}
"""Each ratio is the median over rounds of the ratio within a round (paired: the two blocks
ran back to back, so load that drifts between rounds cancels)."""


def report(args, device, threads, medians, times) -> None:
    ratios = {
        t: {name: statistics.median(a / b for a, b in zip(times[t][num], times[t][den]))
            for name, (num, den) in RATIOS.items()}
        for t in threads
    }  # fmt: skip
    label = f"{device.type}{' + bf16 autocast' if args.amp else ''}"
    print(f"\nms per iteration (medians of {args.rounds} blocks of {args.block}), {label}\n")
    print("| | " + " | ".join(f"{t} thread(s)" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    for name in medians[threads[0]]:
        print(f"| {name} | " + " | ".join(f"{1e3 * medians[t][name]:.1f}" for t in threads) + " |")
    print("\n| ratio | " + " | ".join(f"{t} thread(s)" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    for name in ratios[threads[0]]:
        print(f"| {name} | " + " | ".join(f"{ratios[t][name]:.2f}" for t in threads) + " |")
    results = {"device": str(device), "amp": args.amp, "torch": torch.__version__,
               "batch": 64, "gamma": GAMMA, "block": args.block, "rounds": args.rounds,
               "ms_per_iteration": {t: {k: 1e3 * v for k, v in m.items()}
                                    for t, m in medians.items()},
               "ratios": ratios,
               "all_blocks_ms": {t: {k: [1e3 * x for x in v] for k, v in r.items()}
                                 for t, r in times.items()}}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
