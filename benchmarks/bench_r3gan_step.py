"""RpGAN + R1 + R2 discriminator step: ours against R3GAN's own pattern, CPU, 1 thread.

R3GAN's D step (brownvc/R3GAN, re-implemented from its description): one forward on the real
and one on the generated samples (inputs marked ``requires_grad``), R1 and R2 by two
``autograd.grad(create_graph=True)`` calls, then one ``backward`` of
``softplus(−(D(x) − D(G(z)))) + (γ/2)(R1 + R2)`` averaged over the batch, and an Adam step
(torch.optim.Adam, β = (0, 0.99)).

Ours: the training field of the ``r3gan`` preset (:mod:`convergan.methods`) on flat
parameters, with our Adam (:mod:`convergan.optimizers`): real and generated samples go through
D as *one* stacked batch, with one input-gradient pass for both penalties, then one backward.

Both run interleaved on the same players and batch, on the DCGAN-28 (batch 64) and on R3GAN's
architecture at 32 px (:mod:`convergan.models.r3gan`). Also timed: our unregularized RpGAN D
step, and the *floor*: the bare autograd program of the fused step on ordinary modules (one
forward, one input-gradient backward and one double backward through D on the stacked
batch; no generator, no optimizer). A torch.profiler pass counts the convolution calls of each
pattern. Writes benchmarks/results/r3gan_step.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import torch
from torch.nn import functional as F

from convergan.field import DISCRIMINATOR, OptimizerStep, ParameterLayout
from convergan.methods import Batch, make_method, parse_method
from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from convergan.models.r3gan import R3GANDiscriminator, R3GANGenerator
from convergan.optimizers import Adam
from convergan.training.loop import training_field

RESULTS = Path(__file__).parent / "results" / "r3gan_step.json"
GAMMA = 0.05  # R3GAN's CIFAR-10 start value; the cost does not depend on it
BETAS = (0.0, 0.99)
LR = 2e-4


def players(name: str):
    torch.manual_seed(0)
    if name == "dcgan-28":
        g, d = DCGANGenerator(128, 28, 1, 64), DCGANDiscriminator(28, 1, 64)
        batch = Batch(real=torch.rand(64, 1, 28, 28) * 2 - 1, latent=torch.randn(64, 128))
    else:  # R3GAN at 32 px, narrowed for a CPU (the paper's CIFAR-10 model is 768 wide)
        g, d = R3GANGenerator(64, 32, 3, 32, blocks=2), R3GANDiscriminator(32, 3, 32, blocks=2)
        # Leave fix-up's identity start, so that every layer of D does work.
        for key, p in d.named_parameters():
            if "narrow" in key:
                torch.nn.init.normal_(p, 0.0, 0.02)
        batch = Batch(real=torch.rand(32, 3, 32, 32) * 2 - 1, latent=torch.randn(32, 64))
    return g, d, batch


def r3gan_pattern(g, d, batch):
    """R3GAN's D step on ordinary modules (its trainer's order of operations)."""
    optimizer = torch.optim.Adam(d.parameters(), lr=LR, betas=BETAS)

    def step():
        optimizer.zero_grad(set_to_none=True)
        real = batch.real.detach().requires_grad_(True)
        with torch.no_grad():
            generated = g(batch.latent)
        fake = generated.detach().requires_grad_(True)
        d_real, d_fake = d(real), d(fake)
        (grad_real,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        (grad_fake,) = torch.autograd.grad(d_fake.sum(), fake, create_graph=True)
        r1 = grad_real.square().sum([1, 2, 3])
        r2 = grad_fake.square().sum([1, 2, 3])
        loss = F.softplus(-(d_real - d_fake)) + (GAMMA / 2) * (r1 + r2)
        loss.mean().backward()
        optimizer.step()

    return step


def ours(g, d, batch, method):
    """The library's D step: training field + optimizer move on flat parameters."""
    mover = OptimizerStep((Adam(betas=BETAS), Adam(betas=BETAS)))
    x = (ParameterLayout(g).flat(), ParameterLayout(d).flat())
    field = training_field(g, d, method, lambda: batch)
    state = {"x": x[1], "opt": mover.init(DISCRIMINATOR, x[1])}

    def step():
        v = field.player(DISCRIMINATOR, (x[0], state["x"]))
        state["x"], state["opt"] = mover(DISCRIMINATOR, state["x"], v, LR, state["opt"])

    return step


