"""Local convergence at an equilibrium: the field Jacobian, regularity, and the analysis that
combines the update operator (:mod:`convergan.analysis.operators`) with the stable learning
rates (:mod:`convergan.analysis.stable_rates`) into one :class:`LocalAnalysis`.

Two routes to a scheme's update Jacobian, both exact:

* :func:`update_jacobian` differentiates one period of the scheme, run on the autodiff field
  of the method (the definition). :func:`analyze` builds that field on the eager route and
  differentiates it by reverse mode (plain ``torch.autograd``, no first-call imports of
  ``torch.func``'s transforms); under ``vmap`` (stability maps) fields take the functional
  route and ``torch.func.jacfwd``. Both give the same Jacobians to rounding.
* :func:`linearized_update_jacobian` runs the scheme on the linear field ``z ↦ J z`` from the
  identity, batched over learning rates and parameters (fast; used for stability maps and the
  largest stable learning rate). The two agree because a scheme's derivative at an
  equilibrium only sees the field's linearisation.

A scheme converges locally at a linear rate iff the spectral radius ρ of its update Jacobian
is < 1; ``|ρ − 1| ≤ 1e-9`` is reported as "no linear convergence".

**Limits.** LAPACK's eigenvalue routines can hang, uninterruptibly, on matrices with ``inf`` or
``nan`` entries, so :func:`eigenvalues` never hands it one, and :func:`analyze` rejects a field
Jacobian that is not finite or has entries beyond :data:`MAX_JACOBIAN_ENTRY` (products of such
entries overflow float64). A scheme whose period takes more than :data:`MAX_MOVES_PER_PERIOD`
player moves (``--d-steps 1e6``, ``--lazy 1e6``) is refused with a ``ValueError`` rather than
run for hours without output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from convergan.analysis.moves import moves_per_period
from convergan.analysis.operators import (
    UNIT_CIRCLE_TOLERANCE,
    check_scheme_size,
    eigenvalues,
    flush_subnormals,
    jacobian,
    linearized_update_jacobian,
    update_jacobian,
    verdict,
)
from convergan.analysis.stable_rates import max_scale_of_ranges, stable_lr_ranges
from convergan.analysis.trajectories import simulate
from convergan.field import (
    DifferentiationRoute,
    GameField,
    State,
    flatten,
    game_field,
    unflatten,
)
from convergan.methods.method import Method
from convergan.schemes import Scheme

STATIONARITY_TOLERANCE = 1e-10
MAX_DIFFERENTIATED_MOVES = 64
"""Periods of at most this many moves are differentiated through the method's field (the
definition); longer ones are composed from the field Jacobians (:func:`linearized_update_jacobian`,
the same matrix): reverse mode through a period costs time quadratic in its moves (every
penalty's inner gradient walks the whole graph behind it; benchmarks/bench_small_costs.py)."""
MAX_FALLBACK_MOVES = 10_000
"""The most player moves per trajectory of the fallback verdict (a method without a regular
equilibrium): each is a step on the method's autodiff field, so this bounds the fallback's
time (a move's cost: benchmarks/bench_small_costs.py)."""
MAX_JACOBIAN_ENTRY = 1e100
"""The largest field-Jacobian entry the analysis accepts: squares of larger entries (which an
update Jacobian of two steps holds) overflow float64."""


def field_jacobian(field: GameField, x: State) -> Tensor:
    """``v′(x)``, the Jacobian of the field on the flattened state (``n × n``), by the
    field's route (:func:`~convergan.analysis.operators.jacobian`), subnormal entries set to 0
    (:func:`~convergan.analysis.operators.flush_subnormals`: eigenvalue routines go wrong on
    them, and they move no eigenvalue measurably)."""
    sizes = tuple(x_i.shape[-1] for x_i in x)
    matrix = jacobian(lambda z: flatten(field(unflatten(z, sizes))), flatten(x), field.route)
    return flush_subnormals(matrix)


def is_regular_equilibrium(field: GameField, x: State, step: float = 1e-6) -> tuple[bool, str]:
    """Whether ``x`` is a stationary point at which the field is differentiable.

    Checks ``v(x) = 0``, that the autodiff Jacobian is finite and that one-sided difference
    quotients in every coordinate direction match it; a kink or jump (WGAN-GP at ψ = 0) fails
    the check.
    """
    z = flatten(x).detach()
    sizes = tuple(x_i.shape[-1] for x_i in x)

    def f(u: Tensor) -> Tensor:
        return flatten(field(unflatten(u, sizes)))

    value = f(z)
    if not torch.isfinite(value).all():
        return False, "the field is not finite at the equilibrium"
    if value.abs().max() > STATIONARITY_TOLERANCE:
        return False, f"the field is not zero at the equilibrium (|v| = {value.abs().max():.3g})"
    jac = field_jacobian(field, x)
    for j in range(z.numel()):
        # Reverse mode through ‖∇D‖ at ∇D = 0 (WGAN-GP at ψ = 0) gives nan: no derivative.
        if not torch.isfinite(jac[:, j]).all():
            return False, (
                "the field is not differentiable at the equilibrium "
                f"(no finite derivative along coordinate {j})"
            )
    scale = 1.0 + jac.abs().max()
    for j in range(z.numel()):
        e = torch.zeros_like(z)
        e[j] = step
        forward = (f(z + e) - value) / step
        backward = (value - f(z - e)) / step
        if not torch.isfinite(forward).all() or not torch.isfinite(backward).all():
            return False, "the field is not finite next to the equilibrium"
        err = max((forward - jac[:, j]).abs().max(), (backward - jac[:, j]).abs().max())
        if err > 1e-3 * scale:
            return False, (
                "the field is not differentiable at the equilibrium "
                f"(one-sided derivatives differ along coordinate {j})"
            )
    return True, "regular equilibrium"


def field_jacobians_by_gain(
    make_field: Callable[[float], GameField], x: State, gains: tuple[float, ...]
) -> dict[float, Tensor]:
    return {g: field_jacobian(make_field(g), x) for g in gains}


def _trajectory_fallback(game, method, scheme, x, steps, radius, progress) -> dict[str, int]:
    moves = steps * moves_per_period(scheme) // max(1, int(scheme.period))
    if moves > MAX_FALLBACK_MOVES:
        raise ValueError(
            f"{method.name} has no regular equilibrium, so its verdict comes from {steps} steps "
            f"of trajectories: {moves:,} player moves of {scheme.name}, more than the limit of "
            f"{MAX_FALLBACK_MOVES:,} (lower the step counts or lazy K)"
        )
    centre = flatten(x)
    if centre.numel() != 2:
        directions = torch.eye(centre.numel(), dtype=centre.dtype)
        directions = torch.cat([directions, -directions])
    else:
        angles = torch.arange(8, dtype=centre.dtype) * (math.pi / 4) + math.pi / 8
        directions = torch.stack([angles.cos(), angles.sin()], dim=1)
    starts = centre + radius * directions
    verdicts = simulate(game, method, scheme, starts, steps, progress=progress).verdicts
    return {v: verdicts.count(v) for v in sorted(set(verdicts))}


@dataclass(frozen=True)
class LocalAnalysis:
    """Everything the exact analysis says about a method and a scheme at an equilibrium."""

    method: str
    scheme: str
    regular: bool
    note: str
    equilibrium: Tensor
    jacobian: Tensor | None = None
    jacobian_eigenvalues: Tensor | None = None
    update_jacobian: Tensor | None = None
    update_eigenvalues: Tensor | None = None
    spectral_radius: float | None = None
    verdict: str = "undefined"
    max_stable_lr_scale: float | None = None
    stable_lr_intervals: tuple[tuple[float, float], ...] = ()  # of max(lr_g, lr_d)
    stable_lr_exact: bool = True  # False: from the grid search (a narrow range can be missed)
    continuous_time_stable: bool | None = None
    period: int = 1
    trajectory_verdicts: dict[str, int] | None = None  # fallback without a regular equilibrium

    @property
    def converges(self) -> bool | None:
        return None if not self.regular else self.verdict == "converges"

    @property
    def rate_per_step(self) -> float | None:
        """``ρ^(1/period)``: comparable across schemes with different periods (lazy)."""
        if self.spectral_radius is None:
            return None
        return self.spectral_radius ** (1.0 / self.period)

    @property
    def rate(self) -> float | None:
        """Linear rate ``ρ`` per period: the distance shrinks like ``ρ^k`` (when ``ρ < 1``)."""
        return self.spectral_radius if self.verdict == "converges" else None


def _check_jacobian(jacobian: Tensor, method: str) -> None:
    largest = float(jacobian.abs().max())
    if not math.isfinite(largest):
        raise ValueError(f"the field Jacobian of {method} at the equilibrium is not finite")
    if largest > MAX_JACOBIAN_ENTRY:
        raise ValueError(
            f"the field Jacobian of {method} has entries up to {largest:.3g}, beyond the "
            f"analysis' range of {MAX_JACOBIAN_ENTRY:g} (float64 would overflow); use smaller "
            "hyperparameters"
        )


def analyze(
    game,
    method: Method,
    scheme: Scheme,
    fallback_steps: int = 300,
    fallback_radius: float = 0.5,
    route: DifferentiationRoute = "eager",
    progress: bool = False,
) -> LocalAnalysis:
    """Exact local analysis of ``method`` trained with ``scheme`` on ``game``.

    ``route`` is the field's differentiation route; the eager one (reverse mode through
    ``torch.autograd``) spares a short run the first-call cost of ``torch.func``, and the
    functional one gives the same numbers to rounding. ``progress``: a bar on stderr for the
    parts that can take long (the grid search of stable rates over a long period).

    Without a regular equilibrium there is nothing to linearise; the analysis then runs the
    scheme for ``fallback_steps`` from 8 points at distance ``fallback_radius`` around the
    equilibrium and counts the trajectory verdicts instead. ``method`` may be a
    :class:`~convergan.methods.Method` or its spec (:class:`~convergan.methods.MethodSpec`).
    """
    if hasattr(method, "build") and not isinstance(method, Method):
        method = method.build()  # a MethodSpec
    check_scheme_size(scheme)
    x = game.equilibrium()
    field = game_field(game, method, route=route)
    base = dict(
        method=method.name, scheme=scheme.name, equilibrium=flatten(x), period=scheme.period
    )
    regular, note = is_regular_equilibrium(field, x)
    if not regular:
        return LocalAnalysis(
            regular=False,
            note=f"no regular equilibrium: {note}; verdict from trajectories",
            trajectory_verdicts=_trajectory_fallback(
                game, method, scheme, x, fallback_steps, fallback_radius, progress
            ),
            **base,
        )
    jacobian = field_jacobian(field, x)
    _check_jacobian(jacobian, method.name)
    field_eigenvalues = eigenvalues(jacobian)
    sizes = tuple(x_i.shape[-1] for x_i in x)
    jacobians = field_jacobians_by_gain(
        field.with_regularization_gain, x, scheme.regularization_gains
    )
    if moves_per_period(scheme) <= MAX_DIFFERENTIATED_MOVES:
        update = update_jacobian(scheme, field, x)
    else:  # the same matrix, from the field Jacobians: linear in the moves, not quadratic
        update = linearized_update_jacobian(scheme, jacobians, sizes)
    if not torch.isfinite(update).all():
        lrs = ", ".join(f"{float(lr):g}" for lr in scheme.lrs)
        raise ValueError(
            f"the update Jacobian of {scheme.name} overflows float64 at learning rates {lrs}; "
            "use smaller learning rates"
        )
    update_eigenvalues = eigenvalues(update)
    radius = float(update_eigenvalues.abs().max())
    intervals, exact = stable_lr_ranges(scheme, jacobians, sizes, progress=progress)
    if method.clip is not None:
        note = f"{note}; weight clipping is inactive at the equilibrium"
    return LocalAnalysis(
        regular=True,
        note=note,
        jacobian=jacobian,
        jacobian_eigenvalues=field_eigenvalues,
        update_jacobian=update,
        update_eigenvalues=update_eigenvalues,
        spectral_radius=radius,
        verdict=verdict(radius),
        max_stable_lr_scale=max_scale_of_ranges(intervals, scheme.lrs),
        stable_lr_intervals=tuple(intervals),
        stable_lr_exact=exact,
        continuous_time_stable=bool((field_eigenvalues.real < -UNIT_CIRCLE_TOLERANCE).all()),
        **base,
    )
