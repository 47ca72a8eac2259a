"""A conditional DCGAN-style pair called ``G(z, c)`` and ``D(x, c)`` (the signatures of
StyleGAN2-ADA and R3GAN: ``c`` a one-hot class vector, D returning an ``(n, 1)`` logit),
analysed through convergan's adapter: the leading eigenvalues of the game's Jacobian, the
spectral radius of the Adam steps the loop takes, and the path-angle across some training.

Nothing in the networks or the loop is convergan's; the analysis sees them through
``adapt_generator`` / ``adapt_discriminator``::

    python examples/conditional_dcgan.py
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from convergan import api

CLASSES, LATENT, SIZE = 3, 4, 8
WIDTH = 2  # channels: tiny, so that a test can form the Jacobian densely to check against


class Generator(nn.Module):
    """``G(z, c)``: ``z`` of shape ``(n, 4)``, ``c`` one-hot ``(n, 3)`` → ``(n, 1, 8, 8)``."""

    def __init__(self) -> None:
        super().__init__()
        self.project = nn.Linear(LATENT + CLASSES, WIDTH * 2 * 2)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(WIDTH, WIDTH, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(WIDTH, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.project(torch.cat([z, c], dim=1)), 0.2)
        return self.up(h.view(-1, WIDTH, 2, 2))


class Discriminator(nn.Module):
    """``D(x, c)``: images and one-hot classes → ``(n, 1)`` logits (the class as channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1 + CLASSES, WIDTH, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(WIDTH, WIDTH, 4, 2, 1),
            nn.LeakyReLU(0.2),
        )
        self.logit = nn.Linear(WIDTH * 2 * 2, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        planes = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.logit(self.features(torch.cat([x, planes], dim=1)).flatten(1))


def images(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Toy data: a bright square whose corner is the class, plus noise, in [-1, 1]."""
    x = -torch.ones(len(labels), 1, SIZE, SIZE)
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(2 * label, SIZE // 2)
        x[i, :, row : row + 4, col : col + 4] = 1.0
    return (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


def batch(n: int, generator: torch.Generator):
    labels = torch.randint(CLASSES, (n,), generator=generator)
    c = F.one_hot(labels, CLASSES).float()
    return images(labels, generator), torch.randn(n, LATENT, generator=generator), c


def train(G, D, opt_g, opt_d, steps: int, data: torch.Generator, gamma: float = 1.0) -> None:
    """Alternating Adam steps, D first, non-saturating loss + R1 written by hand."""
    for _ in range(steps):
        real, z, c = batch(32, data)
        real.requires_grad_(True)
        d_real = D(real, c)
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        r1 = gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()
        d_loss = F.softplus(-d_real).mean() + F.softplus(D(G(z, c).detach(), c)).mean() + r1
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        _, z, c = batch(32, data)
        g_loss = F.softplus(-D(G(z, c), c)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()


def run(steps: int = 20, gamma: float = 1.0) -> dict:
    """Train a little, then ask convergan about the pair; returns the players, optimizers,
    evaluation game and every record."""
    torch.manual_seed(0)
    G, D = Generator(), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.99))
    data = torch.Generator().manual_seed(1)
    real, z, c = batch(16, torch.Generator().manual_seed(2))  # the fixed evaluation game

    game = api.make_game(
        api.adapt_generator(G),  # called as G(z, c)
        api.adapt_discriminator(D),  # called as D(x, c); its (n, 1) output read per sample
        "nsgan-r1",
        gamma=gamma,
        real=real,
        latent=z,
        labels=c,  # passed as c to both
    )
    before = game.parameters()
    train(G, D, opt_g, opt_d, steps, data, gamma)
    return {
        "G": G,
        "D": D,
        "optimizers": (opt_g, opt_d),
        "evaluation_game": (real, z, c),
        "before": before,
        "eigenvalues": api.eigenvalues(game, k=4, which="LR", float64=True),
        "spectral_radius": api.spectral_radius(game, optimizers=[opt_g, opt_d], float64=True),
        "path_angle": api.path_angle(game, before, points=7, float64=True),
    }


if __name__ == "__main__":
    records = run()
    values = ", ".join(f"{v.real:+.4g}{v.imag:+.4g}i" for v in records["eigenvalues"].eigenvalues)
    print(f"leading eigenvalues of J (largest real part): {values}")
    radius = records["spectral_radius"]
    print(f"spectral radius of the Adam steps now: {radius.spectral_radius:.6g} ({radius.verdict})")
    cosines = ", ".join(f"{c:+.3f}" for c in records["path_angle"].cosine)
    print(f"path-angle cosine along the training segment: {cosines}")
