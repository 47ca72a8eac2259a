"""R3GAN's players (Huang, Gokaslan, Kuleshov & Tompkin, "The GAN is dead; long live the GAN!
A Modern GAN Baseline", NeurIPS 2024, §4), written from the paper's description, at 28, 32
and 64 px.

The paper modernises a ResNet GAN ("config E"):

* **Stages** at each resolution, from ``s₀ × s₀`` (4 for 32 and 64 px, 7 for 28 px) doubling
  up to the image; each has ``blocks`` residual blocks and one *transition*: bilinear
  up-sampling in G, bilinear down-sampling in D (a fixed [1, 3, 3, 1] low-pass filter, stride
  2), with a 1×1 convolution where the width changes (never here: one width at every
  resolution, as the paper's CIFAR-10 model).
* **Residual blocks** with an *inverted bottleneck* and *grouped convolutions*:
  ``x + conv1×1(act(conv3×3_grouped(act(conv1×1(x)))))``, the 1×1 convolutions widening the
  ``C`` channels to ``expansion·C`` and back, the 3×3 convolution in groups of
  ``group_size`` channels (the paper: expansion 2, group size 16). The activation is a
  learned bias followed by LeakyReLU(0.2).
* **No normalization** anywhere, so every sample is processed on its own (what the gradient
  penalties' per-sample input gradients need; see :mod:`convergan.models.dcgan`).
* **Fix-up initialisation** (Zhang et al., 2019) instead: the last convolution of every
  residual branch starts at zero, so every block starts as the identity, and the other
  layers of a branch are He-initialised (LeakyReLU gain) scaled by ``L^(−1/(2m−2))``, ``L``
  the number of residual blocks of the network and ``m = 3`` the layers of a branch.
* **Ends**: G starts from a learned ``C × s₀ × s₀`` basis modulated channel-wise by a linear
  map of ``z`` and ends in a 1×1 convolution to the image channels (no tanh); D starts with a
  1×1 convolution from the image channels and ends in a depthwise ``s₀ × s₀`` convolution to
  ``C × 1 × 1`` and a linear map to one logit (per class when conditional). Convolutions
  carry no bias of their own (the activations' biases do).

Conditioning follows the other architectures (:mod:`convergan.models.dcgan`): a unit-norm
label code concatenated to ``z``, one D logit per class.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from convergan.models.dcgan import (
    DCGAN_SIZES,
    LEAKY_RELU_SLOPE,
    LabelCode,
    check_num_classes,
    condition_latent,
    select_class_logit,
)

R3GAN_SIZES = dict(DCGAN_SIZES)  # image side -> side of the first stage (7 for 28 px, else 4)
EXPANSION = 2  # inverted bottleneck: 1x1 convolutions widen C to 2C and back (the paper's)
GROUP_SIZE = 16  # channels per group of the 3x3 convolution (the paper's)
BRANCH_LAYERS = 3  # m of the fix-up scaling L^(-1/(2m-2))
LEAKY_RELU_GAIN = math.sqrt(2 / (1 + LEAKY_RELU_SLOPE**2))


def check_r3gan_shape(image_size: int, width: int) -> None:
    if image_size not in R3GAN_SIZES:
        raise ValueError(f"R3GAN image_size must be one of {sorted(R3GAN_SIZES)}, got {image_size}")
    if (EXPANSION * width) % GROUP_SIZE:
        raise ValueError(
            f"R3GAN width must make {EXPANSION}·width a multiple of the group size {GROUP_SIZE} "
            f"(a multiple of {GROUP_SIZE // math.gcd(EXPANSION, GROUP_SIZE)}), got {width}"
        )


def _he_init(layer: nn.Module, gain: float) -> None:
    """``N(0, (gain/√fan_in)²)`` weights, with the fan-in of one output unit."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))


