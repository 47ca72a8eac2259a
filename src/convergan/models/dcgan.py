"""DCGAN players (Radford et al., 2016) for 28, 32 and 64 pixel images, optionally conditional.

* Generator: ``z → Linear → (c₀, s₀, s₀) → [ConvTranspose 4×4/2 → ReLU]* → ConvTranspose →
  tanh``, doubling the resolution per layer and halving the width, from ``s₀ = 7`` (28 px) or
  ``s₀ = 4`` (32 and 64 px) to the image.
* Discriminator: the mirror image, ``[Conv 4×4/2 → LeakyReLU(0.2)]* → Linear``, returning one
  logit per sample, shape ``(n,)``.

**No batch norm in the discriminator.** The gradient penalties (R1, R2, WGAN-GP) need the
per-sample input gradient ``∇_x D(x_i)`` and compute it for a whole batch as
``∇_x Σ_i D(x_i)``. That is exact only if ``D(x_i)`` does not depend on the other samples;
batch norm couples them, so the "per-sample" gradient would mix in the rest of the batch (and
real and fake batches would see different statistics). Classic DCGANs use it; we do not.

**Generator batch norm is off by default** (``batch_norm=True`` gives the classic DCGAN). The
paper's ResNets use no normalisation at all, and without it ``G(z_i)`` depends on ``z_i`` only:
samples do not change between train and eval mode, an EMA copy of G needs no running
statistics, and data-parallel replicas cannot disagree on batch statistics.

**Conditioning**, as in GAN_stability: the generator concatenates ``z`` with a learned label
embedding normalised to unit length (so the label code cannot outgrow ``z``); the
discriminator outputs one logit per class and returns the one of the sample's label.
Unconditional players accept and ignore ``labels``, so a trainer can call every player as
``G(z, labels)`` and ``D(x, labels)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "DCGAN_SIZES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "LabelCode",
    "condition_latent",
    "select_class_logit",
]

LEAKY_RELU_SLOPE = 0.2
DCGAN_SIZES = {28: 7, 32: 4, 64: 4}  # image size -> side of the first feature map


class LabelCode(nn.Module):
    """Unit-norm learned embedding of a class label, concatenated to the generator's ``z``."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_classes, dim)

    def forward(self, labels: Tensor) -> Tensor:
        code = self.embedding(labels)
        return code / code.norm(dim=1, keepdim=True).clamp_min(1e-12)


def check_image_size(image_size: int) -> None:
    if image_size not in DCGAN_SIZES:
        raise ValueError(
            f"DCGAN image_size must be one of {sorted(DCGAN_SIZES)}, got {image_size!r}"
        )


def check_num_classes(num_classes: int | None) -> None:
    """Conditional models take a positive class count; None means unconditional."""
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be None or a positive int, got {num_classes!r}")


def condition_latent(z: Tensor, labels: Tensor | None, code: LabelCode | None) -> Tensor:
    """``z`` for an unconditional generator (``code is None``), else ``[z, code(labels)]``."""
    if code is None:
        return z
    if labels is None:
        raise ValueError("a conditional generator needs labels: call G(z, labels)")
    return torch.cat([z, code(labels)], dim=1)


def select_class_logit(logits: Tensor, labels: Tensor | None, num_classes: int | None) -> Tensor:
    """``(n,)`` logits: column 0 when unconditional, else column ``labels[i]`` of row ``i``."""
    if num_classes is None:
        return logits[:, 0]
    if labels is None:
        raise ValueError("a conditional discriminator needs labels: call D(x, labels)")
    return logits.gather(1, labels.long().view(-1, 1)).squeeze(1)


class DCGANGenerator(nn.Module):
    """Maps ``z ~ N(0, I)`` of size ``latent_dim`` (and a label) to images in ``[-1, 1]``.

    >>> DCGANGenerator(latent_dim=8, image_size=28, width=4)(torch.randn(2, 8)).shape
    torch.Size([2, 1, 28, 28])
    """

    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 28,
        channels: int = 1,
        width: int = 64,
        num_classes: int | None = None,
        *,
        embed_dim: int | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        check_image_size(image_size)
        check_num_classes(num_classes)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.num_classes = num_classes
        self.start = DCGAN_SIZES[image_size]
        num_up = int(math.log2(image_size // self.start))
        self.start_width = width * 2 ** (num_up - 1)
        embed_dim = latent_dim if embed_dim is None else embed_dim
        self.label_code = LabelCode(num_classes, embed_dim) if num_classes else None
        in_dim = latent_dim + (embed_dim if num_classes else 0)
        self.project = nn.Linear(in_dim, self.start_width * self.start**2)

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        layers: list[nn.Module] = [norm(self.start_width), nn.ReLU()]
        c = self.start_width
        for _ in range(num_up - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1), norm(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.project(condition_latent(z, labels, self.label_code))
        return self.net(h.view(-1, self.start_width, self.start, self.start))


class DCGANDiscriminator(nn.Module):
    """Maps images to ``(n,)`` logits (of the given labels' classes when conditional).

    >>> DCGANDiscriminator(image_size=32, channels=3, width=4)(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        width: int = 64,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        check_image_size(image_size)
        check_num_classes(num_classes)
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        num_down = int(math.log2(image_size // DCGAN_SIZES[image_size]))
        layers: list[nn.Module] = []
        c_in, c_out = channels, width
        for _ in range(num_down):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(LEAKY_RELU_SLOPE)]
            c_in, c_out = c_out, c_out * 2
        layers += [nn.Flatten(), nn.Linear(c_in * DCGAN_SIZES[image_size] ** 2, num_classes or 1)]
        self.net = nn.Sequential(*layers)

    def class_logits(self, x: Tensor) -> Tensor:
        """All ``(n, num_classes or 1)`` logits, before selecting the labels' ones."""
        return self.net(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return select_class_logit(self.class_logits(x), labels, self.num_classes)
