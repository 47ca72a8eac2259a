"""A training method: what each player minimises.

A :class:`Method` composes a loss with penalties, an input transform (instance noise), a
constraint (weight clipping) and a field transform (consensus). Its two functions take any
generator and discriminator *callables* (``nn.Module`` or ``functional_call`` wrappers) and
a :class:`Batch`, so the very same code is differentiated by the exact analysis and run by
the trainer. Adding a method is composing these parts, or writing one small class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from convergan.methods.batch import Batch, weighted_mean
from convergan.methods.consensus import Consensus
from convergan.methods.constraints import WeightClip
from convergan.methods.losses import AdversarialLoss, StandardLoss
from convergan.methods.noise import InstanceNoise
from convergan.methods.penalties import GradientPenalty, output_and_input_gradient
from convergan.methods.spec import repeated_penalty

Module = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class PlayerLoss:
    """A player's scalar loss and its named parts (for logging; never read by the maths)."""

    total: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """``loss`` + ``penalties`` + optional ``noise``, ``clip`` and ``consensus``.

    Example::

        Method(NonSaturatingLoss(), penalties=(r1(gamma=10),), noise=InstanceNoise(0.1))
    """

    loss: AdversarialLoss = field(default_factory=StandardLoss)
    penalties: tuple[GradientPenalty, ...] = ()
    noise: InstanceNoise | None = None
    clip: WeightClip | None = None
    consensus: Consensus | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        twice = repeated_penalty([p.name for p in self.penalties])
        if twice is not None:  # its two terms would be logged under one name
            raise ValueError(f"Method: penalty {twice} is given twice; give it once (γ's add)")

    def with_name(self, name: str) -> Method:
        return replace(self, name=name)

    def step_functions(self) -> dict[str, Callable[[int], object]]:
        """The numbers of this method that follow the training step (a schedule, or any
        function of the step), by the key a composition spec gives them:
        ``penalties[0].gamma``, ``penalties[0].target``, ``noise.sigma``, ``consensus``."""
        numbers = {
            f"penalties[{i}].{name}": getattr(penalty, name)
            for i, penalty in enumerate(self.penalties)
            for name in ("gamma", "target")
        }
        if self.noise is not None:
            numbers["noise.sigma"] = self.noise.sigma
        if self.consensus is not None:
            numbers["consensus"] = self.consensus.gamma
        return {key: number for key, number in numbers.items() if callable(number)}

    def _generated(self, generator: Module, batch: Batch, step: int) -> Tensor:
        """Generated samples as D sees them (with instance noise, if any)."""
        fake = generator(batch.latent)
        if self.noise is not None:
            fake = self.noise(fake, batch.fake_noise, step)
        return fake

    def _real(self, batch: Batch, step: int) -> Tensor:
        """Real samples as D sees them (with instance noise, if any)."""
        if self.noise is None:
            return batch.real
        return self.noise(batch.real, batch.real_noise, step)

    def discriminator_loss(
        self,
        generator: Module,
        discriminator: Module,
        batch: Batch,
        *,
        regularization_gain: float | Tensor = 1.0,
        step: int = 0,
        functional: bool = False,
    ) -> PlayerLoss:
        """The loss's discriminator objective (``E_real[real_term(D)] + E_fake[fake_term(D)]``
        for a separable loss) ``+ gain · Σ penalties``.

        ``regularization_gain`` is 0 on the steps lazy regularization skips and ``k`` on the
        steps it applies the penalties (StyleGAN2's lazy regularization). ``functional`` says
        whether the caller differentiates with ``torch.func`` (the penalties' input gradients
        then use ``torch.func.vjp``) or eager autograd.
        """
        fake = self._generated(generator, batch, step)
        loss, _ = self._discriminator_loss_on(
            discriminator, fake, batch, regularization_gain, step, functional
        )
        return loss

    def _discriminator_loss_on(
        self,
        discriminator: Module,
        fake: Tensor,
        batch: Batch,
        regularization_gain: float | Tensor,
        step: int,
        functional: bool,
    ) -> tuple[PlayerLoss, dict[str, Tensor]]:
        """The discriminator's loss on the generated samples ``fake`` (as D sees them), and
        D's outputs on the real and the generated samples (keyed "real"/"fake")."""
        real = self._real(batch, step)
        regularized = bool(self.penalties) and not is_zero_gain(regularization_gain)
        # Penalties at the real or fake points reuse the forward pass of the loss term.
        needed = {p.at for p in self.penalties} if regularized else set()
        outputs, input_gradients = {}, {}
        if needed >= {"real", "fake"} and _stack_pays(real, fake, batch):
            outputs, input_gradients = _stacked_passes(discriminator, real, fake, functional)
        else:
            for where, points in (("real", real), ("fake", fake)):
                if where in needed:
                    outputs[where], input_gradients[where] = output_and_input_gradient(
                        discriminator, points, functional
                    )
                else:
                    outputs[where] = discriminator(points)
        adversarial = self.loss.discriminator_objective(outputs["real"], outputs["fake"], batch)
        terms = {
            "adversarial": adversarial,
            # Mean D outputs, for logging only (the maths reads ``total``).
            "output_real": weighted_mean(outputs["real"], batch.real_weight),
            "output_fake": weighted_mean(outputs["fake"], batch.fake_weight),
        }
        total = adversarial
        if regularized:
            weights = (batch.real_weight, batch.fake_weight)
            for penalty in self.penalties:
                value = penalty(
                    discriminator,
                    real,
                    fake,
                    batch.interpolation,
                    weights,
                    input_gradients,
                    functional,
                    step=step,
                )
                terms[penalty.name] = value  # each penalty once: MethodSpec refuses repeats
                total = total + regularization_gain * value
        return PlayerLoss(total, terms), outputs

    def generator_loss(
        self, generator: Module, discriminator: Module, batch: Batch, *, step: int = 0
    ) -> PlayerLoss:
        """The loss's generator objective (``E_fake[generator_term(D(G(z)))]`` for a separable
        loss), noise applied to the samples D sees. D runs on the real samples only for a loss
        whose generator objective reads them (``generator_sees_real``: RpGAN, RaGAN)."""
        fake = self._generated(generator, batch, step)
        d_real = discriminator(self._real(batch, step)) if self.loss.generator_sees_real else None
        return self._generator_loss_of(d_real, discriminator(fake), batch)

    def _generator_loss_of(self, d_real: Tensor | None, d_fake: Tensor, batch: Batch) -> PlayerLoss:
        adversarial = self.loss.generator_objective(d_real, d_fake, batch)
        return PlayerLoss(adversarial, {"adversarial": adversarial})

    def losses(
        self,
        generator: Module,
        discriminator: Module,
        batch: Batch,
        *,
        regularization_gain: float | Tensor = 1.0,
        step: int = 0,
        functional: bool = False,
    ) -> tuple[PlayerLoss, PlayerLoss]:
        """``(generator's loss, discriminator's loss)`` at one point on one batch, from *one*
        generator forward and one pass of D on each side: the generator's loss reads D's
        outputs on the generated (and, for ``generator_sees_real``, the real) samples of the
        discriminator's loss. The values are :meth:`generator_loss`'s and
        :meth:`discriminator_loss`'s; what differs is the graph (one G and one D-on-fakes
        subgraph shared by both losses), which halves those passes in the field and in every
        product through its kept graph (``convergan.field.GameField``)."""
        fake = self._generated(generator, batch, step)
        d_loss, outputs = self._discriminator_loss_on(
            discriminator, fake, batch, regularization_gain, step, functional
        )
        d_real = outputs["real"] if self.loss.generator_sees_real else None
        return self._generator_loss_of(d_real, outputs["fake"], batch), d_loss


