"""Samples of a generator at given flat parameters, and modules with flat parameters bound."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from convergan.field import ParameterLayout


@torch.no_grad()
def generate(
    generator: nn.Module,
    flat_params: Tensor,
    latents: Tensor,
    batch: int = 4096,
    labels: Tensor | None = None,
    buffers: dict[str, Tensor] | None = None,
) -> Tensor:
    """Samples of ``generator`` with parameters ``flat_params`` (the module is left as is);
    ``labels`` for conditional generators; ``buffers`` (e.g. the EMA's averaged BatchNorm
    statistics) replace the module's own buffers, which then stay untouched. Latents take the
    parameters' dtype (a float64 generator, e.g. of a full-batch problem, samples float32 ones)."""
    layout = ParameterLayout(generator)
    latents = latents.to(flat_params.dtype)
    if buffers:
        from torch.func import functional_call

        chunks = torch.split(flat_params, layout.sizes)
        bound = {n: c.reshape(s) for n, c, s in zip(layout.names, chunks, layout.shapes)}
        bound.update({n: b.clone() for n, b in buffers.items()})  # BN in train mode writes
        pieces = latents.split(batch)
        ys = labels.split(batch) if labels is not None else [None] * len(pieces)
        return torch.cat(
            [
                functional_call(generator, bound, (z,), {} if y is None else {"labels": y})
                for z, y in zip(pieces, ys)
            ]
        )
    if labels is None:
        bound = layout.bind(flat_params)
        return torch.cat([bound(z) for z in latents.split(batch)])
    return torch.cat(
        [layout.bind(flat_params, y)(z) for z, y in zip(latents.split(batch), labels.split(batch))]
    )


class BoundModule(nn.Module):
    """A module view with flat parameters bound (for metrics that call ``D(x)``); inputs take
    the parameters' dtype."""

    def __init__(self, module: nn.Module, flat: Tensor) -> None:
        super().__init__()
        self._bound = ParameterLayout(module).bind(flat.detach())
        self._dtype = flat.dtype

    def forward(self, x: Tensor) -> Tensor:
        return self._bound(x.to(self._dtype) if x.is_floating_point() else x)
