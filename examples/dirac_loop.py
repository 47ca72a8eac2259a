"""A Dirac-GAN trained by a plain PyTorch loop, watched by convergan's monitor.

The Dirac-GAN of Mescheder, Geiger & Nowozin (ICML 2018): the data is a point mass at 0, the
generator is ``G(z) = θ`` and the discriminator ``D(x) = ψ·x``. Trained with the standard GAN
loss, R1 (γ/2)·|∇ₓD(x)|² at the data, plain SGD and alternating steps (D first), it converges
at exactly the spectral radius ``convergan dirac analyze`` computes::

    python examples/dirac_loop.py runs/dirac-loop
    convergan verdict runs/dirac-loop --no-spectrum
    convergan dirac analyze --method r1 --gamma 0.5 --scheme altgd --lr 0.3 \\
        scheme.discriminator_first=true

The loop is ordinary PyTorch; only the three ``monitor`` lines are convergan's.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.nn import functional as F

from convergan.api import Monitor


class Generator(nn.Module):
    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta], dtype=torch.float64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(z.shape[0], 1)  # a point mass at θ, whatever z


class Discriminator(nn.Module):
    def __init__(self, psi: float) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([psi], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.psi * x).sum(dim=1)  # one logit per sample


def train(folder, *, gamma=0.5, lr=0.3, steps=800, every=4, start=(0.01, 0.01)) -> None:
    G, D = Generator(start[0]), Discriminator(start[1])
    opt_g = torch.optim.SGD(G.parameters(), lr=lr)
    opt_d = torch.optim.SGD(D.parameters(), lr=lr)
    real = torch.zeros(1, 1, dtype=torch.float64)  # all the data there is
    z = torch.zeros(1, 1, dtype=torch.float64)  # G ignores it
    # games=1: every batch is the exact expectation, there is no sampling noise to measure
    monitor = Monitor(folder, G, D, "r1", gamma=gamma, real=real, latent=z, every=every, games=1)
    for step in range(1, steps + 1):
        # D: softplus(-D(x)) + softplus(D(G(z))) + (γ/2)|∇ₓD(x)|² at the real data
        x = real.clone().requires_grad_(True)
        d_real = D(x)
        (grad,) = torch.autograd.grad(d_real.sum(), x, create_graph=True)
        r1 = gamma / 2 * grad.pow(2).sum(dim=1).mean()
        d_loss = F.softplus(-d_real).mean() + F.softplus(D(G(z).detach())).mean() + r1
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # G: the saturating loss log(1 - sigmoid(D(G(z)))) = -softplus(D(G(z)))
        g_loss = -F.softplus(D(G(z))).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        monitor.after_step(step)
    monitor.close()


if __name__ == "__main__":
    train(sys.argv[1] if len(sys.argv) > 1 else "runs/dirac-loop")
