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

from torch import Tensor

from convergan.methods.batch import Batch, weighted_mean
from convergan.methods.consensus import Consensus
from convergan.methods.constraints import WeightClip
from convergan.methods.losses import GANLoss, StandardLoss
from convergan.methods.noise import InstanceNoise
from convergan.methods.penalties import GradientPenalty, output_and_input_gradient

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

    loss: GANLoss = field(default_factory=StandardLoss)
    penalties: tuple[GradientPenalty, ...] = ()
    noise: InstanceNoise | None = None
    clip: WeightClip | None = None
    consensus: Consensus | None = None
    name: str = "custom"

    def with_name(self, name: str) -> Method:
        return replace(self, name=name)

    def _generated(self, generator: Module, batch: Batch, step: int) -> Tensor:
        """Generated samples as D sees them (with instance noise, if any)."""
        fake = generator(batch.latent)
        if self.noise is not None:
            fake = self.noise(fake, batch.fake_noise, step)
        return fake

    def _seen_by_discriminator(
        self, generator: Module, batch: Batch, step: int
    ) -> tuple[Tensor, Tensor]:
        real = batch.real
        if self.noise is not None:
            real = self.noise(real, batch.real_noise, step)
        return real, self._generated(generator, batch, step)

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
        """``E_real[real_term(D)] + E_fake[fake_term(D)] + gain · Σ penalties``.

        ``regularization_gain`` is 0 on the steps lazy regularization skips and ``k`` on the
        steps it applies the penalties (StyleGAN2's lazy regularization). ``functional`` says
        whether the caller differentiates with ``torch.func`` (the penalties' input gradients
        then use ``torch.func.vjp``) or eager autograd.
        """
        real, fake = self._seen_by_discriminator(generator, batch, step)
        regularized = bool(self.penalties) and not is_zero_gain(regularization_gain)
        # Penalties at the real or fake points reuse the forward pass of the loss term.
        needed = {p.at for p in self.penalties} if regularized else set()
        outputs, input_gradients = {}, {}
        for where, points in (("real", real), ("fake", fake)):
            if where in needed:
                outputs[where], input_gradients[where] = output_and_input_gradient(
                    discriminator, points, functional
                )
            else:
                outputs[where] = discriminator(points)
        adversarial = weighted_mean(
            self.loss.real_term(outputs["real"]), batch.real_weight
        ) + weighted_mean(self.loss.fake_term(outputs["fake"]), batch.fake_weight)
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
                )
                terms[penalty.name] = value
                total = total + regularization_gain * value
        return PlayerLoss(total, terms)

    def generator_loss(
        self, generator: Module, discriminator: Module, batch: Batch, *, step: int = 0
    ) -> PlayerLoss:
        """``E_fake[generator_term(D(G(z)))]`` (noise applied to the generated samples)."""
        fake = self._generated(generator, batch, step)
        adversarial = weighted_mean(
            self.loss.generator_term(discriminator(fake)), batch.fake_weight
        )
        return PlayerLoss(adversarial, {"adversarial": adversarial})


def is_zero_gain(value: float | Tensor) -> bool:
    """Whether a regularization gain is the constant 0 (lazy regularization's off steps).
    Tensor gains (batched analysis) are never treated as zero."""
    return isinstance(value, (int, float)) and value == 0
