"""Local convergence at an equilibrium: Jacobians, eigenvalues, spectral radius, verdicts.

Two routes to a scheme's update Jacobian, both exact:

* :func:`update_jacobian` differentiates one period of the scheme, run on the autodiff field
  of the method, with ``torch.func.jacfwd`` (the definition).
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
from convergan.analysis.trajectories import simulate
from convergan.field import (
    GRADIENT_STEP,
    GameField,
    GradientStep,
    LinearField,
    Mover,
    State,
    flatten,
    game_field,
    unflatten,
)
from convergan.methods.method import Method
from convergan.schemes import Scheme, SchemeState

UNIT_CIRCLE_TOLERANCE = 1e-9
STATIONARITY_TOLERANCE = 1e-10
MAX_MOVES_PER_PERIOD = 10_000
"""The most player moves one period of a scheme may take in the exact analysis (each move is
one step of the differentiated program; a period of 10,000 moves already takes seconds)."""
MAX_JACOBIAN_ENTRY = 1e100
"""The largest field-Jacobian entry the analysis accepts: squares of larger entries (which an
update Jacobian of two steps holds) overflow float64."""


def check_scheme_size(scheme: Scheme) -> None:
    """Refuse schemes whose update operator is too long to differentiate in reasonable time."""
    moves = moves_per_period(scheme)
    if moves > MAX_MOVES_PER_PERIOD:
        raise ValueError(
            f"one period of {scheme.name} takes {moves:,} player moves, more than the "
            f"analysis' limit of {MAX_MOVES_PER_PERIOD:,} (lower the step counts or lazy K)"
        )


def field_jacobian(field: GameField, x: State) -> Tensor:
    """``v′(x)``, the Jacobian of the field on the flattened state (``n × n``)."""
    sizes = tuple(x_i.shape[-1] for x_i in x)
    return torch.func.jacfwd(lambda z: flatten(field(unflatten(z, sizes))))(flatten(x))


def is_regular_equilibrium(field: GameField, x: State, step: float = 1e-6) -> tuple[bool, str]:
    """Whether ``x`` is a stationary point at which the field is differentiable.

    Checks ``v(x) = 0`` and that one-sided difference quotients in every coordinate
    direction match the autodiff Jacobian; a kink or jump (WGAN-GP at ψ = 0) fails the check.
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
    jac = torch.func.jacfwd(f)(z)
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


def _pack(x: State, state: State) -> Tensor:
    return flatten((*x, *state))


def _unpack(z: Tensor, sizes: tuple[int, ...], state_sizes: tuple[int, ...]) -> tuple[State, State]:
    parts = torch.split(z, [*sizes, *state_sizes], dim=-1)
    return tuple(parts[: len(sizes)]), tuple(parts[len(sizes) :])


def period_map(
    scheme: Scheme, field, mover: Mover, sizes: tuple[int, ...], state_sizes: tuple[int, ...]
):
    """One period of ``scheme`` as a map of the flat augmented state ``(x, scheme's own
    state)``. The mover must keep no state (gradient steps)."""

    def operator(z: Tensor) -> Tensor:
        x, own = _unpack(z, sizes, state_sizes)
        state = SchemeState(own, tuple(mover.init(i, x_i) for i, x_i in enumerate(x)))
        for t in range(scheme.period):
            x, state = scheme.step(field, mover, x, state, t)
        return _pack(x, state.own)

    return operator


def update_jacobian(scheme: Scheme, field: GameField, x: State) -> Tensor:
    """``F′`` at ``x``: the Jacobian of one period of ``scheme`` on the augmented state, moved
    by projected gradient steps (the method's constraint included)."""
    mover = GradientStep(clip=field.method.clip)
    own = scheme.init(field, mover, x).own
    sizes = tuple(x_i.shape[-1] for x_i in x)
    state_sizes = tuple(s.shape[-1] for s in own)
    operator = period_map(scheme, field, mover, sizes, state_sizes)
    return torch.func.jacfwd(operator)(_pack(x, own))


def linearized_update_jacobian(
    scheme: Scheme, jacobians: dict[float, Tensor], sizes: tuple[int, ...]
) -> Tensor:
    """``F′`` from the field Jacobians alone, batched.

    ``jacobians[g]`` is ``v′`` at regularization gain ``g`` (every gain in
    ``scheme.regularization_gains``), shape ``(..., n, n)``. The scheme's learning rates may be
    tensors of shape ``(..., 1, 1)``: the last two axes stand for the basis vector and the
    player's coordinates. Returns ``(..., m, m)``.
    """
    n = sum(sizes)
    some = next(iter(jacobians.values()))
    # Each basis vector of the augmented state is one more batch entry: insert its axis
    # before the matrix axes so that batch shapes broadcast.
    field = LinearField({g: j[..., None, :, :] for g, j in jacobians.items()}, sizes)
    field = field.with_regularization_gain(scheme.regularization_gains[-1])
    # The scheme's own state (e.g. optimistic GD's previous field value) sets the augmented size.
    zero = unflatten(torch.zeros(n, dtype=some.dtype), sizes)
    probe_state = scheme.init(field, GRADIENT_STEP, zero).own
    state_sizes = tuple(s.shape[-1] for s in probe_state)
    m = n + sum(state_sizes)
    basis = torch.eye(m, dtype=some.dtype)
    # Plain gradient steps: constraints are inactive at an interior equilibrium.
    rows = period_map(scheme, field, GRADIENT_STEP, sizes, state_sizes)(basis)  # row j: F′ e_j
    return rows.transpose(-1, -2)


