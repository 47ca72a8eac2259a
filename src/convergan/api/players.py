"""Players with other call signatures, through one small adapter.

convergan calls a generator as ``G(z)`` and a discriminator as ``D(x)`` returning one logit per
sample, shape ``(n,)``; conditional players take the batch's labels as a keyword,
``G(z, labels=c)`` and ``D(x, labels=c)``. Networks written for other code bases are called
differently: StyleGAN2-ADA's ``G(z, c)`` and ``D(img, c)`` (``c`` a one-hot class vector, D's
output of shape ``(n, 1)``), R3GAN's ``G(z, c)`` / ``D(x, c)``, a PatchGAN's ``(n, 1, h, w)`` map
of logits. :func:`adapt` wraps such a module without copying it: the wrapper's parameters *are*
the module's (the same tensors, named ``module.<name>``), so an optimizer built on the
original module and the analysis see one set of weights.

:func:`untouched` is what keeps the analysis from changing the players: their buffers and the
global torch RNGs are restored after it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

Call = Callable[[nn.Module, Tensor, Any], Tensor]


def conditional_call(module: nn.Module, inputs: Tensor, labels: Any) -> Tensor:
    """``module(inputs, labels)``, or ``module(inputs)`` without labels: the positional
    signature of StyleGAN2-ADA and R3GAN (``G(z, c)``, ``D(x, c)``)."""
    return module(inputs) if labels is None else module(inputs, labels)


class Adapted(nn.Module):
    """``module`` called as convergan calls a player: ``forward(inputs, labels=None)``.

    Args:
        module: the network; held as a submodule, never copied.
        call: ``call(module, inputs, labels) -> outputs``; by default
            :func:`conditional_call` (``module(inputs, labels)``).
        per_sample: reduce each sample's outputs to one number (a discriminator): an output
            of shape ``(n, ...)`` becomes ``(n,)``, its mean over the other dimensions (the
            identity for ``(n, 1)``; for a map of logits, the mean logit, which the loss then
            reads as the sample's logit). Give ``call`` a different reduction if the network
            needs one.
    """

    def __init__(self, module: nn.Module, call: Call | None = None, per_sample: bool = False):
        super().__init__()
        self.module = module
        self.call = conditional_call if call is None else call
        self.per_sample = per_sample

    def forward(self, inputs: Tensor, labels: Any = None) -> Tensor:
        outputs = self.call(self.module, inputs, labels)
        if self.per_sample and outputs.dim() != 1:
            outputs = outputs.reshape(outputs.shape[0], -1).mean(dim=1)
        return outputs


def adapt_generator(generator: nn.Module, call: Call | None = None) -> Adapted:
    """A generator called ``G(z, c)`` (or by ``call(G, z, c)``) as convergan calls one."""
    return Adapted(unwrap(generator), call)


def adapt_discriminator(discriminator: nn.Module, call: Call | None = None) -> Adapted:
    """A discriminator called ``D(x, c)`` (or by ``call(D, x, c)``) returning per-sample
    outputs of any shape ``(n, ...)``, as convergan calls one (one logit per sample)."""
    return Adapted(unwrap(discriminator), call, per_sample=True)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper: the
    analysis evaluates the network itself, on one process, without the wrapper's
    collective communication."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    while isinstance(module, (DistributedDataParallel, DataParallel)):
        module = module.module
    return module


@contextmanager
def untouched(*modules: nn.Module):
    """Restore on exit what evaluating ``modules`` may change: their buffers (BatchNorm's
    running statistics) and the global torch RNGs (CPU, and every CUDA device already
    initialised), with autograd enabled inside."""
    saved = [(b, b.detach().clone()) for m in modules for b in m.buffers()]
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
