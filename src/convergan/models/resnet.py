"""The ResNet players of Mescheder et al. (2018), for 32 to 1024 pixel images.

The family of the paper's CelebA-HQ, LSUN and ImageNet experiments (GAN_stability's
``resnet`` / ``resnet2`` models), written from its description:

* **Residual blocks** ``x ↦ s(x) + 0.1 · conv₃ₓ₃(φ(conv₃ₓ₃(φ(x))))`` with ``φ`` the leaky ReLU
  of slope 0.2 and ``s`` the identity, or a bias-free 1×1 convolution when the width changes.
  Scaling the branch by 0.1 keeps every block close to the identity at initialisation, which
  is what lets these networks train **without any normalisation layer**: no batch norm (it
  would break the per-sample input gradients of R1/R2, see :mod:`convergan.models.dcgan`),
  no spectral norm (the paper's point is that R1 alone suffices).
* **Resolutions** ``4, 8, …, image_size``: ``n = log2(image_size / 4)`` up- (G, nearest
  neighbour) or down-samplings (D, 3×3 average pooling, stride 2), with one group of
  ``blocks_per_stage`` blocks at each of the ``n + 1`` resolutions. ``blocks_per_stage=1`` is
  the ``resnet`` layout, 2 the deeper ``resnet2`` one.
* **Widths** ``min(nf · 2^(n − l), nf_max)`` at level ``l`` (``l = 0`` is 4×4): ``nf`` at full
  resolution, doubling per halving of the resolution up to ``nf_max``. Width changes happen
  at the lower of the two resolutions, where convolutions are cheaper.
* **Ends**: G maps ``z`` (with a unit-norm label code when conditional) through a linear layer
  to the 4×4 features and finishes with ``tanh(conv₃ₓ₃(φ(h)))``; D starts with a 3×3
  convolution and ends with a linear layer on ``φ(h)``, one logit per class when conditional.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from convergan.models.dcgan import (
    LabelCode,
    check_num_classes,
    condition_latent,
    select_class_logit,
)

__all__ = ["RESNET_SIZES", "ResNetDiscriminator", "ResNetGenerator", "ResidualBlock"]

LEAKY_RELU_SLOPE = 0.2
RESIDUAL_SCALE = 0.1
RESNET_SIZES = (32, 64, 128, 256, 512, 1024)
START = 4  # side of the lowest-resolution feature map


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, LEAKY_RELU_SLOPE)


class ResidualBlock(nn.Module):
    """``s(x) + 0.1 · conv(φ(conv(φ(x))))``; the hidden width is ``min(in, out)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = min(in_channels, out_channels)
        self.conv_0 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.conv_1 = nn.Conv2d(hidden, out_channels, 3, padding=1)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + RESIDUAL_SCALE * self.conv_1(_act(self.conv_0(_act(x))))


def _levels(image_size: int, nf: int, nf_max: int, blocks_per_stage: int) -> list[int]:
    """Validate the shared arguments; widths per level, from 4×4 (level 0) to full size."""
    if image_size not in RESNET_SIZES:
        raise ValueError(f"ResNet image_size must be one of {RESNET_SIZES}, got {image_size!r}")
    if nf < 1 or nf_max < 1 or blocks_per_stage < 1:
        raise ValueError(
            f"nf, nf_max and blocks_per_stage must be ≥ 1, got {nf}, {nf_max}, {blocks_per_stage}"
        )
    n = int(math.log2(image_size // START))
    return [min(nf * 2 ** (n - level), nf_max) for level in range(n + 1)]


class ResNetGenerator(nn.Module):
    """Maps ``z`` (and a label when conditional) to ``channels × image_size²`` images in [-1, 1].

    >>> import torch
    >>> ResNetGenerator(latent_dim=8, image_size=32, nf=4)(torch.randn(2, 8)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        latent_dim: int = 256,
        image_size: int = 64,
        channels: int = 3,
        nf: int = 64,
        nf_max: int = 512,
        num_classes: int | None = None,
        *,
        embed_dim: int | None = None,
        blocks_per_stage: int = 1,
    ) -> None:
        super().__init__()
        widths = _levels(image_size, nf, nf_max, blocks_per_stage)
        check_num_classes(num_classes)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.num_classes, self.num_stages = num_classes, len(widths) - 1
        embed_dim = latent_dim if embed_dim is None else embed_dim
        self.label_code = LabelCode(num_classes, embed_dim) if num_classes else None
        in_dim = latent_dim + (embed_dim if num_classes else 0)
        self.project = nn.Linear(in_dim, widths[0] * START * START)
        self.stages = nn.ModuleList()
        for level, width in enumerate(widths):
            out = widths[min(level + 1, self.num_stages)]  # next level's width, before upsampling
            blocks = [ResidualBlock(width, width) for _ in range(blocks_per_stage - 1)]
            self.stages.append(nn.Sequential(*blocks, ResidualBlock(width, out)))
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)
        self._start_width = widths[0]

    @property
    def num_blocks(self) -> int:
        """Residual blocks in all: ``(num_stages + 1) · blocks_per_stage``."""
        return sum(len(stage) for stage in self.stages)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.project(condition_latent(z, labels, self.label_code))
        h = h.view(-1, self._start_width, START, START)
        for level, stage in enumerate(self.stages):
            if level > 0:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = stage(h)
        return self.to_image(_act(h)).tanh()


class ResNetDiscriminator(nn.Module):
    """Maps images to ``(n,)`` logits (of the given labels' classes when conditional).

    >>> import torch
    >>> ResNetDiscriminator(image_size=32, nf=4)(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        nf: int = 64,
        nf_max: int = 512,
        num_classes: int | None = None,
        *,
        blocks_per_stage: int = 1,
    ) -> None:
        super().__init__()
        widths = _levels(image_size, nf, nf_max, blocks_per_stage)
        check_num_classes(num_classes)
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.num_stages = len(widths) - 1
        self.from_image = nn.Conv2d(channels, widths[-1], 3, padding=1)
        self.stages = nn.ModuleList()
        for level in reversed(range(len(widths))):  # full resolution first
            in_width = widths[min(level + 1, self.num_stages)]  # previous level, after pooling
            blocks = [
                ResidualBlock(widths[level], widths[level]) for _ in range(blocks_per_stage - 1)
            ]
            self.stages.append(nn.Sequential(ResidualBlock(in_width, widths[level]), *blocks))
        self.fc = nn.Linear(widths[0] * START * START, num_classes or 1)

    @property
    def num_blocks(self) -> int:
        """Residual blocks in all: ``(num_stages + 1) · blocks_per_stage``."""
        return sum(len(stage) for stage in self.stages)

    def class_logits(self, x: Tensor) -> Tensor:
        """All ``(n, num_classes or 1)`` logits, before selecting the labels' ones."""
        h = self.from_image(x)
        for index, stage in enumerate(self.stages):
            if index > 0:
                h = F.avg_pool2d(h, 3, stride=2, padding=1)
            h = stage(h)
        return self.fc(_act(h.flatten(1)))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return select_class_logit(self.class_logits(x), labels, self.num_classes)