def eigenvalues(matrix: Tensor) -> Tensor:
    """Eigenvalues of a (batch of) square matrices; ``nan`` for every matrix with a non-finite
    entry, which never reaches LAPACK (its balancing step can loop forever on ``inf``/``nan``).

    Each matrix is divided by a power of two near its largest entry before the decomposition
    and the eigenvalues multiplied back: exact in floating point, and it keeps LAPACK's
    intermediate products from overflowing on huge (finite) entries.
    """
    finite = torch.isfinite(matrix).flatten(-2).all(dim=-1)
    largest = matrix.abs().flatten(-2).amax(dim=-1)
    usable = finite & (largest > 0)
    _, exponent = torch.frexp(torch.where(usable, largest, torch.ones_like(largest)))
    scale = torch.ldexp(torch.ones_like(largest), exponent - 1)  # 2**1024 would overflow
    safe = torch.where(usable[..., None, None], matrix / scale[..., None, None], 0.0)
    values = torch.linalg.eigvals(safe) * scale[..., None]
    return torch.where(finite[..., None], values, torch.full_like(values, complex("nan+nanj")))


def spectral_radius(matrix: Tensor) -> Tensor:
    """``max |λ|`` over the eigenvalues of each matrix; ``inf`` where the matrix is not finite
    (an update that overflowed diverges)."""
    radius = eigenvalues(matrix).abs().amax(dim=-1)
    return torch.where(torch.isnan(radius), torch.full_like(radius, float("inf")), radius)


def verdict(radius: float) -> str:
    if radius < 1 - UNIT_CIRCLE_TOLERANCE:
        return "converges"
    if radius <= 1 + UNIT_CIRCLE_TOLERANCE:
        return "no linear convergence"
    return "diverges"


def field_jacobians_by_gain(
    make_field: Callable[[float], GameField], x: State, gains: tuple[float, ...]
) -> dict[float, Tensor]:
    return {g: field_jacobian(make_field(g), x) for g in gains}


# Below this dimensionless step the update is the flow to first order (see stable_lr_intervals).
SMALL_STEP = 1e-6


def stable_lr_intervals(
    scheme: Scheme,
    jacobians: dict[float, Tensor],
    sizes: tuple[int, ...],
    *,
    per_decade: int = 200,
    lowest_step: float = 1e-12,
    highest_step: float = 1e15,
    bisections: int = 80,
) -> list[tuple[float, float]]:
    """Every range of the largest learning rate ``h`` at which the scheme converges
    (ρ < 1 − 1e-9), the rates keeping their ratio; divide by ``max(scheme.lrs)`` for the factor
    of :meth:`Scheme.scaled` (rates, not factors, so a tiny ``--lr`` cannot overflow them).

    The search does not depend on the scheme's own learning rates. It works in the
    dimensionless step ``s = h_max·‖J‖₂`` (the largest rate times the largest field-Jacobian
    norm over the scheme's regularization gains), scans a log grid of ``per_decade`` points per
    decade from ``lowest_step`` to ``highest_step`` and bisects every boundary between a
    converging and a non-converging grid point. A stable set can have several ranges (AltGD
    with several discriminator steps); a range narrower than the grid spacing can be missed.

    A range whose lower end is below ``s = 1e-6`` starts at 0: there ``ρ ≈ 1 + h·max Re λ``,
    so small steps converge exactly when the flow does, and the end found is only where the
    contraction passes the 1e-9 tolerance. A range that still converges at ``s = 1e15`` ends
    at ``inf``: there ``I + hJ`` is ``hJ`` to float64 precision. No range means no rate
    converges (e.g. an eigenvalue with positive real part, or a pure rotation under SimGD).
    For SimGD the one range is ``(0, min 2|Re λ|/|λ|²)`` over the field eigenvalues.
    """
    dtype = next(iter(jacobians.values())).dtype
    norm = max(float(torch.linalg.matrix_norm(j, ord=2).max()) for j in jacobians.values())
    lr_g, lr_d = (float(lr) for lr in scheme.lrs)
    rate = max(abs(lr_g), abs(lr_d))
    if not math.isfinite(norm) or norm == 0.0 or not math.isfinite(rate) or rate == 0.0:
        return []
    # Largest rate exactly 1, so the search is lr-independent; dividing (rather than scaling
    # by 1/rate) keeps this exact for subnormal rates such as 1e-308.
    unit_scheme = scheme.with_rates(lr_g / rate, lr_d / rate)

    def converges(steps: Tensor) -> Tensor:
        scaled = unit_scheme.scaled((steps / norm)[:, None, None])
        radius = spectral_radius(linearized_update_jacobian(scaled, jacobians, sizes))
        return radius < 1 - UNIT_CIRCLE_TOLERANCE

    def boundary(lo: float, hi: float, stable_at_lo: bool) -> float:
        """The step between grid points ``lo`` and ``hi`` where convergence switches."""
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if bool(converges(torch.tensor([mid], dtype=dtype))[0]) == stable_at_lo:
                lo = mid
            else:
                hi = mid
        return lo if stable_at_lo else hi

    first = math.floor(math.log10(lowest_step) * per_decade)
    last = math.ceil(math.log10(highest_step) * per_decade)
    steps = 10.0 ** (torch.arange(first, last + 1, dtype=dtype) / per_decade)
    stable = converges(steps).tolist()
    intervals = []
    start = 0.0 if stable[0] else None
    for i in range(1, len(steps)):
        if stable[i] and not stable[i - 1]:
            start = boundary(float(steps[i - 1]), float(steps[i]), False)
            start = 0.0 if start < SMALL_STEP else start
        elif stable[i - 1] and not stable[i]:
            intervals.append((start, boundary(float(steps[i - 1]), float(steps[i]), True)))
            start = None
    if start is not None:
        intervals.append((start, math.inf))
    return [(lo / norm, hi / norm) for lo, hi in intervals]


