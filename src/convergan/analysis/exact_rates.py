"""The stable learning rates of a scheme at an equilibrium, exactly.

On a linear field ``z ↦ J z`` every move of a scheme multiplies the state by a matrix of the
form ``I + h·a_i·P_i·J`` (``a_i`` the player's share of the largest rate ``h``), so one
period's update operator ``F(h)`` is a matrix polynomial in ``h`` of degree at most the
number of moves in the period. An eigenvalue of ``F(h)`` can only cross the unit circle where
one of three polynomials in ``h`` vanishes:

* ``det(I − F(h))``: an eigenvalue at 1;
* ``det(I + F(h))``: an eigenvalue at −1;
* ``det(C₂(F(h)) − I)``, ``C₂`` the second compound matrix (its eigenvalues are the products
  ``λ_i·λ_j``, ``i < j``): a pair with ``λ_i·λ_j = 1``, which a complex pair on the unit
  circle is.

Between consecutive positive real roots of these polynomials, stability cannot change, so
checking one point of each cell (exactly, by the Schur–Cohn test) gives every stable range.
Everything is computed in exact rational arithmetic from the field Jacobians' float64 entries
(which are exact rationals): ``F`` is evaluated at integer rates by running the scheme itself
on :class:`ExactLinearField`, the polynomials are interpolated from those values, and their
real roots are isolated exactly (sympy) and refined to ``2⁻⁶⁰`` relative. The ranges are thus
exact for the float64 Jacobians, to rounding of the printed endpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import combinations

import numpy as np

from convergan.analysis.moves import moves_per_period
from convergan.field import GRADIENT_STEP
from convergan.schemes import Scheme, SchemeState

MAX_EXACT_DEGREE = 128
"""The largest degree of a boundary polynomial that the exact search takes on (a period of
64 moves on the Dirac-GAN, solved in under a second: benchmarks/bench_small_costs.py); the
exact integer arithmetic grows fast beyond it, so longer periods fall back to the grid search
of :mod:`convergan.analysis.stable_rates`."""
ROOT_PRECISION = 2.0**-60  # relative width to which every root is refined


@dataclass(frozen=True)
class ExactLinearField:
    """``z ↦ J_g z`` on states of exact rationals (NumPy object arrays of shape
    ``(basis, n_i)`` per player): the interface of :class:`~convergan.field.LinearField`."""

    jacobians: dict[float, np.ndarray]
    sizes: tuple[int, ...]
    regularization_gain: float = 1.0

    def __call__(self, x: tuple) -> tuple:
        z = np.concatenate(x, axis=-1)
        v = z @ self.jacobians[self.regularization_gain].T
        return tuple(np.split(v, np.cumsum(self.sizes)[:-1], axis=-1))

    def player(self, i: int, x: tuple):
        return self(x)[i]

    def with_regularization_gain(self, gain: float) -> ExactLinearField:
        return replace(self, regularization_gain=float(gain))


def dyadic_integers(values: list[float]) -> tuple[list[int], int]:
    """Floats as integers over one power of two: ``values[k] = integers[k] / 2**shift``."""
    ratios = [Fraction(v) for v in values]
    shift = max((r.denominator.bit_length() - 1 for r in ratios), default=0)
    return [int(r * 2**shift) for r in ratios], shift


class ExactOperator:
    """``u ↦ F(u)`` exactly: one period of ``scheme`` on the exact linear field.

    In the scaled rate ``u = h / unit``, with the field Jacobians and the players' shares of
    the largest rate ``h`` written as integers (``J_g = J̃_g / 2^s``, ``a_i = Ã_i / q``,
    ``unit = q·2^s``), each move ``I + h·a_i·P_i·J_g`` is ``I + u·Ã_i·P_i·J̃_g``: at an
    integer ``u`` the whole period is integer arithmetic.
    """

    def __init__(self, scheme: Scheme, jacobians: dict, sizes: tuple[int, ...]) -> None:
        lr_g, lr_d = (Fraction(float(lr)) for lr in scheme.lrs)
        rate = max(lr_g, lr_d)
        shares = (lr_g / rate, lr_d / rate)
        denominator = math.lcm(*(a.denominator for a in shares))
        self.shares = tuple(int(a * denominator) for a in shares)
        gains = [float(g) for g in jacobians]
        arrays = [np.asarray(jacobians[g], dtype=np.float64) for g in jacobians]
        entries, shift = dyadic_integers([float(v) for a in arrays for v in a.ravel()])
        unit = Fraction(denominator * 2**shift)
        # Roots are sought in v = h·2^e ≈ h·max|J| (about 1), where root isolation is quick.
        largest = max((abs(v) for a in arrays for v in a.ravel()), default=1.0) or 1.0
        self.step = Fraction(2) ** -math.frexp(largest)[1]  # h = v·step
        self.per_step = self.step / unit  # u = v·per_step
        size = arrays[0].size
        matrices = {
            g: np.array(entries[k * size : (k + 1) * size], dtype=object).reshape(a.shape)
            for k, (g, a) in enumerate(zip(gains, arrays))
        }
        self.field = ExactLinearField(matrices, sizes).with_regularization_gain(
            scheme.regularization_gains[-1]
        )
        self.scheme = scheme
        self.sizes = sizes
        zero = tuple(np.zeros((1, n), dtype=object) for n in sizes)
        probe = scheme.init(self.field, GRADIENT_STEP, zero).own
        self.state_sizes = tuple(s.shape[-1] for s in probe)
        self.size = sum(sizes) + sum(self.state_sizes)

    def __call__(self, u: int | Fraction) -> np.ndarray:
        scheme = self.scheme.with_rates(u * self.shares[0], u * self.shares[1])
        basis = np.identity(self.size, dtype=int).astype(object)
        cuts = np.cumsum([*self.sizes, *self.state_sizes])[:-1]
        parts = np.split(basis, cuts, axis=-1)
        x, own = tuple(parts[: len(self.sizes)]), tuple(parts[len(self.sizes) :])
        state = SchemeState(own, tuple(GRADIENT_STEP.init(i, x_i) for i, x_i in enumerate(x)))
        for t in range(scheme.period):
            x, state = scheme.step(self.field, GRADIENT_STEP, x, state, t)
        rows = np.concatenate([*x, *state.own], axis=-1)  # row j: F e_j
        return rows.T


def determinant(matrix: np.ndarray) -> int:
    """Exact determinant of an integer matrix (Bareiss: every division is exact)."""
    a = [list(row) for row in matrix]
    n, sign, previous = len(a), 1, 1
    for k in range(n - 1):
        if a[k][k] == 0:
            pivot = next((r for r in range(k + 1, n) if a[r][k] != 0), None)
            if pivot is None:
                return 0
            a[k], a[pivot], sign = a[pivot], a[k], -sign
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                a[i][j] = (a[i][j] * a[k][k] - a[i][k] * a[k][j]) // previous
        previous = a[k][k]
    return sign * a[n - 1][n - 1]


def second_compound(matrix: np.ndarray) -> np.ndarray:
    """``C₂(A)``: the 2×2 minors of ``A``; its eigenvalues are ``λ_i·λ_j`` for ``i < j``."""
    pairs = list(combinations(range(len(matrix)), 2))
    return np.array(
        [
            [matrix[p, r] * matrix[q, s] - matrix[p, s] * matrix[q, r] for r, s in pairs]
            for p, q in pairs
        ],
        dtype=object,
    )


def boundary_values(update: np.ndarray) -> list[Fraction]:
    """``det(I − F)``, ``det(I + F)`` and (two or more eigenvalues) ``det(C₂(F) − I)``."""
    eye = np.identity(len(update), dtype=object)
    values = [determinant(eye - update), determinant(eye + update)]
    if len(update) > 1:
        compound = second_compound(update)
        values.append(determinant(compound - np.identity(len(compound), dtype=object)))
    return values


def interpolate(values: list[int]) -> list[int]:
    """Integer coefficients (lowest first) of ``N!·p``, ``p`` the polynomial of degree ``N``
    through ``(k, values[k])``, ``k = 0..N``: Newton's forward differences, all integer."""
    n = len(values) - 1
    differences, row = [], list(values)
    for _ in range(n + 1):
        differences.append(row[0])
        row = [b - a for a, b in zip(row, row[1:])]
    factorial = math.factorial(n)
    weights = [differences[k] * (factorial // math.factorial(k)) for k in range(n + 1)]
    coefficients = [weights[n]]  # Horner on p = Σ Δᵏ/k!·u(u−1)…(u−k+1)
    for k in range(n - 1, -1, -1):
        shifted = [0, *coefficients]  # times u
        for j, c in enumerate(coefficients):
            shifted[j] -= k * c
        shifted[0] += weights[k]
        coefficients = shifted
    return coefficients


def evaluate(coefficients: list[int], u: int) -> int:
    total = 0
    for c in reversed(coefficients):
        total = total * u + c
    return total


def characteristic_polynomial(matrix: np.ndarray) -> list[int]:
    """A positive multiple of ``det(λI − A)`` (lowest coefficient first) with integer
    coefficients, for a matrix of rationals: Faddeev–LeVerrier on the integer matrix
    ``B = D·A`` (``D`` the common denominator; every division is exact), then
    ``D^n·det(λI − A) = Σ c_j(B)·D^j·λ^j``."""
    n = len(matrix)
    common = math.lcm(*(Fraction(v).denominator for v in matrix.ravel()))
    scaled = np.array([int(Fraction(v) * common) for v in matrix.ravel()], dtype=object)
    scaled = scaled.reshape(matrix.shape)
    coefficients = [0] * n + [1]
    product = np.zeros((n, n), dtype=int).astype(object)
    eye = np.identity(n, dtype=int).astype(object)
    for k in range(1, n + 1):
        product = scaled @ product + coefficients[n - k + 1] * eye
        coefficients[n - k] = -(int(np.trace(scaled @ product)) // k)
    return [c * common**j for j, c in enumerate(coefficients)]


def schur_stable(coefficients: list[int] | list[Fraction]) -> bool:
    """Whether every root of the real polynomial (lowest coefficient first) lies strictly
    inside the unit circle: the Schur–Cohn test, in exact arithmetic."""
    p = list(coefficients)
    while len(p) > 1:
        low, high = p[0], p[-1]
        if abs(low) >= abs(high):
            return False
        # (a_n·p(z) − a_0·p*(z)) / z, p* the reversed polynomial: one degree lower, and
        # Schur stable exactly when p is (given |a_0| < |a_n|).
        p = [high * a - low * b for a, b in zip(p, reversed(p))][1:]
    return True


def positive_roots(coefficients: list[int]) -> list[tuple[Fraction, Fraction]]:
    """Disjoint rational intervals, each holding one positive real root, refined to
    :data:`ROOT_PRECISION` relative width."""
    from sympy import Poly, Symbol  # a slow import: only here

    while coefficients and coefficients[0] == 0:  # the root at h = 0 (F(0) = I)
        coefficients = coefficients[1:]
    if len(coefficients) < 2:
        return []
    poly = Poly(list(reversed(coefficients)), Symbol("u"), domain="ZZ").sqf_part()
    squarefree = [int(c) for c in reversed(poly.all_coeffs())]  # lowest first
    roots = []
    for (lo, hi), _ in poly.intervals(inf=0):
        if hi <= 0:
            continue
        lo, hi = Fraction(int(lo.p), int(lo.q)), Fraction(int(hi.p), int(hi.q))
        roots.append(_bisected(squarefree, lo, hi))
    return roots


def _bisected(coefficients: list[int], lo: Fraction, hi: Fraction) -> tuple[Fraction, Fraction]:
    """sympy's isolating interval ``(lo, hi)`` of one root of the square-free polynomial
    ``coefficients`` (``lo == hi``: an exact rational root; otherwise the one root lies strictly
    inside, and an end may be a neighbouring root), halved in exact arithmetic to
    :data:`ROOT_PRECISION` relative width.

    Bisection on exact signs, rather than sympy's ``refine_root``: its continued-fraction steps
    took tens of thousands of iterations (seconds) on the degree-32 boundary polynomials of a
    16-move AltGD period; about 60 halvings always suffice here."""
    if lo == hi:
        return lo, hi
    # The sign just right of lo: p's there, or p′'s where lo is a (simple) neighbouring root.
    low_sign = _sign_at(coefficients, lo) or _sign_at(_derivative(coefficients), lo)
    while hi - lo > ROOT_PRECISION * hi:
        middle = (lo + hi) / 2
        sign = _sign_at(coefficients, middle)
        if sign == 0:  # the interval's one root
            return middle, middle
        if sign == low_sign:
            lo = middle
        else:
            hi = middle
    return lo, hi


def _derivative(coefficients: list[int]) -> list[int]:
    return [k * c for k, c in enumerate(coefficients)][1:]


def _sign_at(coefficients: list[int], x: Fraction) -> int:
    """The sign of the polynomial (integer coefficients, lowest first) at the rational ``x``,
    in integers: ``b^n·p(a/b) = Σ c_k a^k b^(n−k)`` has the sign of ``p(a/b)`` (``b > 0``)."""
    a, b, n = x.numerator, x.denominator, len(coefficients) - 1
    value = sum(c * a**k * b ** (n - k) for k, c in enumerate(coefficients))
    return (value > 0) - (value < 0)


def exact_stable_intervals(
    scheme: Scheme, jacobians: dict, sizes: tuple[int, ...]
) -> list[tuple[float, float]] | None:
    """Every range of the largest rate ``h`` (the rates keeping their ratio) on which every
    eigenvalue of ``F(h)`` lies strictly inside the unit circle, exactly (see the module
    docstring); ``None`` when the boundary polynomials' degree exceeds
    :data:`MAX_EXACT_DEGREE` or the scheme is not a matrix polynomial of the degree its moves
    allow (a user's scheme that is not built from moves), where the caller searches a grid."""
    operator = ExactOperator(scheme, jacobians, sizes)
    m = operator.size
    moves = moves_per_period(scheme)
    if moves * max(m * (m - 1), m) > MAX_EXACT_DEGREE:  # a bound before any work
        return None
    # F's own degree (≤ the moves; optimistic GD's is 1 for 2 moves): the highest order of
    # its entries' non-zero forward differences over 0..moves + 1 (order moves + 1 must vanish).
    order = update_degree([operator(k) for k in range(moves + 2)])
    if order is None:
        return None  # not a polynomial in the rate of that degree
    degree = max(order * m * (m - 1), order * m)  # C₂(F) has entries of degree 2·order
    samples = [boundary_values(operator(k)) for k in range(degree + 2)]
    polynomials = [interpolate([s[i] for s in samples[:-1]]) for i in range(len(samples[0]))]
    factorial = math.factorial(degree)
    if any(evaluate(p, degree + 1) != factorial * v for p, v in zip(polynomials, samples[-1])):
        return None  # not a polynomial of that degree
    polynomials = [rescaled(p, operator.per_step) for p in polynomials]  # in v
    if any(not any(p) for p in polynomials):
        return []  # an eigenvalue at ±1, or a product λ_i·λ_j = 1, at every rate
    roots = sorted(r for p in polynomials for r in positive_roots(p))
    merged: list[list[Fraction]] = []
    for lo, hi in roots:  # a root shared by two polynomials: one boundary
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    # One point strictly inside each cell between consecutive boundaries, with few bits (the
    # cell is then checked in exact arithmetic on small numbers).
    bounds = [Fraction(0)] + [end for pair in merged for end in pair]
    bounds.append(4 * bounds[-1] if merged else Fraction(2))
    inside = [simple_point(lo, hi) for lo, hi in zip(bounds[::2], bounds[1::2])]
    ends = [0.0] + [_to_float((lo + hi) / 2 * operator.step) for lo, hi in merged] + [math.inf]
    intervals = []
    for k, point in enumerate(inside):
        if schur_stable(characteristic_polynomial(operator(point * operator.per_step))):
            intervals.append((ends[k], ends[k + 1]))
    return intervals


def rescaled(coefficients: list[int], factor: Fraction) -> list[int]:
    """Integer coefficients of ``c·p(factor·v)`` for some ``c > 0`` (same roots over factor)."""
    scaled = [c * factor**k for k, c in enumerate(coefficients)]
    common = math.lcm(*(c.denominator for c in scaled))
    return [int(c * common) for c in scaled]


def simple_point(lo: Fraction, hi: Fraction) -> Fraction:
    """The dyadic rational ``n/2^k`` in ``(lo, hi)`` with the smallest ``k`` (``0 ≤ lo < hi``)."""
    k = hi.denominator.bit_length() - hi.numerator.bit_length() - 1  # 2^-k below hi
    while True:
        step = Fraction(2) ** -k
        point = (math.floor(lo / step) + 1) * step
        if point < hi:
            return point
        k += 1


def update_degree(values: list[np.ndarray]) -> int | None:
    """The degree of a matrix polynomial from its values at 0, 1, …, ``len(values) − 1``;
    ``None`` when the last forward difference is not zero (a higher degree)."""
    differences, row, degree = len(values) - 1, list(values), 0
    for order in range(1, differences + 1):
        row = [b - a for a, b in zip(row, row[1:])]
        if any(any(r.ravel()) for r in row):
            degree = order
    return None if degree == differences else degree


def _to_float(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf
