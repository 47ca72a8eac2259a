"""What one evaluation of the players' losses sees.

Every expectation in a method is a *weighted mean over a batch*. Randomness lives in the
batch, never in the method: a training batch holds sampled data, latents and instance-noise
draws with uniform weights; an analysis batch holds quadrature nodes and weights, so the
same method code computes exact expectations (Gauss–Hermite for Gaussian noise).

**Pairs of a real and a generated sample** (the relativistic losses of
:mod:`convergan.methods.relativistic` average over such pairs) are a property of the batch,
:attr:`Batch.pairing`:

* ``"rows"`` (training): row ``i`` of the real batch with row ``i`` of the generated batch, in
  the batch sampler's order, each pair weighing ``1/n``. Real rows and latents are drawn
  independently, so this is an unbiased estimate of ``E_{x,z}`` over independent draws with
  ``n`` pairs rather than ``n²``. Under data parallelism every process keeps the same rows of
  the real data and of the latents (:class:`~convergan.training.batches.BatchSampler`), so
  the pairs of ``N`` processes are exactly the pairs of one process with the global batch.
* ``"all"`` (exact expectations): every real sample with every generated sample, pair
  ``(i, j)`` weighing ``real_weight_i · fake_weight_j``: the expectation over independent
  draws when the batch holds quadrature nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """Samples for one loss evaluation.

    Attributes:
        real: real data, shape ``(n_real, *data_shape)``.
        latent: generator inputs, shape ``(n_fake, *latent_shape)``.
        real_noise: standard-normal instance noise for ``real`` (same shape) or ``None``.
        fake_noise: standard-normal instance noise for the generated samples or ``None``.
        real_weight: weights of the real samples summing to one, ``None`` for uniform.
        fake_weight: weights of the generated samples summing to one, ``None`` for uniform.
        interpolation: mixing coefficients ``u`` in ``[0, 1]`` for penalties evaluated at
            ``u·real + (1−u)·fake`` (pairs are taken in order), ``None`` when unused.
        labels: class labels for conditional models, or ``None``.
        pairing: how real and generated samples form pairs, ``"rows"`` or ``"all"`` (see the
            module's docstring and :func:`pairs`).
    """

    real: Tensor
    latent: Tensor
    real_noise: Tensor | None = None
    fake_noise: Tensor | None = None
    real_weight: Tensor | None = None
    fake_weight: Tensor | None = None
    interpolation: Tensor | None = None
    labels: Tensor | None = None
    pairing: Literal["rows", "all"] = "rows"

    def to(self, device: torch.device | str) -> Batch:
        moved = {
            k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()
        }
        return replace(self, **moved)


def weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    """``sum_i w_i values_i`` (uniform weights when ``weight`` is ``None``)."""
    values = values.reshape(values.shape[0], -1).sum(dim=1) if values.dim() > 1 else values
    if weight is None:
        return values.mean()
    return (values * weight).sum()


def pairs(d_real: Tensor, d_fake: Tensor, batch: Batch) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(real side, fake side, weights)`` of the batch's real-fake pairs, for a loss that
    takes a weighted mean over pairs (``weighted_mean(h(real, fake), weights)``).

    ``d_real`` and ``d_fake`` are per-sample values (D's outputs) of ``batch.real`` and of the
    generated samples; ``batch.pairing`` says which pairs (module docstring).
    """
    if batch.pairing == "rows":
        if d_real.shape[0] != d_fake.shape[0]:
            raise ValueError(
                f"pairs by rows need as many real as generated samples, got "
                f"{d_real.shape[0]} and {d_fake.shape[0]}"
            )
        if batch.real_weight is not None or batch.fake_weight is not None:
            raise ValueError('weighted batches pair "all" samples (exact expectations)')
        return d_real, d_fake, None
    if batch.pairing != "all":
        raise ValueError(f'pairing must be "rows" or "all", not {batch.pairing!r}')
    n, m = d_real.shape[0], d_fake.shape[0]
    real_side = (
        d_real.unsqueeze(1).expand(n, m, *d_real.shape[1:]).reshape(n * m, *d_real.shape[1:])
    )
    fake_side = (
        d_fake.unsqueeze(0).expand(n, m, *d_fake.shape[1:]).reshape(n * m, *d_fake.shape[1:])
    )
    real_weight = batch.real_weight
    fake_weight = batch.fake_weight
    if real_weight is None:
        real_weight = torch.full((n,), 1.0 / n, dtype=d_real.dtype, device=d_real.device)
    if fake_weight is None:
        fake_weight = torch.full((m,), 1.0 / m, dtype=d_fake.dtype, device=d_fake.device)
    return real_side, fake_side, (real_weight[:, None] * fake_weight[None, :]).reshape(n * m)
