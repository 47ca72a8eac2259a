"""From a config to the pieces of a game: players, real-data stream and batch sampler.

The sampler is where all training randomness lives (DESIGN: randomness in the batch, never in
the method): real data from a resumable stream, latents, instance-noise draws and interpolation
coefficients from its own ``torch.Generator``. Its state goes into every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from convergan.config.schema import DATA_2D, Config
from convergan.methods.batch import Batch
from convergan.methods.method import Method


@dataclass
class Players:
    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    data_shape: tuple[int, ...]
    num_classes: int | None = None


def is_toy2d(config: Config) -> bool:
    return config.data.name in DATA_2D


def make_real_stream(config: Config, rank: int = 0, world_size: int = 1):
    """An infinite, resumable iterator of real batches (a tensor, or (images, labels))."""
    seed = config.seed * 1000 + rank
    if is_toy2d(config):
        from convergan.data.toy2d import Toy2DStream, make_toy2d

        kwargs = {}
        if config.data.noise_std > 0:
            if config.data.name not in ("gaussian", "ring8", "grid25"):
                raise ValueError("data.noise_std applies to gaussian, ring8 and grid25 only")
            kwargs = {"std": config.data.noise_std}
        return Toy2DStream(
            make_toy2d(config.data.name, **kwargs), config.data.batch_size, seed=seed
        )
    from convergan.data.images import make_dataloader, make_image_dataset

    dataset = make_image_dataset(
        config.data.name, path=config.data.path, image_size=config.model.image_size
    )
    sampler = None
    if world_size > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, seed=config.seed, drop_last=True
        )
    return make_dataloader(
        dataset,
        config.data.batch_size,
        num_workers=config.data.num_workers,
        seed=seed,
        sampler=sampler,
    )


def make_players(
    config: Config, data_shape: tuple[int, ...], num_classes: int | None = None
) -> Players:
    m = config.model
    torch.manual_seed(config.seed)  # identical initial players on every process
    if m.name == "mlp":
        from convergan.models.mlp import MLPDiscriminator, MLPGenerator

        (dim,) = data_shape
        return Players(
            MLPGenerator(m.latent_dim, out_dim=dim, width=m.width, depth=m.depth),
            MLPDiscriminator(in_dim=dim, width=m.width, depth=m.depth),
            m.latent_dim,
            data_shape,
        )
    channels, size, _ = data_shape
    classes = (m.num_classes or num_classes) if m.conditional else None
    if m.name == "dcgan":
        from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator

        g = DCGANGenerator(
            m.latent_dim, image_size=size, channels=channels, width=m.width, num_classes=classes
        )
        d = DCGANDiscriminator(
            image_size=size, channels=channels, width=m.width, num_classes=classes
        )
    elif m.name == "resnet":
        from convergan.models.resnet import ResNetDiscriminator, ResNetGenerator

        g = ResNetGenerator(
            m.latent_dim, image_size=size, channels=channels, nf=m.width, num_classes=classes
        )
        d = ResNetDiscriminator(image_size=size, channels=channels, nf=m.width, num_classes=classes)
    else:
        raise ValueError(f"unknown model {m.name!r}")
    return Players(g, d, m.latent_dim, data_shape, classes)


class BatchSampler:
    """Draws one :class:`Batch` per call: real data plus latents, noise and interpolation."""

    def __init__(
        self,
        real_stream,
        latent_dim: int,
        batch_size: int,
        method: Method,
        seed: int,
        device: torch.device | str = "cpu",
        conditional: bool = False,
    ) -> None:
        self.real_stream = real_stream
        self.latent_dim = latent_dim
        self.batch_size = batch_size
        self.with_noise = method.noise is not None
        self.conditional = conditional
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> Batch:
        real = next(self.real_stream)
        labels = None
        if isinstance(real, (tuple, list)):
            real, labels = real
        n = real.shape[0]
        g = self.generator
        latent = torch.randn(n, self.latent_dim, generator=g)
        real_noise = torch.randn(real.shape, generator=g) if self.with_noise else None
        fake_noise = torch.randn(real.shape, generator=g) if self.with_noise else None
        interpolation = torch.rand(n, generator=g)
        batch = Batch(
            real=real,
            latent=latent,
            real_noise=real_noise,
            fake_noise=fake_noise,
            interpolation=interpolation,
            labels=labels if self.conditional else None,
        )
        return batch.to(self.device) if self.device.type != "cpu" else batch

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "real_stream": self.real_stream.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.real_stream.load_state_dict(state["real_stream"])


def sample_latents(n: int, latent_dim: int, seed: int) -> Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
