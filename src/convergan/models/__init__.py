"""Player networks: 2D MLPs, DCGANs, the paper's ResNets and R3GAN's, registered by architecture
name.

An architecture is a builder ``(model_config, data_shape, num_classes) -> (generator,
discriminator)`` in :data:`~convergan.registry.ARCHITECTURES`; ``model.name`` in a config picks
it. ``data_shape`` is ``(dim,)`` for 2D and Dirac problems and ``(channels, size, size)`` for
images; ``num_classes`` is the number of classes of a conditional model (``None`` otherwise).
"""

from __future__ import annotations

from typing import Any

from convergan.options import ConfigError
from convergan.registry import ARCHITECTURES

DCGAN_IMAGE_SIZES = (28, 32, 64)
DIRAC_INIT_STD = 0.01  # the Dirac players' initial spread (see build_dirac)


def _image_shape(name: str, data_shape: tuple[int, ...]) -> tuple[int, int]:
    """Errors are :class:`ConfigError` (one line naming the key): the data and the model a
    config pairs do not fit."""
    if len(data_shape) != 3:
        raise ConfigError(
            f"model.name: {name} needs image data (channels x size x size), got data of shape "
            f"{tuple(data_shape)}; use model.name=mlp for 2D problems"
        )
    channels, size, _ = data_shape
    return channels, size


@ARCHITECTURES.register("mlp", description="MLP players for 2D problems (width x depth)")
def build_mlp(m: Any, data_shape: tuple[int, ...], num_classes: int | None = None):
    from convergan.models.mlp import MLPDiscriminator, MLPGenerator

    if len(data_shape) != 1:
        raise ConfigError(
            f"model.name: mlp takes flat data (2D problems), got data of shape "
            f"{tuple(data_shape)}; use model.name=dcgan or resnet for images"
        )
    (dim,) = data_shape
    return (
        MLPGenerator(m.latent_dim, out_dim=dim, width=m.width, depth=m.depth),
        MLPDiscriminator(in_dim=dim, width=m.width, depth=m.depth),
    )


@ARCHITECTURES.register("dcgan", description="DCGAN for 28, 32 and 64 px images")
def build_dcgan(m: Any, data_shape: tuple[int, ...], num_classes: int | None = None):
    from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator

    channels, size = _image_shape("dcgan", data_shape)
    if size not in DCGAN_IMAGE_SIZES:
        raise ConfigError(
            f"model.image_size: the DCGAN supports {', '.join(map(str, DCGAN_IMAGE_SIZES))} px "
            f"images, the data has {size}x{size}; set model.image_size to one of them (images "
            "are resized and cropped) or use model.name=resnet"
        )
    return (
        DCGANGenerator(
            m.latent_dim, image_size=size, channels=channels, width=m.width, num_classes=num_classes
        ),
        DCGANDiscriminator(
            image_size=size, channels=channels, width=m.width, num_classes=num_classes
        ),
    )


@ARCHITECTURES.register("resnet", description="the paper's ResNets, 32 to 1024 px")
def build_resnet(m: Any, data_shape: tuple[int, ...], num_classes: int | None = None):
    from convergan.models.resnet import RESNET_SIZES, ResNetDiscriminator, ResNetGenerator

    channels, size = _image_shape("resnet", data_shape)
    if size not in RESNET_SIZES:
        raise ConfigError(
            f"model.image_size: the ResNets support {', '.join(map(str, RESNET_SIZES))} px "
            f"images, the data has {size}x{size}; set model.image_size to one of them (images "
            "are resized and cropped)"
        )
    return (
        ResNetGenerator(
            m.latent_dim, image_size=size, channels=channels, nf=m.width, num_classes=num_classes
        ),
        ResNetDiscriminator(
            image_size=size, channels=channels, nf=m.width, num_classes=num_classes
        ),
    )


@ARCHITECTURES.register(
    "r3gan",
    description="R3GAN (Huang et al., 2024): grouped inverted-bottleneck ResNets, no "
    "normalization, fix-up init; 28, 32 and 64 px",
)
def build_r3gan(m: Any, data_shape: tuple[int, ...], num_classes: int | None = None):
    from convergan.models.r3gan import (
        EXPANSION,
        GROUP_SIZE,
        R3GAN_SIZES,
        R3GANDiscriminator,
        R3GANGenerator,
    )

    channels, size = _image_shape("r3gan", data_shape)
    if size not in R3GAN_SIZES:
        raise ConfigError(
            f"model.image_size: R3GAN supports {', '.join(map(str, R3GAN_SIZES))} px images, "
            f"the data has {size}x{size}; set model.image_size to one of them (images are "
            "resized and cropped)"
        )
    if (EXPANSION * m.width) % GROUP_SIZE:
        raise ConfigError(
            f"model.width: R3GAN widens to {EXPANSION}·width channels in groups of {GROUP_SIZE}, "
            f"so width must be a multiple of {GROUP_SIZE // EXPANSION}, got {m.width}"
        )
    # model.depth is the number of residual blocks per resolution (the paper: 2).
    return (
        R3GANGenerator(
            m.latent_dim,
            image_size=size,
            channels=channels,
            width=m.width,
            num_classes=num_classes,
            blocks=m.depth,
        ),
        R3GANDiscriminator(
            image_size=size,
            channels=channels,
            width=m.width,
            num_classes=num_classes,
            blocks=m.depth,
        ),
    )


@ARCHITECTURES.register("dirac", description="the Dirac-GAN's players: G = θ, D(x) = ψᵀx")
def build_dirac(m: Any, data_shape: tuple[int, ...], num_classes: int | None = None):
    """``θ, ψ ∈ R^d`` drawn from N(0, 0.01²) (seeded by the run), in float64 like the exact
    analysis; the latent is ignored. Starting that close to the equilibrium keeps the game in
    its linear regime (|ψᵀθ| ≪ 1) over thousands of steps even of the schemes that diverge,
    which is where the exact analysis speaks (``dirac simulate --start`` for the rest)."""
    import torch

    from convergan.games.dirac import DiracDiscriminator, DiracGenerator

    if len(data_shape) != 1:
        raise ConfigError(
            f"model.name: dirac takes points in R^d (the dirac problems), got data of shape "
            f"{tuple(data_shape)}"
        )
    (dim,) = data_shape
    players = (
        DiracGenerator(dim=dim, latent_dim=m.latent_dim).double(),
        DiracDiscriminator(dim=dim).double(),
    )
    with torch.no_grad():
        for player in players:
            for parameter in player.parameters():
                parameter.normal_(0.0, DIRAC_INIT_STD)
    return players
