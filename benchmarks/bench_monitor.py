"""What the training-loop monitor (convergan.api.Monitor) costs a user's loop.

Two plain PyTorch loops (alternating Adam steps, D first, non-saturating loss + R1 written with
``torch.autograd.grad``): the 2D loop of ``examples/toy2d_loop.py`` (MLP players) and a DCGAN
on 28×28 images (convergan's DCGAN modules, batch 64, random images: the cost does not depend
on the data). Measured in one interleaved run, blocks of ``--steps`` steps:

* ``step``: a training step without the monitor;
* ``look``: one look of the monitor (the field on the evaluation game of ``--samples``
  samples, the displacement, the log line, TensorBoard), its own timer;
* ``step with after_step()``: a step of a loop calling ``monitor.after_step`` on steps where
  it does not look (the per-step cost besides the looks), and that call alone;
* per step at ``every = N``: ``(look / N) / step``, the fraction a loop pays.

    python benchmarks/bench_monitor.py [--steps 20] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from convergan.api import Monitor  # noqa: E402
from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402


def toy2d(device):
    import toy2d_loop

    torch.manual_seed(0)
    G, D = toy2d_loop.mlp(16, 2).to(device), toy2d_loop.Discriminator().to(device)

    def batch(n):
        return torch.randn(n, 2, device=device), torch.randn(n, 16, device=device)

    return G, D, batch


def dcgan(device):
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=128, width=64).to(device)
    D = DCGANDiscriminator(width=64).to(device)

    def batch(n):
        return torch.rand(n, 1, 28, 28, device=device) * 2 - 1, torch.randn(n, 128, device=device)

    return G, D, batch


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def step(G, D, opt_g, opt_d, batch, size: int, gamma: float = 1.0) -> None:
    real, z = batch(size)
    real.requires_grad_(True)
    d_real = D(real).reshape(-1)
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    r1 = gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()
    d_fake = D(G(z).detach()).reshape(-1)
    d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + r1
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    _, z = batch(size)
    g_loss = F.softplus(-D(G(z)).reshape(-1)).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()


def measure(name, make, size: int, samples: int, steps: int, repeats: int, device) -> dict:
    G, D, batch = make(device)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), 1e-4, betas=(0.0, 0.99)) for m in (G, D))
    real, z = batch(samples)
    plain, quiet, looks = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        watching = Monitor(Path(folder) / "looks", G, D, "nsgan-r1", real=real, latent=z, every=1)
        idle = Monitor(Path(folder) / "idle", G, D, "nsgan-r1", real=real, latent=z,
                       every=10**9, tensorboard=False)  # fmt: skip
        step(G, D, opt_g, opt_d, batch, size)  # warm-up
        watching.look(0)
        watching.looks, watching.look_seconds = 0, 0.0
        for _ in range(repeats):
            synchronize(device)
            started = time.perf_counter()
            for _ in range(steps):
                step(G, D, opt_g, opt_d, batch, size)
            synchronize(device)
            plain.append((time.perf_counter() - started) / steps)
            started = time.perf_counter()
            for t in range(1, steps + 1):
                step(G, D, opt_g, opt_d, batch, size)
                idle.after_step(t)
            synchronize(device)
            quiet.append((time.perf_counter() - started) / steps)
            before = watching.look_seconds
            for t in range(1, steps + 1):
                watching.look(t)
            looks.append((watching.look_seconds - before) / steps)
        started = time.perf_counter()
        for t in range(1, 100_001):
            idle.after_step(t)
        call = (time.perf_counter() - started) / 100_000
        watching.close(), idle.close()
    parameters = sum(p.numel() for m in (G, D) for p in m.parameters())
    return {
        "loop": name,
        "parameters": parameters,
        "batch": size,
        "samples": samples,
        "step_ms": 1e3 * statistics.median(plain),
        "step_with_after_step_ms": 1e3 * statistics.median(quiet),
        "look_ms": 1e3 * statistics.median(looks),
        "after_step_us": 1e6 * call,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{args.threads} thread(s)"
    print(f"torch {torch.__version__}, {where}, load {os.getloadavg()[0]:.1f}")
    for name, make, size in (("2D MLP", toy2d, 128), ("DCGAN 28x28", dcgan, 64)):
        r = measure(name, make, size, size, args.steps, args.repeats, args.device)
        ratio = r["look_ms"] / r["step_ms"]
        print(
            f"{r['loop']:12s} {r['parameters']:>9,d} params, batch {r['batch']}, evaluation "
            f"samples {r['samples']} (2 games): step {r['step_ms']:.2f} ms, step with after_step() "
            f"{r['step_with_after_step_ms']:.2f} ms (the call alone {r['after_step_us']:.2f} us), "
            f"look {r['look_ms']:.2f} ms "
            f"= {ratio:.2f} steps; per step at every=100: {100 * ratio / 100:.2f}%, "
            f"every=1000: {100 * ratio / 1000:.3f}%"
        )


if __name__ == "__main__":
    main()
