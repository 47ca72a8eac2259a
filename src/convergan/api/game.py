"""A game from any generator and discriminator: the players, a method and an evaluation batch.

The analysis is of the field ``v(θ, ψ) = (−∇_θ L_G, −∇_ψ L_D)`` of a method on a *fixed*
evaluation batch (real samples, latents, labels for a conditional model, and the method's
noise draws, seeded), so that ``v`` and its Jacobian are deterministic functions of the
parameters. :func:`make_game` builds that object; :mod:`convergan.api.analysis` asks it
questions. The method is convergan's own definition (:class:`~convergan.methods.Method`), so
``"r1"`` here is the R1 the trainer and the Dirac-GAN analysis use.

A method's hyperparameters may follow a schedule, as a config's do (:mod:`convergan.schedules`:
``gamma={"schedule": "linear", "start": 10, "end": 1, "steps": 5000}``, a
:class:`~convergan.schedules.Schedule`, or a ``Method`` holding functions of the step): the
game is then the field at one training step, :meth:`Game.at_step`, and
:attr:`Game.schedules` says which numbers follow the step.

Sign convention: D is high on real data, D's loss ``softplus(−D(x)) + softplus(D(G(z)))`` for
the standard GAN; R1 is ``(γ/2)·E‖∇_x D(x)‖²`` (StyleGAN2-ADA's ``r1_gamma`` is this γ).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from convergan.api.players import unwrap
from convergan.field import GameField, ParameterLayout, State
from convergan.methods.batch import Batch
from convergan.methods.losses import AdversarialLoss
from convergan.methods.method import Method
from convergan.methods.parse import parse_method
from convergan.methods.spec import MethodSpec
from convergan.options import fail, integer
from convergan.schedules import StepValue, find_schedules, on_steps

MethodLike = Method | MethodSpec | str | Mapping | tuple


@dataclass(frozen=True)
class PlainLosses(AdversarialLoss):
    """A loss convergan does not know, from two plain callables on D's outputs:

    * ``d_loss(d_real, d_fake) -> scalar``: the discriminator's loss;
    * ``g_loss(d_fake) -> scalar``: the generator's; a ``g_loss`` with a parameter named
      ``d_real`` gets D's outputs on the real samples too (relativistic losses).

    ``d_real`` and ``d_fake`` are D's outputs on the evaluation batch's real and generated
    samples, one per sample; the callables take their own means (the batch is unweighted).
    Build it with :func:`plain_losses`; penalties, noise and the rest of a method compose with
    it as with any loss (``Method(plain_losses(d, g), penalties=(r1(gamma=10),))``).
    """

    d_loss: Callable[..., Tensor] | None = None
    g_loss: Callable[..., Tensor] | None = None
    name: str = "plain"
    generator_sees_real: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not (callable(self.d_loss) and callable(self.g_loss)):
            raise TypeError("PlainLosses needs two callables, d_loss and g_loss")

    def discriminator_objective(self, d_real: Tensor, d_fake: Tensor, batch: Batch) -> Tensor:
        return self.d_loss(d_real, d_fake)

    def generator_objective(self, d_real: Tensor | None, d_fake: Tensor, batch: Batch) -> Tensor:
        if self.generator_sees_real:
            return self.g_loss(d_fake, d_real=d_real)
        return self.g_loss(d_fake)


@dataclass(frozen=True)
class _RelativisticPlainLosses(PlainLosses):
    generator_sees_real: ClassVar[bool] = True


def plain_losses(d_loss: Callable[..., Tensor], g_loss: Callable[..., Tensor]) -> PlainLosses:
    """The :class:`PlainLosses` of two callables (D runs on the real samples in the generator's
    loss only when ``g_loss`` has a ``d_real`` parameter)."""
    reads_real = "d_real" in inspect.signature(g_loss).parameters
    kind = _RelativisticPlainLosses if reads_real else PlainLosses
    return kind(d_loss=d_loss, g_loss=g_loss)


def resolve_method(
    method: MethodLike, *, samples_per_step: int | None = None, **params: Any
) -> Method:
    """The :class:`~convergan.methods.Method` meant by ``method``:

    * a ``Method`` (used as is) or a :class:`~convergan.methods.MethodSpec`;
    * a preset name with its hyperparameters as keywords (``"r1", gamma=10``) or a spec
      mapping (``{"loss": "hinge", "penalties": [{"name": "r1", "gamma": 10}]}``), validated
      as a config's ``method:`` section is, so a hyperparameter may be a schedule
      (``gamma={"schedule": "linear", "start": 10, "end": 1, "steps": 5000}``): the method
      then holds it as a function of the 0-based training step, as the trainer's does;
      ``samples_per_step`` (the global batch of the loop) turns steps into samples seen, for
      a schedule measured in ``samples``;
    * a pair of plain callables ``(d_loss, g_loss)`` (:class:`PlainLosses`), for a method
      convergan does not know.
    """
    return _method_and_schedules(method, samples_per_step, params)[0]


def _method_and_schedules(
    method: MethodLike, samples_per_step: int | None, params: dict[str, Any]
) -> tuple[Method, dict[str, StepValue]]:
    """:func:`resolve_method`'s method and its numbers that follow the training step, by the
    dotted key a run's log names them (``method.gamma``, ``method.penalties[0].gamma``):
    a spec's schedules as the trainer finds them in its config, a ``Method``'s functions of
    the step by their composition keys."""
    if isinstance(method, Method):
        _no_params(params, "a Method")
        schedules = {f"method.{key}": f for key, f in method.step_functions().items()}
        return method, schedules
    if isinstance(method, tuple):
        _no_params(params, "plain loss callables")
        if len(method) != 2:
            raise TypeError("plain losses are a pair (d_loss, g_loss)")
        return Method(plain_losses(*method), name="plain"), {}
    for name, value in params.items():
        if callable(value) and not isinstance(value, type):
            fail(
                f"method.{name}",
                "a function of the step goes in a Method's part (Method(NonSaturatingLoss(), "
                "penalties=(r1(gamma=f),))); a keyword takes a number or a schedule "
                '({"schedule": "linear", "start": 10, "end": 1, "steps": 1000})',
            )
    if isinstance(method, str):
        method = {"name": method, **params}
    elif isinstance(method, Mapping):
        method = {**method, **params}
    elif params:
        _no_params(params, "a MethodSpec")
    spec = parse_method(method)
    schedules = find_schedules(spec.to_dict(), "method")
    clock = _clock(schedules, samples_per_step)
    return spec.build(clock), on_steps(schedules, clock)


def _clock(schedules: Mapping[str, Any], samples_per_step: int | None) -> int:
    """The samples per step the schedules are read with: ``samples_per_step``; without it a
    schedule in samples is refused, one in steps never reads the count (1 stands in)."""
    if samples_per_step is not None:
        return integer(samples_per_step, "samples_per_step", gt=0)
    for key, schedule in schedules.items():
        if schedule.unit == "samples":
            fail(
                key,
                "a schedule in samples needs the samples each step of your loop takes: "
                "pass samples_per_step=N (the global batch), or give the schedule in steps",
            )
    return 1


def _no_params(params: dict, what: str) -> None:
    if params:
        raise TypeError(f"{what} takes no hyperparameters ({', '.join(params)} given)")


def evaluation_batch(
    real: Tensor,
    latent: Tensor,
    labels: Tensor | None = None,
    *,
    method: Method | None = None,
    seed: int = 0,
) -> Batch:
    """The fixed batch a game is evaluated on: ``real`` samples, generator inputs ``latent``
    (one row per sample, as many as ``real``), ``labels`` for conditional players (any tensor
    the players take: class indices or one-hot rows), and the draws a method needs, from a
    ``torch.Generator`` seeded with ``seed`` (never the global one): standard-normal instance
    noise when ``method`` has noise, and interpolation coefficients for penalties at
    interpolates."""
    real, latent = real.detach(), latent.detach()
    if real.shape[0] != latent.shape[0]:
        raise ValueError(
            f"the evaluation batch needs one latent per real sample, got {latent.shape[0]} "
            f"latents for {real.shape[0]} samples"
        )
    generator = torch.Generator().manual_seed(seed)
    noisy = method is not None and method.noise is not None
    real_noise = torch.randn(real.shape, generator=generator) if noisy else None
    fake_noise = torch.randn(real.shape, generator=generator) if noisy else None
    interpolation = torch.rand(real.shape[0], generator=generator)
    batch = Batch(
        real=real,
        latent=latent,
        real_noise=real_noise,
        fake_noise=fake_noise,
        interpolation=interpolation,
        labels=None if labels is None else labels.detach(),
    )
    return batch.to(real.device) if real.device.type != "cpu" else batch


@dataclass(frozen=True)
class Game:
    """A generator, a discriminator, a method and the fixed evaluation batch, at a training
    step (where the method's scheduled numbers are read; :meth:`at_step`).

    ``field()`` is convergan's :class:`~convergan.field.GameField` of it: the one definition
    of the field the trainer, the diagnostics and the spectra use. Parameters are read from
    the modules when asked (:meth:`parameters`), so a game built once follows a training
    loop that updates the modules in place.
    """

    generator: nn.Module
    discriminator: nn.Module
    method: Method
    batch: Batch
    seed: int = 0
    step: int = 0  # the 0-based training step where the method's scheduled numbers are read
    # The method's numbers that follow the step, by dotted key (``method.gamma``).
    schedules: Mapping[str, StepValue] = field(default_factory=dict, repr=False, compare=False)
    layouts: tuple[ParameterLayout, ParameterLayout] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.layouts is None:
            layouts = (ParameterLayout(self.generator), ParameterLayout(self.discriminator))
            object.__setattr__(self, "layouts", layouts)

    def at_step(self, step: int) -> Game:
        """The same game at the 0-based training ``step``: its field, spectra and path-angle
        read the method's scheduled numbers (γ, σ) there. A state after ``t`` steps is
        analysed at ``step=t``, the step of the update that would move it next (as the
        trainer's diagnostics and ``convergan spectrum`` take a checkpoint's)."""
        return replace(self, step=step)

    @property
    def samples(self) -> int:
        return int(self.batch.real.shape[0])

    @property
    def sizes(self) -> tuple[int, int]:
        return (self.layouts[0].size, self.layouts[1].size)

    def field(self, route: str = "eager", step: int | None = None) -> GameField:
        """The field of the method on the evaluation batch (``route``: ``"eager"`` autograd, as
        the trainer's diagnostics, or ``"functional"``, ``torch.func``) at the 0-based training
        ``step`` (default: the game's)."""
        return GameField(
            self.generator,
            self.discriminator,
            self.method,
            self.batch,
            route=route,
            step=self.step if step is None else step,
            layouts=self.layouts,
        )

    def parameters(self) -> State:
        """The players' current parameters, as flat copies ``(θ, ψ)``."""
        return tuple(layout.flat().clone() for layout in self.layouts)

    def state(self, players: Any) -> State:
        """``players`` as a state ``(θ, ψ)`` of this game: a pair of flat tensors, a pair of
        modules of the players' architecture (e.g. copies saved during training) or a pair
        of their ``state_dict()``s."""
        if not (isinstance(players, Sequence) and len(players) == 2):
            raise TypeError("a state is a pair: (generator's, discriminator's)")
        return tuple(
            _flat(layout, part, name)
            for layout, part, name in zip(self.layouts, players, ("generator", "discriminator"))
        )


def _flat(layout: ParameterLayout, part: Any, name: str) -> Tensor:
    if isinstance(part, Tensor):
        flat = part.detach().reshape(-1)
    elif isinstance(part, nn.Module):
        flat = ParameterLayout(unwrap(part)).flat()
    elif isinstance(part, Mapping):
        flat = _from_state_dict(layout, part, name)
    else:
        raise TypeError(f"the {name}'s part of a state must be a tensor, a module or a dict")
    if flat.numel() != layout.size:
        raise ValueError(f"the {name} has {layout.size} parameters, the state {flat.numel()}")
    return flat


def _from_state_dict(layout: ParameterLayout, state: Mapping, name: str) -> Tensor:
    values = []
    for key in layout.names:
        # the state_dict of the unadapted module, or of the adapter (keys "module.<name>")
        value = state.get(key, state.get(key.removeprefix("module.")))
        if value is None:
            raise KeyError(f"the {name}'s state_dict has no parameter {key!r}")
        values.append(value.detach().reshape(-1))
    return torch.cat(values)


def make_game(
    generator: nn.Module,
    discriminator: nn.Module,
    method: MethodLike = "r1",
    *,
    real: Tensor,
    latent: Tensor,
    labels: Tensor | None = None,
    seed: int = 0,
    samples_per_step: int | None = None,
    **method_params: Any,
) -> Game:
    """A :class:`Game` of ``generator`` and ``discriminator`` under ``method`` (see
    :func:`resolve_method`; preset hyperparameters as keywords: ``method="r1", gamma=10``,
    each a number or a schedule, ``samples_per_step`` the loop's global batch for schedules in
    samples) on the evaluation batch ``real``, ``latent``, ``labels``
    (:func:`evaluation_batch`, its draws seeded by ``seed``), at training step 0
    (:meth:`Game.at_step` for another).

    The players are called ``G(z)`` and ``D(x)`` (``G(z, labels=c)``, ``D(x, labels=c)`` when
    ``labels`` are given), D returning one logit per sample; wrap other signatures with
    :func:`~convergan.api.adapt_generator` / :func:`~convergan.api.adapt_discriminator`.
    ``DistributedDataParallel`` wrappers are looked through.

    Example::

        game = make_game(G, D, "r1", gamma=10, real=x[:512], latent=torch.randn(512, 128))
        field(game).norm
    """
    built, schedules = _method_and_schedules(method, samples_per_step, method_params)
    batch = evaluation_batch(real, latent, labels, method=built, seed=seed)
    return Game(unwrap(generator), unwrap(discriminator), built, batch, seed, schedules=schedules)
