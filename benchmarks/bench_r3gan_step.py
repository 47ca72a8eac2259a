"""RpGAN + R1 + R2 discriminator step: ours against R3GAN's own pattern, CPU, 1 thread.

R3GAN's D step (brownvc/R3GAN, re-implemented from its description): one forward on the real
and one on the generated samples (inputs marked ``requires_grad``), R1 and R2 by two
``autograd.grad(create_graph=True)`` calls, then one ``backward`` of
``softplus(−(D(x) − D(G(z)))) + (γ/2)(R1 + R2)`` averaged over the batch, and an Adam step
(torch.optim.Adam, β = (0, 0.99)).

Ours: the training field of the ``r3gan`` preset (:mod:`convergan.methods`) on flat
parameters, with our Adam (:mod:`convergan.optimizers`): both penalties and the loss in one
backward, D's double backward by :mod:`convergan.methods.lean_backward`'s formulas on the CPU.

Both run interleaved on the same players and batch, on the DCGAN-28 (batch 64) and on R3GAN's
architecture at 32 px (:mod:`convergan.models.r3gan`). Also timed: our unregularized RpGAN D
step, the generator's forward alone, and the *floor*: the bare autograd program of the step
(one forward, one input-gradient backward and one double backward through D; no generator,
no optimizer), stacked or in one pass per side, with PyTorch's formulas or ours. Times are
this thread's CPU time (medians; the wall clock is kept too); a torch.profiler pass counts the
convolution kernels and splits self CPU time by kind of op. Writes
benchmarks/results/r3gan_step.json and prints the numbers.
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
from convergan.methods.penalties import output_and_input_gradient
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


def floor(g, d, batch, *, stacked: bool, lean: bool):
    """The R1 + R2 step's autograd program alone (no generator, no optimizer): D forward, one
    input gradient and one double backward, on real and generated rows stacked in one pass or
    in one pass per side (R3GAN's), with PyTorch's autograd formulas or with ours
    (:mod:`convergan.methods.lean_backward`, through the library's input-gradient route)."""
    with torch.no_grad():
        fake = g(batch.latent)
    n = batch.real.shape[0]
    params = list(d.parameters())

    def output_and_gradient(x):
        if lean:
            return output_and_input_gradient(d, x)
        x = x.detach().requires_grad_(True)
        out = d(x)
        return out, torch.autograd.grad(out.sum(), x, create_graph=True)[0]

    def step():
        if stacked:
            out, grad = output_and_gradient(torch.cat([batch.real, fake]))
            d_real, d_fake, g_real, g_fake = out[:n], out[n:], grad[:n], grad[n:]
        else:
            (d_real, g_real), (d_fake, g_fake) = map(output_and_gradient, (batch.real, fake))
        norms = g_real.square().sum([1, 2, 3]) + g_fake.square().sum([1, 2, 3])
        loss = F.softplus(-(d_real - d_fake)) + (GAMMA / 2) * norms
        torch.autograd.grad(loss.mean(), params)

    return step


def generator_forward(g, batch):
    """The generated samples of a D step (no graph): part of both patterns' steps."""

    def step():
        with torch.no_grad():
            g(batch.latent)

    return step


CATEGORIES = {  # op name -> category of the profile table (self CPU time)
    "convolution kernels": ("aten::mkldnn_convolution", "aten::convolution_backward"),
    "zeros (fill_)": ("aten::fill_", "aten::zero_"),
    "copies (copy_)": ("aten::copy_",),
    "leaky ReLU and its backward": ("aten::leaky_relu", "aten::leaky_relu_backward"),
}


def profile(step) -> dict:
    """One step under torch.profiler: convolution kernel calls (forward and backward), all op
    calls, and self CPU time by category (ms)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    averages = prof.key_averages()
    self_ms = Counter()
    calls = Counter()
    for row in averages:
        if not row.key.startswith("aten::"):
            continue
        category = next((c for c, names in CATEGORIES.items() if row.key in names), "other ops")
        self_ms[category] += row.self_cpu_time_total / 1e3
        calls[row.key] += row.count
    return {
        "convolution_calls": calls["aten::convolution"],
        "convolution_backward_calls": calls["aten::convolution_backward"],
        "aten_calls": sum(calls.values()),
        "self_cpu_ms": {c: round(self_ms[c], 2) for c in [*CATEGORIES, "other ops"]},
    }


def measure(name: str, repeats: int) -> dict:
    g, d, batch = players(name)
    variants = {
        "r3gan_pattern": r3gan_pattern(g, _copy(d), batch),
        "ours_r1_r2": ours(g, _copy(d), batch, make_method("r3gan", gamma=GAMMA)),
        # RpGAN alone (γ = 0 would still compute the penalties).
        "ours_unregularized": ours(g, _copy(d), batch, parse_method({"loss": "rpgan"}).build()),
        "floor": floor(g, _copy(d), batch, stacked=True, lean=False),
        "floor_two_passes": floor(g, _copy(d), batch, stacked=False, lean=False),
        "floor_lean_stacked": floor(g, _copy(d), batch, stacked=True, lean=True),
        "floor_lean_two_passes": floor(g, _copy(d), batch, stacked=False, lean=True),
        "generator_forward": generator_forward(g, batch),
    }
    for fn in variants.values():  # warm-up
        fn()
    cpu = {key: [] for key in variants}
    wall = {key: [] for key in variants}
    for _ in range(repeats):  # round-robin, so load from other processes hits all alike
        for key, fn in variants.items():
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            fn()
            cpu[key].append(time.thread_time() - start_cpu)
            wall[key].append(time.perf_counter() - start_wall)
    # The ratios use this thread's CPU time: other processes on a shared machine stretch the
    # wall clock by preempting the step, the CPU time much less (1 thread: the step's own).
    ms = {key: statistics.median(v) * 1e3 for key, v in cpu.items()}
    return {
        "batch": batch.real.shape[0],
        "cpu_ms": ms,
        "wall_ms": {key: statistics.median(v) * 1e3 for key, v in wall.items()},
        "speedup_over_r3gan": ms["r3gan_pattern"] / ms["ours_r1_r2"],
        "r1_r2_over_unregularized": ms["ours_r1_r2"] / ms["ours_unregularized"],
        "ours_over_floor": ms["ours_r1_r2"] / ms["floor"],
        "ours_over_floor_lean_two_passes": ms["ours_r1_r2"] / ms["floor_lean_two_passes"],
        # The most any pattern of R3GAN's arithmetic on PyTorch's formulas could gain over
        # R3GAN's step: skip the generator and the optimizer and run the bare floor.
        "r3gan_over_best_floor_pytorch_formulas": ms["r3gan_pattern"]
        / min(ms["floor"], ms["floor_two_passes"]),
        "profile": {
            key: profile(variants[key])
            for key in ("r3gan_pattern", "ours_r1_r2", "floor_two_passes", "floor_lean_two_passes")
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
    for name in ("dcgan-28", "r3gan-32"):
        r, ms = table[name], table[name]["cpu_ms"]
        print(f"\n{name}, batch {r['batch']}: CPU ms per step (thread time), medians")
        for key, value in ms.items():
            print(f"  {key:24s} {value:8.1f}  (R3GAN's / this: {ms['r3gan_pattern'] / value:.2f}x)")
        print(f"  speed-up over R3GAN's step: {r['speedup_over_r3gan']:.2f}x (target >= 1.25x)")
        print(f"  ours / lean floor (two passes): {r['ours_over_floor_lean_two_passes']:.2f}x")
        for key, p in r["profile"].items():
            print(f"  profile {key}: {p}")


if __name__ == "__main__":
    main()