def floor(g, d, batch):
    """The fused step's autograd program alone: D forward, one input gradient and one double
    backward on real and fake stacked (the generated samples precomputed)."""
    with torch.no_grad():
        fake = g(batch.latent)
    stacked = torch.cat([batch.real, fake])
    n = batch.real.shape[0]

    def step():
        x = stacked.detach().requires_grad_(True)
        out = d(x)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        norms = grad.square().sum([1, 2, 3])
        loss = F.softplus(-(out[:n] - out[n:])) + (GAMMA / 2) * (norms[:n] + norms[n:])
        torch.autograd.grad(loss.mean(), list(d.parameters()))

    return step


def conv_calls(step) -> dict[str, int]:
    """Convolution kernels one step runs, by op name (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    counts = Counter()
    for event in prof.events():
        if event.name in ("aten::convolution", "aten::convolution_backward"):
            counts[event.name] += 1
    return dict(counts)


def measure(name: str, repeats: int) -> dict:
    g, d, batch = players(name)
    variants = {
        "r3gan_pattern": r3gan_pattern(g, _copy(d), batch),
        "ours_r1_r2": ours(g, _copy(d), batch, make_method("r3gan", gamma=GAMMA)),
        # RpGAN alone (γ = 0 would still compute the penalties).
        "ours_unregularized": ours(g, _copy(d), batch, parse_method({"loss": "rpgan"}).build()),
        "floor": floor(g, _copy(d), batch),
    }
    for fn in variants.values():  # warm-up
        fn()
    samples = {key: [] for key in variants}
    for _ in range(repeats):  # round-robin, so load from other processes hits all alike
        for key, fn in variants.items():
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
    ms = {key: statistics.median(v) * 1e3 for key, v in samples.items()}
    return {
        "batch": batch.real.shape[0],
        "ms": ms,
        "speedup_over_r3gan": ms["r3gan_pattern"] / ms["ours_r1_r2"],
        "r1_r2_over_unregularized": ms["ours_r1_r2"] / ms["ours_unregularized"],
        "ours_over_floor": ms["ours_r1_r2"] / ms["floor"],
        "conv_calls": {
            key: conv_calls(variants[key]) for key in ("r3gan_pattern", "ours_r1_r2", "floor")
        },
    }


def _copy(module):
    import copy

    return copy.deepcopy(module)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = {
        "threads": args.threads,
        "torch": torch.__version__,
        "repeats": args.repeats,
        "gamma": GAMMA,
        # Other processes share the CPU: the 1-minute load average before and after.
        "load_average_before": os.getloadavg()[0],
    }
    for name in ("dcgan-28", "r3gan-32"):
        table[name] = measure(name, args.repeats)
    table["load_average_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1))
    print(f"| D step, CPU, {args.threads} thread | R3GAN's pattern ms | ours ms | speed-up "
          "(target >= 1.25x) | ours / unregularized | ours / floor |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in ("dcgan-28", "r3gan-32"):
        r = table[name]
        print(
            f"| {name} (batch {r['batch']}) | {r['ms']['r3gan_pattern']:.1f} | "
            f"{r['ms']['ours_r1_r2']:.1f} | {r['speedup_over_r3gan']:.2f}x | "
            f"{r['r1_r2_over_unregularized']:.2f}x | {r['ours_over_floor']:.2f}x |"
        )
    for name in ("dcgan-28", "r3gan-32"):
        print(name, "convolution calls per step:", table[name]["conv_calls"])


if __name__ == "__main__":
    main()