class BiasedLeakyReLU(nn.Module):
    """``LeakyReLU(x + b)`` with a learned per-channel bias ``b`` (starts at 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), LEAKY_RELU_SLOPE)


class ResidualBlock(nn.Module):
    """``x + W₃ σ(W₂ σ(W₁ x))``: 1×1 to ``expansion·C``, grouped 3×3, 1×1 back to ``C``;
    ``W₃ = 0`` at the start and ``W₁``, ``W₂`` scaled by ``total_blocks^(−1/(2m−2))``."""

    def __init__(self, channels: int, total_blocks: int) -> None:
        super().__init__()
        wide = EXPANSION * channels
        self.widen = nn.Conv2d(channels, wide, 1, bias=False)
        self.act1 = BiasedLeakyReLU(wide)
        self.grouped = nn.Conv2d(wide, wide, 3, padding=1, groups=wide // GROUP_SIZE, bias=False)
        self.act2 = BiasedLeakyReLU(wide)
        self.narrow = nn.Conv2d(wide, channels, 1, bias=False)
        gain = LEAKY_RELU_GAIN * total_blocks ** (-1 / (2 * BRANCH_LAYERS - 2))
        _he_init(self.widen, gain)
        _he_init(self.grouped, gain)
        nn.init.zeros_(self.narrow.weight)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.narrow(self.act2(self.grouped(self.act1(self.widen(x)))))


class Resample(nn.Module):
    """Bilinear ×2 up- or down-sampling of every channel: the separable [1, 3, 3, 1] filter,
    applied with stride 2 (a fixed buffer, not a parameter; plain convolutions, so the double
    backward of R1/R2 goes through it)."""

    def __init__(self, up: bool) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.up = up
        # Sums to 1 for down-sampling; ×4 for up-sampling, where each output pixel gets a
        # quarter of the taps.
        self.register_buffer("kernel", torch.outer(taps, taps) / 64 * (4.0 if up else 1.0))

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 4, 4)
        if self.up:
            return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=channels)
        return F.conv2d(x, kernel, stride=2, padding=1, groups=channels)


def _stage_count(image_size: int) -> int:
    return int(math.log2(image_size // R3GAN_SIZES[image_size])) + 1


class R3GANGenerator(nn.Module):
    """``z`` (and a label) to images; ``blocks`` residual blocks per resolution.

    >>> R3GANGenerator(latent_dim=8, image_size=32, width=16, blocks=1)(torch.randn(2, 8)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 32,
        channels: int = 3,
        width: int = 128,
        num_classes: int | None = None,
        *,
        blocks: int = 2,
    ) -> None:
        super().__init__()
        check_r3gan_shape(image_size, width)
        check_num_classes(num_classes)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.num_classes, self.start = num_classes, R3GAN_SIZES[image_size]
        stages = _stage_count(image_size)
        self.label_code = LabelCode(num_classes, latent_dim) if num_classes else None
        in_dim = latent_dim * (2 if num_classes else 1)
        self.modulation = nn.Linear(in_dim, width, bias=False)
        _he_init(self.modulation, 1.0)
        self.basis = nn.Parameter(torch.randn(width, self.start, self.start))
        layers: list[nn.Module] = []
        for stage in range(stages):
            if stage > 0:
                layers.append(Resample(up=True))
            layers += [ResidualBlock(width, stages * blocks) for _ in range(blocks)]
        self.stages = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(width, channels, 1, bias=False)
        _he_init(self.to_image, 1.0)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        scales = self.modulation(condition_latent(z, labels, self.label_code))
        return self.to_image(self.stages(self.basis[None] * scales[:, :, None, None]))


class R3GANDiscriminator(nn.Module):
    """Images to ``(n,)`` logits (of the given labels' classes when conditional).

    >>> R3GANDiscriminator(image_size=28, channels=1, width=16, blocks=1)(
    ...     torch.randn(2, 1, 28, 28)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        width: int = 128,
        num_classes: int | None = None,
        *,
        blocks: int = 2,
    ) -> None:
        super().__init__()
        check_r3gan_shape(image_size, width)
        check_num_classes(num_classes)
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        stages = _stage_count(image_size)
        start = R3GAN_SIZES[image_size]
        self.from_image = nn.Conv2d(channels, width, 1, bias=False)
        _he_init(self.from_image, 1.0)
        layers: list[nn.Module] = []
        for stage in range(stages):
            layers += [ResidualBlock(width, stages * blocks) for _ in range(blocks)]
            if stage < stages - 1:
                layers.append(Resample(up=False))
        self.stages = nn.Sequential(*layers)
        self.basis = nn.Conv2d(width, width, start, groups=width, bias=False)  # to 1x1
        _he_init(self.basis, 1.0)
        self.to_logits = nn.Linear(width, num_classes or 1, bias=False)
        _he_init(self.to_logits, 1.0)

    def class_logits(self, x: Tensor) -> Tensor:
        """All ``(n, num_classes or 1)`` logits, before selecting the labels' ones."""
        return self.to_logits(self.basis(self.stages(self.from_image(x))).flatten(1))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return select_class_logit(self.class_logits(x), labels, self.num_classes)
