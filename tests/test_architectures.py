"""DCGAN and ResNet players: shapes, conditioning, no coupling between samples in D."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from convergan.models.resnet import ResidualBlock, ResNetDiscriminator, ResNetGenerator

TINY_RESNET = {"nf": 4, "nf_max": 16}


def _discriminators() -> list[nn.Module]:
    return [
        DCGANDiscriminator(28, 1, width=4),
        DCGANDiscriminator(64, 3, width=4, num_classes=5),
        ResNetDiscriminator(32, 3, **TINY_RESNET),
        ResNetDiscriminator(32, 1, **TINY_RESNET, num_classes=3, blocks_per_stage=2),
    ]


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size: int, channels: int) -> None:
    generator = DCGANGenerator(latent_dim=16, image_size=size, channels=channels, width=8)
    discriminator = DCGANDiscriminator(image_size=size, channels=channels, width=8)
    images = generator(torch.randn(3, 16))
    assert images.shape == (3, channels, size, size)
    assert images.abs().max() <= 1
    assert discriminator(images).shape == (3,)


@pytest.mark.parametrize(("size", "blocks_per_stage"), [(32, 1), (32, 2), (64, 1)])
def test_resnet_shapes(size: int, blocks_per_stage: int) -> None:
    generator = ResNetGenerator(8, size, 3, **TINY_RESNET, blocks_per_stage=blocks_per_stage)
    discriminator = ResNetDiscriminator(size, 3, **TINY_RESNET, blocks_per_stage=blocks_per_stage)
    images = generator(torch.randn(2, 8))
    assert images.shape == (2, 3, size, size) and images.abs().max() <= 1
    assert discriminator(images).shape == (2,)
    stages = {32: 3, 64: 4}[size]
    for player in (generator, discriminator):
        assert player.num_stages == stages
        assert player.num_blocks == (stages + 1) * blocks_per_stage


def test_resnet_1024_layout_without_running_it() -> None:
    generator = ResNetGenerator(4, 1024, 3, nf=2, nf_max=4)
    discriminator = ResNetDiscriminator(1024, 3, nf=2, nf_max=4, blocks_per_stage=2)
    assert generator.num_stages == discriminator.num_stages == 8  # log2(1024 / 4)
    assert generator.num_blocks == 9 and discriminator.num_blocks == 18
    blocks = [m for m in discriminator.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 18
    # widths min(nf * 2^(8 - level), nf_max): capped at 4 from level 7 (8x8) down to 4x4
    assert generator.project.out_features == 4 * 4 * 4
    assert discriminator.fc.in_features == 4 * 4 * 4
    assert discriminator.from_image.out_channels == 2 and generator.to_image.in_channels == 2


def test_residual_block_scales_its_branch_by_a_tenth() -> None:
    block = ResidualBlock(3, 3)
    x = torch.randn(2, 3, 5, 5)
    act = nn.LeakyReLU(0.2)
    branch = block.conv_1(act(block.conv_0(act(x))))
    torch.testing.assert_close(block(x), x + 0.1 * branch)
    widening = ResidualBlock(3, 6)
    assert widening.conv_0.out_channels == 3 and widening.shortcut.bias is None


def test_invalid_sizes_and_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="image_size"):
        DCGANGenerator(image_size=48)
    with pytest.raises(ValueError, match="image_size"):
        ResNetDiscriminator(image_size=48)
    with pytest.raises(ValueError, match="num_classes"):
        DCGANDiscriminator(num_classes=0)


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
def test_conditional_discriminator_returns_the_labels_logit(family: str) -> None:
    torch.manual_seed(0)
    if family == "dcgan":
        discriminator = DCGANDiscriminator(32, 3, width=4, num_classes=7)
    else:
        discriminator = ResNetDiscriminator(32, 3, **TINY_RESNET, num_classes=7)
    x, labels = torch.randn(5, 3, 32, 32), torch.tensor([6, 0, 3, 3, 1])
    all_logits = discriminator.class_logits(x)
    assert all_logits.shape == (5, 7)
    manual = torch.stack([all_logits[i, labels[i]] for i in range(5)])
    torch.testing.assert_close(discriminator(x, labels), manual)
    with pytest.raises(ValueError, match="needs labels"):
        discriminator(x)


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
def test_conditional_generator_uses_the_label(family: str) -> None:
    torch.manual_seed(0)
    if family == "dcgan":
        generator = DCGANGenerator(8, 28, 1, width=4, num_classes=3)
    else:
        generator = ResNetGenerator(8, 32, 3, **TINY_RESNET, num_classes=3, embed_dim=5)
    z = torch.randn(1, 8).expand(3, 8)
    images = generator(z, torch.tensor([0, 1, 2]))
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[1], images[2])
    torch.testing.assert_close(generator(z[:1], torch.tensor([1])), images[1:2])
    with pytest.raises(ValueError, match="needs labels"):
        generator(z)


def test_unconditional_players_ignore_labels() -> None:
    generator = DCGANGenerator(8, 28, 1, width=4)
    discriminator = ResNetDiscriminator(32, 3, **TINY_RESNET)
    z, x, labels = torch.randn(2, 8), torch.randn(2, 3, 32, 32), torch.tensor([4, 9])
    torch.testing.assert_close(generator(z, labels), generator(z))
    torch.testing.assert_close(discriminator(x, labels), discriminator(x))


def test_no_batch_norm_in_any_discriminator() -> None:
    for discriminator in _discriminators():
        found = [type(m).__name__ for m in discriminator.modules() if isinstance(m, _BatchNorm)]
        assert not found, f"{type(discriminator).__name__} has {found}"


def test_generator_batch_norm_is_opt_in() -> None:
    def has_bn(module: nn.Module) -> bool:
        return any(isinstance(m, _BatchNorm) for m in module.modules())

    assert not has_bn(DCGANGenerator(8, 32, 3, width=4))
    assert not has_bn(ResNetGenerator(8, 32, 3, **TINY_RESNET))
    assert has_bn(DCGANGenerator(8, 32, 3, width=4, batch_norm=True))


@pytest.mark.parametrize("index", range(4))
def test_discriminator_input_gradients_are_per_sample(index: int) -> None:
    """The gradient reaches the input, and D(x_0) does not depend on x_1 (what R1 assumes)."""
    torch.manual_seed(index)
    discriminator = _discriminators()[index]
    x = torch.randn(3, discriminator.channels, discriminator.image_size, discriminator.image_size)
    x.requires_grad_(True)
    labels = torch.tensor([0, 1, 2])
    (grad,) = torch.autograd.grad(discriminator(x, labels)[0], x)
    assert torch.isfinite(grad).all() and grad[0].abs().sum() > 0
    assert grad[1:].abs().max() == 0
    (batch_grad,) = torch.autograd.grad(discriminator(x, labels).sum(), x, create_graph=True)
    (penalty_grad,) = torch.autograd.grad(
        batch_grad.square().sum(), list(discriminator.parameters())[0]
    )
    assert torch.isfinite(penalty_grad).all() and penalty_grad.abs().sum() > 0


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
def test_gradient_reaches_generator_parameters_and_latent(family: str) -> None:
    if family == "dcgan":
        generator = DCGANGenerator(8, 28, 1, width=4, num_classes=2)
    else:
        generator = ResNetGenerator(8, 32, 3, **TINY_RESNET, num_classes=2)
    z = torch.randn(2, 8, requires_grad=True)
    generator(z, torch.tensor([0, 1])).square().sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(p.grad is not None for p in generator.parameters())
