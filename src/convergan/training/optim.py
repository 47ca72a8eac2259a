"""Per-player optimizers behind the ``Field.move`` step, and learning-rate schedules.

Each player's parameters live in one flat vector (the state the schemes manipulate); its
optimizer owns one leaf tensor of that size. A move copies the scheme's ``x_i`` into the leaf,
sets the gradient to minus the field's direction and takes one optimizer step with the
scheme's learning rate, so SimGD, AltGD, extragradient and optimistic updates all run on Adam,
RMSprop or SGD unchanged. (Extragradient's look-ahead step also updates the optimizer's
moments, as Extra-Adam of Gidel et al., 2019 does.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from convergan.config.schema import OptimizerConfig


def make_torch_optimizer(config: OptimizerConfig, params: list[Tensor]) -> torch.optim.Optimizer:
    if config.name == "adam":
        return torch.optim.Adam(
            params,
            lr=config.lr,
            betas=config.betas,
            eps=config.eps,
            weight_decay=config.weight_decay,
        )
    if config.name == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=config.lr,
            alpha=config.alpha,
            eps=config.eps,
            weight_decay=config.weight_decay,
            momentum=config.momentum,
        )
    if config.name == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    raise ValueError(f"unknown optimizer {config.name!r}")


class PlayerOptimizer:
    """One player's optimizer acting on flat parameter vectors."""

    def __init__(self, config: OptimizerConfig, initial: Tensor) -> None:
        self.config = config
        self.param = nn.Parameter(initial.detach().clone())
        self.optimizer = make_torch_optimizer(config, [self.param])

    def step(self, x_i: Tensor, direction: Tensor, lr: float) -> Tensor:
        """``x_i`` after one optimizer step on the gradient ``−direction`` at rate ``lr``."""
        with torch.no_grad():
            self.param.copy_(x_i)
        self.param.grad = -direction.detach()
        for group in self.optimizer.param_groups:
            group["lr"] = float(lr)
        self.optimizer.step()
        self.param.grad = None
        return self.param.detach().clone()

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


def lr_factor(schedule: str, warmup_steps: int, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rates at ``step`` (0-based).

    ``constant``: 1; ``linear``: 1 → 0 over the run; ``cosine``: ½(1 + cos(π·t/T)). A linear
    warm-up from 0 over ``warmup_steps`` multiplies any of them.
    """
    progress = min(1.0, step / max(1, total_steps))
    if schedule == "constant":
        factor = 1.0
    elif schedule == "linear":
        factor = 1.0 - progress
    elif schedule == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    if warmup_steps > 0 and step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor
