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

from convergan.config.schema import Config
from convergan.methods.batch import Batch
from convergan.methods.method import Method
from convergan.registry import ARCHITECTURES, PROBLEMS_2D


@dataclass
class Players:
    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    data_shape: tuple[int, ...]
    num_classes: int | None = None


def is_toy2d(config: Config) -> bool:
    return config.data.name in PROBLEMS_2D


def make_real_stream(config: Config, world_size: int = 1):
    """An infinite, resumable iterator of *global* real batches (``batch_size × world_size``
    rows: a tensor, or (images, labels)). Every process draws the same global batch and keeps
    its own slice (see :class:`BatchSampler`), so a run on N processes sees exactly the data of
    a 1-process run with an N-times larger batch, and its position can be resumed on any
    number of processes with the same global batch. The price is that every process loads the
    whole global batch, which is negligible for 2D problems and small images.
    """
    global_batch = config.data.batch_size * world_size
    if is_toy2d(config):
        from convergan.data.toy2d import Toy2DStream, make_toy2d

        kwargs = {}
        if config.data.noise_std > 0:
            if config.data.name not in ("gaussian", "ring8", "grid25"):
                raise ValueError("data.noise_std applies to gaussian, ring8 and grid25 only")
            kwargs = {"std": config.data.noise_std}
        problem = make_toy2d(config.data.name, **kwargs)
        return Toy2DStream(problem, global_batch, seed=config.seed * 1000)
    from convergan.data.images import make_dataloader, make_image_dataset

    dataset = make_image_dataset(
        config.data.name, path=config.data.path, image_size=config.model.image_size
    )
    return make_dataloader(
        dataset, global_batch, num_workers=config.data.num_workers, seed=config.seed * 1000
    )


def make_players(
    config: Config, data_shape: tuple[int, ...], num_classes: int | None = None
) -> Players:
    m = config.model
    torch.manual_seed(config.seed)  # identical initial players on every process
    classes = (m.num_classes or num_classes) if m.conditional else None
    generator, discriminator = ARCHITECTURES[m.name](m, data_shape, classes)
    return Players(generator, discriminator, m.latent_dim, data_shape, classes)


class BatchSampler:
    """Draws one :class:`Batch` per call: real data plus latents, noise and interpolation.

    All processes draw the same global batch from identically seeded streams and generators;
    process ``rank`` keeps rows ``[rank·b, (rank+1)·b)``.
    """

    def __init__(
        self,
        real_stream,
        latent_dim: int,
        batch_size: int,
        method: Method,
        seed: int,
        device: torch.device | str = "cpu",
        conditional: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.real_stream = real_stream
        self.latent_dim = latent_dim
        self.batch_size = batch_size
        self.with_noise = method.noise is not None
        self.conditional = conditional
        self.device = torch.device(device)
        self.rows = slice(rank * batch_size, (rank + 1) * batch_size)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> Batch:
        real = next(self.real_stream)
        labels = None
        if isinstance(real, (tuple, list)):
            real, labels = real
        n, g = real.shape[0], self.generator
        latent = torch.randn(n, self.latent_dim, generator=g)
        real_noise = torch.randn(real.shape, generator=g) if self.with_noise else None
        fake_noise = torch.randn(real.shape, generator=g) if self.with_noise else None
        interpolation = torch.rand(n, generator=g)
        mine = self.rows
        batch = Batch(
            real=real[mine],
            latent=latent[mine],
            real_noise=None if real_noise is None else real_noise[mine],
            fake_noise=None if fake_noise is None else fake_noise[mine],
            interpolation=interpolation[mine],
            labels=labels[mine] if self.conditional and labels is not None else None,
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
