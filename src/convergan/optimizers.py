"""Optimizers as pure update rules on a player's flat parameter vector (optax style).

An optimizer is a frozen dataclass of hyperparameters with ``init(x) -> state`` and
``update(x, gradient, lr, state) -> (x, state)``. Its state (Adam's moments, RMSprop's
square average, momentum buffers, the step count) lives in the scheme state the trainer
carries and checkpoints; nothing is mutated behind a step, and the learning rate comes from
the scheme on every call, so it is set in exactly one place.

Each optimizer's options and their defaults live here and nowhere else: a config's
``optim.g``/``optim.d`` section takes ``name``, ``lr`` and exactly the fields of the registered
class it names (read from the class, as a scheme's are from its class), each checked by its
:func:`~convergan.options.option` bounds; a key the chosen optimizer does not take is a
one-line error. A number may be a schedule (:mod:`convergan.schedules`; R3GAN ramps Adam's
β2): in a run it is a function of the training step, and the trainer's mover
(:class:`~convergan.field.OptimizerStep`) runs each update with its value at the step, so the
update rules below only ever see numbers.

The arithmetic is PyTorch's own single-tensor implementation, operation for operation
(``torch.optim.Adam``, ``RMSprop`` and ``SGD`` with ``foreach=False``), so a trainer step
equals one of ``torch.optim`` to the last bit (checked in ``tests/test_extension.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from convergan.options import option
from convergan.schedules import Schedule

OptimizerState = dict[str, Any]
Number = float | Schedule  # an option's value in a config; a float when an update runs


@dataclass(frozen=True)
class SGD:
    momentum: Number = option(0.0, ge=0, lt=1)
    weight_decay: Number = option(0.0, ge=0)  # L2 coefficient

    def init(self, x: Tensor) -> OptimizerState:
        return {"momentum_buffer": torch.zeros_like(x)} if self.momentum else {}

    def update(self, x: Tensor, gradient: Tensor, lr: float, state: OptimizerState):
        g = gradient if not self.weight_decay else gradient.add(x, alpha=self.weight_decay)
        if self.momentum:
            g = state["momentum_buffer"].mul(self.momentum).add(g)  # torch's first step: clone(g)
            state = {"momentum_buffer": g}
        return x.add(g, alpha=-lr), state


@dataclass(frozen=True)
class Adam:
    """Adam; the default β's are the GAN setting (StyleGAN2, R3GAN's β1 = 0, β2 = 0.99), not
    ``torch.optim.Adam``'s (0.9, 0.999)."""

    betas: tuple[Number, Number] = option((0.0, 0.99), ge=0, lt=1)
    eps: Number = option(1e-8, gt=0)  # denominator guard
    weight_decay: Number = option(0.0, ge=0)  # L2 coefficient

    def init(self, x: Tensor) -> OptimizerState:
        return {"step": 0, "exp_avg": torch.zeros_like(x), "exp_avg_sq": torch.zeros_like(x)}

    def update(self, x: Tensor, gradient: Tensor, lr: float, state: OptimizerState):
        beta1, beta2 = self.betas
        g = gradient if not self.weight_decay else gradient.add(x, alpha=self.weight_decay)
        step = state["step"] + 1
        exp_avg = torch.lerp(state["exp_avg"], g, 1 - beta1)
        exp_avg_sq = torch.addcmul(state["exp_avg_sq"].mul(beta2), g, g, value=1 - beta2)
        step_size = lr / (1 - beta1**step)
        denominator = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(self.eps)
        moved = torch.addcdiv(x, exp_avg, denominator, value=-step_size)
        return moved, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


@dataclass(frozen=True)
class RMSprop:
    alpha: Number = option(0.99, ge=0, lt=1)  # squared-gradient decay
    eps: Number = option(1e-8, gt=0)  # denominator guard
    weight_decay: Number = option(0.0, ge=0)  # L2 coefficient
    momentum: Number = option(0.0, ge=0, lt=1)

    def init(self, x: Tensor) -> OptimizerState:
        state = {"step": 0, "square_avg": torch.zeros_like(x)}
        if self.momentum:
            state["momentum_buffer"] = torch.zeros_like(x)
        return state

    def update(self, x: Tensor, gradient: Tensor, lr: float, state: OptimizerState):
        g = gradient if not self.weight_decay else gradient.add(x, alpha=self.weight_decay)
        square_avg = torch.addcmul(state["square_avg"].mul(self.alpha), g, g, value=1 - self.alpha)
        average = square_avg.sqrt().add_(self.eps)
        new_state = {"step": state["step"] + 1, "square_avg": square_avg}
        if self.momentum:
            buffer = torch.addcdiv(state["momentum_buffer"].mul(self.momentum), g, average)
            new_state["momentum_buffer"] = buffer
            return x.add(buffer, alpha=-lr), new_state
        return torch.addcdiv(x, g, average, value=-lr), new_state


def second_moments(state: OptimizerState) -> Tensor | None:
    """The running average of squared gradients an optimizer keeps, if any (for frozen
    diagonal preconditioners in the spectrum analysis)."""
    for key in ("exp_avg_sq", "square_avg"):
        if key in state:
            return state[key]
    return None
