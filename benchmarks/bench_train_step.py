"""D-step time of a DCGAN on 28x28 images, batch 64, CPU (DESIGN.md §6).

Compares, in one run and on the same batch:
  * unregularized D step (the library's training field + optimizer move),
  * R1 every step (the library: loss and penalty in one backward),
  * the classic pattern: loss.backward(retain_graph=True); penalty.backward() (eager modules),
  * lazy R1, every 16 steps with gain 16 (amortized).
Prints a markdown table; writes benchmarks/results/train_step.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from convergan.field import DISCRIMINATOR, OptimizerStep, ParameterLayout
from convergan.methods import Batch, make_method
from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from convergan.optimizers import Adam
from convergan.schemes import AltGD, lazy
from convergan.training.loop import training_field

RESULTS = Path(__file__).parent / "results" / "train_step.json"  # --out to write elsewhere


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    generator = DCGANGenerator(latent_dim=128, image_size=28, channels=1)
    discriminator = DCGANDiscriminator(image_size=28, channels=1)
    batch = Batch(real=torch.rand(64, 1, 28, 28) * 2 - 1, latent=torch.randn(64, 128))
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    mover = OptimizerStep((Adam(betas=(0.0, 0.99)), Adam(betas=(0.0, 0.99))))

    def d_step_with(method, gain_schedule=None):
        scheme = AltGD(lr=1e-4)
        counter = {"t": 0, "state": mover.init(DISCRIMINATOR, x[1])}
        # Built once, moved to each step, as the trainer does.
        training = training_field(generator, discriminator, method, lambda: batch)

        def step():
            field = training.at_step(counter["t"])
            if gain_schedule is not None:
                field = field.with_regularization_gain(gain_schedule(counter["t"]))
            counter["t"] += 1
            v = field.player(DISCRIMINATOR, x)
            _, counter["state"] = mover(DISCRIMINATOR, x[1], v, scheme.lr_d, counter["state"])

        return step

    unregularized = d_step_with(make_method("nsgan"))
    r1 = d_step_with(make_method("nsgan-r1", gamma=10.0))
    lazy16 = lazy(AltGD(lr=1e-4), 16)
    lazy_r1 = d_step_with(make_method("nsgan-r1", gamma=10.0), lazy16.gain_at)

    # The classic two-backward pattern on ordinary modules and torch.optim.
    d_classic = DCGANDiscriminator(image_size=28, channels=1)
    d_classic.load_state_dict(discriminator.state_dict())
    optimizer = torch.optim.Adam(d_classic.parameters(), lr=1e-4, betas=(0.0, 0.99))

    def classic():
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = generator(batch.latent)
        real = batch.real.detach().requires_grad_(True)
        d_real = d_classic(real)
        loss = (
            torch.nn.functional.softplus(-d_real).mean()
            + torch.nn.functional.softplus(d_classic(fake)).mean()
        )
        loss.backward(retain_graph=True)
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        penalty = 5.0 * grad.pow(2).reshape(64, -1).sum(1).mean()
        penalty.backward()
        optimizer.step()

    def lazy_period():  # one full period of 16 steps; amortized time = period / 16
        for _ in range(16):
            lazy_r1()

    variants = {"unregularized": unregularized, "r1": r1, "classic": classic, "lazy": lazy_period}
    for fn in variants.values():  # warm-up
        fn()
    samples = {name: [] for name in variants}
    # Round-robin repeats, so that load from other processes hits every variant alike.
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    rows = {name: statistics.median(times) for name, times in samples.items()}
    rows["lazy_r1_16"] = rows.pop("lazy") / 16
    base = rows["unregularized"]
    table = {
        "unregularized_ms": base * 1e3,
        "r1_ms": rows["r1"] * 1e3,
        "classic_r1_ms": rows["classic"] * 1e3,
        "lazy_r1_16_amortized_ms": rows["lazy_r1_16"] * 1e3,
        "r1_over_unregularized": rows["r1"] / base,
        "classic_over_r1": rows["classic"] / rows["r1"],
        "lazy16_over_unregularized": rows["lazy_r1_16"] / base,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(table, indent=1))
    rows = [
        ("unregularized", "unregularized_ms", "1.00", ""),
        (
            "R1 every step (library)",
            "r1_ms",
            f"{table['r1_over_unregularized']:.2f}x unregularized",
            "<= 1.45x",
        ),
        (
            "classic two-backward R1",
            "classic_r1_ms",
            f"library {table['classic_over_r1']:.2f}x faster",
            ">= 1.2x",
        ),
        (
            "lazy R1, k = 16 (amortized)",
            "lazy_r1_16_amortized_ms",
            f"{table['lazy16_over_unregularized']:.2f}x unregularized",
            "<= 1.05x",
        ),
    ]
    print("| D step (DCGAN 28x28, batch 64, CPU) | ms | ratio | target |")
    print("|---|---|---|---|")
    for label, key, ratio, target in rows:
        print(f"| {label} | {table[key]:.1f} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
