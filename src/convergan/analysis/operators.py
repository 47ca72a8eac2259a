"""A scheme's update operator at an equilibrium and what decides convergence: the update
Jacobian by two exact routes, eigenvalues, spectral radius and the verdict.

* :func:`update_jacobian` differentiates one period of the scheme, run on the autodiff field
  of the method (the definition): by ``torch.func.jacfwd``, or by reverse mode through an
  eager field (:func:`jacobian`).
* :func:`linearized_update_jacobian` runs the scheme on the linear field ``z ↦ J z`` from the
  identity, batched over learning rates and parameters (fast; used for stability maps and the
  stable learning rates). The two agree because a scheme's derivative at an equilibrium only
  sees the field's linearisation.

A scheme converges locally at a linear rate iff the spectral radius ρ of its update Jacobian
is < 1; ``|ρ − 1| ≤ 1e-9`` is reported as "no linear convergence". LAPACK's eigenvalue routines
can hang on matrices with ``inf`` or ``nan`` entries, so :func:`eigenvalues` never hands it
one; a period of more than :data:`MAX_MOVES_PER_PERIOD` player moves is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from convergan.analysis.moves import moves_per_period
from convergan.field import (
    GRADIENT_STEP,
    DifferentiationRoute,
    GameField,
    GradientStep,
    LinearField,
    Mover,
    State,
    flatten,
    unflatten,
)
from convergan.schemes import Scheme, SchemeState

UNIT_CIRCLE_TOLERANCE = 1e-9
MAX_MOVES_PER_PERIOD = 10_000
"""The most player moves one period of a scheme may take in the exact analysis (each move is
one step of the differentiated program; a period of 10,000 moves already takes seconds)."""


def check_scheme_size(scheme: Scheme) -> None:
    """Refuse schemes whose update operator is too long to differentiate in reasonable time."""
    moves = moves_per_period(scheme)
    if moves > MAX_MOVES_PER_PERIOD:
        raise ValueError(
            f"one period of {scheme.name} takes {moves:,} player moves, more than the "
            f"analysis' limit of {MAX_MOVES_PER_PERIOD:,} (lower the step counts or lazy K)"
        )


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


def jacobian(f: Callable[[Tensor], Tensor], z: Tensor, route: DifferentiationRoute) -> Tensor:
    """The Jacobian of a map of flat vectors at ``z``, by the route of the field inside ``f``.

    ``"functional"``: ``torch.func.jacfwd`` (composes with ``vmap``: stability maps).
    ``"eager"``: reverse mode, one backward pass per output through the graph an eager field
    keeps when its state requires grad; plain ``torch.autograd``, so a process that only
    analyses never pays the first-call imports of ``torch.func``'s transforms (``torch._dynamo``
    and the forward-mode decompositions: "Speed of dirac analyze" in
    docs/results/benchmarks.md). The two routes agree to rounding
    (tests/test_dirac_eigenvalues.py).
    """
    if route == "functional":
        return torch.func.jacfwd(f)(z)
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        out = f(z)
        if not out.requires_grad:  # f does not depend on z
            return torch.zeros(out.shape[-1], z.shape[-1], dtype=out.dtype)
        rows = []
        for k in range(out.shape[-1]):
            (row,) = torch.autograd.grad(
                out[k], z, retain_graph=True, allow_unused=True, materialize_grads=True
            )
            rows.append(row)
    return torch.stack(rows).detach()


def update_jacobian(scheme: Scheme, field: GameField, x: State) -> Tensor:
    """``F′`` at ``x``: the Jacobian of one period of ``scheme`` on the augmented state, moved
    by projected gradient steps (the method's constraint included), by the field's route."""
    mover = GradientStep(clip=field.method.clip)
    own = scheme.init(field, mover, x).own
    sizes = tuple(x_i.shape[-1] for x_i in x)
    state_sizes = tuple(s.shape[-1] for s in own)
    operator = period_map(scheme, field, mover, sizes, state_sizes)
    return jacobian(operator, _pack(x, own), field.route)


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


def flush_subnormals(matrix: Tensor) -> Tensor:
    """``matrix`` with its subnormal entries (below the smallest normal float, about 2e-308)
    set to 0, in every matrix that has a normal entry.

    LAPACK's balancing of the eigenvalue routines goes wrong on subnormal entries beside
    normal ones: ``[[0, 1/2], [−1/2, −1.15e-319]]`` (instance noise at σ = 4.8e-160) came out
    with eigenvalues ``±0.5000065i``, off by 6.5e-6. An entry below 2e-308 beside one of size
    ≥ 2e-308 moves no eigenvalue measurably: at most by its size (a double eigenvalue by its
    square root, 1e-154), so setting it to 0 is exact to float64 precision.
    """
    tiny = torch.finfo(matrix.dtype).tiny
    magnitude = matrix.abs()
    normal = (magnitude.flatten(-2).amax(dim=-1) >= tiny)[..., None, None]
    return torch.where(normal & (magnitude < tiny), torch.zeros_like(matrix), matrix)


def eigenvalues(matrix: Tensor) -> Tensor:
    """Eigenvalues of a (batch of) square matrices; ``nan`` for every matrix with a non-finite
    entry, which never reaches LAPACK (its balancing step can loop forever on ``inf``/``nan``).

    Each matrix is divided by a power of two near its largest entry before the decomposition
    and the eigenvalues multiplied back: exact in floating point, and it keeps LAPACK's
    intermediate products from overflowing on huge (finite) entries. Entries that are then
    subnormal are set to 0 (:func:`flush_subnormals`).
    """
    finite = torch.isfinite(matrix).flatten(-2).all(dim=-1)
    largest = matrix.abs().flatten(-2).amax(dim=-1)
    usable = finite & (largest > 0)
    _, exponent = torch.frexp(torch.where(usable, largest, torch.ones_like(largest)))
    scale = torch.ldexp(torch.ones_like(largest), exponent - 1)  # 2**1024 would overflow
    safe = flush_subnormals(
        torch.where(usable[..., None, None], matrix / scale[..., None, None], 0.0)
    )
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
