"""The gradient vector field of a game, and the pieces composed around it.

``v(θ, ψ) = (−∇_θ L_G(θ, ψ), −∇_ψ L_D(θ, ψ))``: each player descends its own loss; consensus
is then applied as a transform, ``w = v − γ·v′ᵀv``. A state is a tuple ``(generator_params,
discriminator_params)`` of flat tensors.

Each piece does one job, and a scheme step composes them (optax/diffrax style)::

    field = Observed(GameField(G, D, method, sampler, route="eager"), reporter, guard, average)
    mover = OptimizerStep(optimizers, clip=method.clip)
    x, state = scheme.step(field.at_step(t), Guarded(mover.at_step(t), guard), x, state, t)

* :class:`GameField` (:mod:`.game`): the maths, pure. Generator, discriminator, method, a
  fixed batch or a sampler, the differentiation route (``torch.func`` for the analysis,
  eager autograd with optional bf16 autocast for training), the regularization gain and the
  step. It returns the field and, as auxiliary output, each player's named loss terms.
  :meth:`GameField.at_step` moves it to another step sharing its parameter layouts (the
  method's parts read their scheduled numbers at the field's step).
* :class:`LinearField` (:mod:`.linear`): ``z ↦ J z``, the same interface, for update
  operators.
* movers (:mod:`.movers`): :class:`GradientStep` (projected, optionally with a frozen
  diagonal preconditioner; the analysis) and :class:`OptimizerStep` (training; its
  optimizers' scheduled numbers are read at its step, :meth:`OptimizerStep.at_step`). Schemes
  receive the mover separately and hand it their learning rates (at ``t``) directly.
* wrappers (:mod:`.observed`): :class:`Observed` averages a field across processes and
  reports and guards what it computes; :class:`Guarded` guards a mover's results. The guard
  itself (:class:`DivergenceGuard`, :mod:`.guard`) checks once per step.
"""

from convergan.field.game import Field, GameField, Route, game_field
from convergan.field.guard import DivergenceError, DivergenceGuard
from convergan.field.layout import (
    DISCRIMINATOR,
    GENERATOR,
    PLAYER_NAMES,
    ParameterLayout,
    State,
    flatten,
    unflatten,
)
from convergan.field.linear import LinearField
from convergan.field.movers import GRADIENT_STEP, GradientStep, Mover, OptimizerStep
from convergan.field.observed import Guarded, Observed

__all__ = [
    "DISCRIMINATOR",
    "GENERATOR",
    "GRADIENT_STEP",
    "PLAYER_NAMES",
    "DivergenceError",
    "DivergenceGuard",
    "Field",
    "GameField",
    "GradientStep",
    "Guarded",
    "LinearField",
    "Mover",
    "Observed",
    "OptimizerStep",
    "ParameterLayout",
    "Route",
    "State",
    "flatten",
    "game_field",
    "unflatten",
]
