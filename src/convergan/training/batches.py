"""The batch sampler: where all training randomness lives.

DESIGN: randomness in the batch, never in the method. Real data comes from the problem's
resumable stream; latents, instance-noise draws and interpolation coefficients from the
sampler's own ``torch.Generator``. Its state goes into every checkpoint.

The *evaluation game* of the diagnostics, the spectra and the path-angle is one batch drawn
the same way from a seed alone (:func:`evaluation_batch`). A problem whose game is fixed
(a full-batch problem, :mod:`convergan.problems.fullbatch`) has a stream that yields that
whole game as a :class:`Batch`: then every training batch and every evaluation game is it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from convergan.methods.batch import Batch
from convergan.methods.method import Method


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
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> Batch:
        real = next(self.real_stream)
        if isinstance(real, Batch):  # a fixed game: its latents and draws come with it
            return self._share(real)
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

    def _share(self, game: Batch) -> Batch:
        """This process's rows of a whole fixed game (all of them in a single process)."""
        n, world = game.real.shape[0], self.world_size
        if n % world:
            raise ValueError(f"a fixed game of {n} samples cannot be split among {world} processes")
        rows = slice(self.rank * n // world, (self.rank + 1) * n // world)
        values = {f.name: getattr(game, f.name) for f in dataclasses.fields(game)}
        shared = dataclasses.replace(
            game, **{k: v[rows] for k, v in values.items() if isinstance(v, Tensor)}
        )
        return shared.to(self.device) if self.device.type != "cpu" else shared

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "real_stream": self.real_stream.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.real_stream.load_state_dict(state["real_stream"])


def evaluation_batch(
    config, method: Method, latent_dim: int, samples: int, seed: int, problem=None
) -> Batch:
    """The evaluation game: ``samples`` real samples, latents and noise draws from the
    trainer's own stream and sampler, seeded by ``seed`` alone (not by the run's seed or
    position): the stream of a run with seed ``seed`` and batch size ``samples`` (its first
    batch), then one draw of the batch sampler seeded with ``seed``. ``problem``: the run's,
    when at hand (its data is then not read again)."""
    if problem is None:
        from convergan.problems import make_problem

        problem = make_problem(config)
    stream = problem.real_stream(samples, seed=seed * 1000)
    conditional = config.model.conditional
    return BatchSampler(stream, latent_dim, samples, method, seed=seed, conditional=conditional)()


def sample_latents(n: int, latent_dim: int, seed: int) -> Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