def _stack_pays(real: Tensor, fake: Tensor, batch: Batch) -> bool:
    """Whether R1 + R2 go through D stacked: not for a conditional D (bound to one side's
    labels), and not for images on the CPU, where the stacked floor measured 0.80-0.85x the
    two-pass one (bench_r3gan_step.py, 1 thread, DCGAN-28 and R3GAN-32): its bigger tensors
    pay for fresh memory pages (with glibc keeping freed memory the two are equal)."""
    if batch.labels is not None or real.shape != fake.shape:
        return False
    return not (real.device.type == "cpu" and real.dim() > 2)


def _stacked_passes(
    discriminator: Module, real: Tensor, fake: Tensor, functional: bool
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """D's outputs and input gradients at the real and the generated samples when R1 and R2
    both need them (R3GAN): real and generated rows go through D *stacked*, in one pass
    rather than one pass per side, halving the number of D's kernel calls. D treats samples
    independently (as every gradient penalty needs), so each row's gradient is its own."""
    n = real.shape[0]
    both, gradients = output_and_input_gradient(discriminator, torch.cat([real, fake]), functional)
    return {"real": both[:n], "fake": both[n:]}, {"real": gradients[:n], "fake": gradients[n:]}


def is_zero_gain(value: float | Tensor) -> bool:
    """Whether a regularization gain is the constant 0 (lazy regularization's off steps).
    Tensor gains (batched analysis) are never treated as zero."""
    return isinstance(value, (int, float)) and value == 0
