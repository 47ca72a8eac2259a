"""What one evaluation of the players' losses sees.

Every expectation in a method is a *weighted mean over a batch*. Randomness lives in the
batch, never in the method: a training batch holds sampled data, latents and instance-noise
draws with uniform weights; an analysis batch holds quadrature nodes and weights, so the
same method code computes exact expectations (Gauss–Hermite for Gaussian noise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    """

    real: Tensor
    latent: Tensor
    real_noise: Tensor | None = None
    fake_noise: Tensor | None = None
    real_weight: Tensor | None = None
    fake_weight: Tensor | None = None
    interpolation: Tensor | None = None
    labels: Tensor | None = None

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
