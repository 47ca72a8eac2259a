"""A 2D GAN trained by a plain PyTorch loop (MLP players, R1 written by hand, Adam), watched by
convergan's monitor.

The loop is what one would write anywhere: alternating steps, the discriminator first, each
update on a fresh minibatch; the non-saturating loss, R1 = (γ/2)·E‖∇ₓD(x)‖² on the real data
computed with ``torch.autograd.grad``, and ``torch.optim.Adam``. The monitor adds three lines
and does not change a bit of the training (tests/test_examples.py checks that its
diagnostics equal those of ``convergan train`` on the same seeds, data and method)::

    python examples/toy2d_loop.py runs/toy2d-loop
    convergan verdict runs/toy2d-loop --no-spectrum
"""

from __future__ import annotations

import math
import sys

import torch
from torch import nn
from torch.nn import functional as F

from convergan.api import Monitor


def mlp(inputs: int, outputs: int, width: int = 64, depth: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.LeakyReLU(0.2)]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, outputs))


class Discriminator(nn.Module):
    def __init__(self, width: int = 64, depth: int = 2) -> None:
        super().__init__()
        self.net = mlp(2, 1, width, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)  # one logit per sample


def train(
    G: nn.Module,
    D: nn.Module,
    sample_batch,
    folder,
    *,
    eval_real: torch.Tensor,
    eval_latent: torch.Tensor,
    steps: int = 2000,
    gamma: float = 1.0,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.0, 0.99),
    every: int = 50,
) -> None:
    """Train ``G`` and ``D`` on minibatches ``(real, z) = sample_batch()``."""
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    monitor = Monitor(
        folder, G, D, "nsgan-r1", gamma=gamma, real=eval_real, latent=eval_latent, every=every
    )
    for step in range(1, steps + 1):
        real, z = sample_batch()
        real = real.detach().requires_grad_(True)
        d_real, d_fake = D(real), D(G(z).detach())
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        r1 = gamma / 2 * grad.pow(2).sum(dim=1).mean()
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean() + r1
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        _, z = sample_batch()
        g_loss = F.softplus(-D(G(z))).mean()  # non-saturating
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        monitor.after_step(step)
    monitor.close()


def ring(n: int, generator: torch.Generator) -> torch.Tensor:
    """Eight Gaussians on the unit circle."""
    angles = torch.randint(8, (n,), generator=generator) * (2 * math.pi / 8)
    centers = torch.stack([angles.cos(), angles.sin()], dim=1)
    return centers + 0.05 * torch.randn(n, 2, generator=generator)


def main(folder: str) -> None:
    torch.manual_seed(0)
    latent_dim, batch = 16, 128
    G, D = mlp(latent_dim, 2), Discriminator()
    data = torch.Generator().manual_seed(1)

    def sample_batch():
        return ring(batch, data), torch.randn(batch, latent_dim, generator=data)

    held_out = torch.Generator().manual_seed(2)  # the fixed evaluation game
    eval_real, eval_latent = ring(512, held_out), torch.randn(512, latent_dim, generator=held_out)
    train(G, D, sample_batch, folder, eval_real=eval_real, eval_latent=eval_latent)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/toy2d-loop")