def max_stable_lr_scale(
    scheme: Scheme, jacobians: dict[float, Tensor], sizes: tuple[int, ...], **search
) -> float | None:
    """The largest factor ``c`` at which ``scheme.scaled(c)`` converges: the end of the last
    of :func:`stable_lr_intervals` (``inf`` when still stable at the search bound, ``None``
    when no rate converges)."""
    intervals = stable_lr_intervals(scheme, jacobians, sizes, **search)
    return intervals[-1][1] / max(abs(float(lr)) for lr in scheme.lrs) if intervals else None


def _trajectory_fallback(game, method, scheme, x, steps, radius) -> dict[str, int]:
    centre = flatten(x)
    if centre.numel() != 2:
        directions = torch.eye(centre.numel(), dtype=centre.dtype)
        directions = torch.cat([directions, -directions])
    else:
        angles = torch.arange(8, dtype=centre.dtype) * (math.pi / 4) + math.pi / 8
        directions = torch.stack([angles.cos(), angles.sin()], dim=1)
    verdicts = simulate(game, method, scheme, centre + radius * directions, steps).verdicts
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
    game, method: Method, scheme: Scheme, fallback_steps: int = 300, fallback_radius: float = 0.5
) -> LocalAnalysis:
    """Exact local analysis of ``method`` trained with ``scheme`` on ``game``.

    Without a regular equilibrium there is nothing to linearise; the analysis then runs the
    scheme for ``fallback_steps`` from 8 points at distance ``fallback_radius`` around the
    equilibrium and counts the trajectory verdicts instead. ``method`` may be a
    :class:`~convergan.methods.Method` or its spec (:class:`~convergan.methods.MethodSpec`).
    """
    if hasattr(method, "build") and not isinstance(method, Method):
        method = method.build()  # a MethodSpec
    check_scheme_size(scheme)
    x = game.equilibrium()
    field = game_field(game, method)
    base = dict(
        method=method.name, scheme=scheme.name, equilibrium=flatten(x), period=scheme.period
    )
    regular, note = is_regular_equilibrium(field, x)
    if not regular:
        return LocalAnalysis(
            regular=False,
            note=f"no regular equilibrium: {note}; verdict from trajectories",
            trajectory_verdicts=_trajectory_fallback(
                game, method, scheme, x, fallback_steps, fallback_radius
            ),
            **base,
        )
    jacobian = field_jacobian(field, x)
    _check_jacobian(jacobian, method.name)
    field_eigenvalues = eigenvalues(jacobian)
    update = update_jacobian(scheme, field, x)
    if not torch.isfinite(update).all():
        lrs = ", ".join(f"{float(lr):g}" for lr in scheme.lrs)
        raise ValueError(
            f"the update Jacobian of {scheme.name} overflows float64 at learning rates {lrs}; "
            "use smaller learning rates"
        )
    update_eigenvalues = eigenvalues(update)
    radius = float(update_eigenvalues.abs().max())
    sizes = tuple(x_i.shape[-1] for x_i in x)
    jacobians = field_jacobians_by_gain(
        field.with_regularization_gain, x, scheme.regularization_gains
    )
    intervals = stable_lr_intervals(scheme, jacobians, sizes)
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
        max_stable_lr_scale=intervals[-1][1] / max(abs(float(lr)) for lr in scheme.lrs)
        if intervals
        else None,
        stable_lr_intervals=tuple(intervals),
        continuous_time_stable=bool((field_eigenvalues.real < -UNIT_CIRCLE_TOLERANCE).all()),
        **base,
    )
