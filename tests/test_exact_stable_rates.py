"""Stable learning-rate ranges exactly (issue 20, item 3), against a reference written here: the
update operator of each scheme on the Dirac-GAN written out as a matrix product from the field
Jacobians, its spectral radius in 40-digit mpmath, and a dense float scan."""

from __future__ import annotations

import json
import math
import sys
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from convergan.analysis import analyze
from convergan.analysis.exact_rates import (
    ROOT_PRECISION,
    characteristic_polynomial,
    positive_roots,
    schur_stable,
)
from convergan.analysis.local import field_jacobians_by_gain
from convergan.cli.main import main
from convergan.field import game_field
from convergan.games import dirac_gan
from convergan.methods.parse import parse_method
from convergan.schemes.spec import parse_scheme

GAME = dirac_gan()
mpmath.mp.dps = 40


def reference_update(kind, jacobians, h, shares, g_steps=1, d_steps=1, lazy=1, lib=mpmath):
    """``F(h)`` of one period on the Dirac-GAN (``θ`` then ``ψ``), written out: a move of
    player ``i`` is ``I + h·a_i·P_i·J``; AltGD runs its generator steps first; optimistic GD
    acts on ``(x, previous field value)``: ``x' = x + H(2Jx − p)``, ``p' = Jx``. ``lib`` is
    mpmath (40 digits) or NumPy."""
    if lib is mpmath:
        eye, mat, zeros = mpmath.eye, mpmath.matrix, mpmath.zeros
    else:
        eye, mat, zeros = np.eye, (lambda rows: np.array(rows, dtype=float)), np.zeros

    def mul(*factors):
        out = factors[0]
        for f in factors[1:]:
            out = out * f if lib is mpmath else out @ f
        return out

    a_g, a_d = (h * a for a in shares)
    rates = mat([[a_g, 0], [0, a_d]])
    p_g, p_d = mat([[1, 0], [0, 0]]), mat([[0, 0], [0, 1]])

    def one_step(J):
        if kind == "simgd":
            return eye(2) + mul(rates, J)
        if kind == "extragradient":
            return eye(2) + mul(rates, J, eye(2) + mul(rates, J))
        if kind == "altgd":
            g_move, d_move = eye(2) + a_g * mul(p_g, J), eye(2) + a_d * mul(p_d, J)
            return mul(*[d_move] * d_steps, *[g_move] * g_steps)
        blocks = [
            [eye(2) + 2 * mul(rates, J), -rates],
            [J, zeros((2, 2)) if lib is np else zeros(2, 2)],
        ]
        out = zeros(4, 4) if lib is mpmath else np.zeros((4, 4))
        for bi in range(2):
            for bj in range(2):
                for i in range(2):
                    for j in range(2):
                        out[2 * bi + i, 2 * bj + j] = blocks[bi][bj][i, j]
        return out

    gains = [0.0] * (lazy - 1) + [float(lazy)] if lazy > 1 else [1.0]
    total = one_step(jacobians[gains[0]])
    for gain in gains[1:]:
        total = mul(one_step(jacobians[gain]), total)
    return total


def rho_mp(kind, jacobians, h, shares, **steps) -> mpmath.mpf:
    js = {g: mpmath.matrix(j.tolist()) for g, j in jacobians.items()}
    update = reference_update(kind, js, mpmath.mpf(h), [mpmath.mpf(a) for a in shares], **steps)
    return max(abs(v) for v in mpmath.eig(update, left=False, right=False))


def setup(method: dict, scheme: dict, lr_g: float, lr_d: float):
    spec, scheme_built = parse_method(method), parse_scheme(scheme).build(lr_g=lr_g, lr_d=lr_d)
    field = game_field(GAME, spec.build(), route="eager")
    jacobians = field_jacobians_by_gain(
        field.with_regularization_gain, GAME.equilibrium(), scheme_built.regularization_gains
    )
    jacobians = {g: j.numpy() for g, j in jacobians.items()}
    result = analyze(GAME, spec, scheme_built)
    rate = max(lr_g, lr_d)
    shares = (lr_g / rate, lr_d / rate)
    steps = {
        "g_steps": scheme.get("g_steps", 1),
        "d_steps": scheme.get("d_steps", 1),
        "lazy": scheme.get("lazy_every", 1),
    }
    return result, jacobians, shares, steps


def check_ranges(kind, result, jacobians, shares, steps, rel=1e-9):
    """Each range: ρ < 1 just inside both ends, ρ > 1 just outside (unless another range
    starts there); a dense scan finds no stable rate outside the ranges nor an unstable one
    inside; the largest stable rate is the end of the last range."""
    intervals = result.stable_lr_intervals
    assert result.stable_lr_exact

    def inside(h):
        return any(lo < h < hi for lo, hi in intervals)

    for lo, hi in intervals:
        assert lo < hi
        if lo > 0:
            assert rho_mp(kind, jacobians, lo * (1 + rel), shares, **steps) < 1
            if not inside(lo * (1 - rel)):
                assert rho_mp(kind, jacobians, lo * (1 - rel), shares, **steps) > 1
        if math.isfinite(hi):
            assert rho_mp(kind, jacobians, hi * (1 - rel), shares, **steps) < 1
            if not inside(hi * (1 + rel)):
                assert rho_mp(kind, jacobians, hi * (1 + rel), shares, **steps) > 1
    for h in np.geomspace(1e-3, 1e3, 400):
        radius = max(
            abs(np.linalg.eigvals(reference_update(kind, jacobians, h, shares, **steps, lib=np)))
        )
        near_an_end = any(abs(h - e) < 1e-6 * h for pair in intervals for e in pair)
        if not near_an_end and abs(radius - 1) > 1e-9:
            assert inside(h) == (radius < 1), (h, radius, intervals)


# The issue's three examples: ranges found by an mpmath reference (ρ < 1 inside, > 1 outside).
ISSUE_EXAMPLES = [
    (
        {"loss": "nonsaturating", "penalties": ["r1:0.021999225927279216"]},
        {"name": "altgd", "d_steps": 2},
        (0.2842512195931166, 0.2842512195931166),
        (90.824, 90.912),
    ),
    (
        {"loss": "saturating", "penalties": ["r1:0.09969678648439802"]},
        {"name": "altgd", "d_steps": 4},
        (0.020776539064481177, 0.020776539064481177),
        (19.861, 20.061),
    ),
    (
        {
            "loss": "nonsaturating",
            "penalties": ["r1:0.41660143054215604", "r2:0.12166883773268762"],
        },
        {"name": "altgd", "g_steps": 2, "d_steps": 3, "lazy_every": 4},
        (0.3439791560787631, 0.7536252776388245),
        (0.92499, 0.92862),
    ),
]


@pytest.mark.parametrize(("method", "scheme", "rates", "narrow"), ISSUE_EXAMPLES)
def test_the_issues_narrow_ranges_are_found(method, scheme, rates, narrow):
    result, jacobians, shares, steps = setup(method, scheme, *rates)
    found = [r for r in result.stable_lr_intervals if r[0] < sum(narrow) / 2 < r[1]]
    assert len(found) == 1
    assert found[0] == pytest.approx(narrow, rel=2e-5)  # the issue's digits
    check_ranges("altgd", result, jacobians, shares, steps)


def test_cli_never_says_converges_outside_its_ranges(capsys):
    args = [
        "dirac", "analyze", "method.loss=nonsaturating", "method.penalties=[r1:"
        "0.021999225927279216]",
        "--scheme", "altgd", "--d-steps", "2", "--lr", "90.87", "--json",
    ]  # fmt: skip
    with pytest.raises(SystemExit) as done:
        sys.exit(main(args))
    assert done.value.code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["verdict"] == "converges"
    assert any(lo < 90.87 < hi for lo, hi in record["stable_lr_intervals"])
    assert record["max_stable_lr"] == record["stable_lr_intervals"][-1][1] > 90.87
    assert record["stable_lr_exact"] is True


def test_characteristic_polynomial_against_numpy():
    from fractions import Fraction

    rng = np.random.default_rng(1)
    for n in (1, 2, 4, 8):
        matrix = rng.normal(size=(n, n))
        exact = np.array([Fraction(float(v)) for v in matrix.ravel()], dtype=object)
        got = characteristic_polynomial(exact.reshape(n, n))
        monic = [float(Fraction(c, got[-1])) for c in reversed(got)]
        assert np.allclose(monic, np.poly(matrix), rtol=0, atol=1e-12)


def test_schur_cohn_against_numpy_roots():
    rng = np.random.default_rng(0)
    from fractions import Fraction

    for _ in range(500):
        coefficients = rng.normal(size=rng.integers(2, 7)) * rng.choice([0.3, 1.0, 3.0])
        coefficients[-1] = 1.0
        want = bool(np.all(np.abs(np.roots(coefficients[::-1])) < 1))
        assert schur_stable([Fraction(float(c)) for c in coefficients]) == want


losses = st.sampled_from(["saturating", "nonsaturating"])
gammas = st.floats(0.005, 2.0)
kinds = st.sampled_from(["simgd", "altgd", "extragradient", "optimistic"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    loss=losses,
    r1=gammas,
    r2=st.one_of(st.none(), gammas),
    kind=kinds,
    g_steps=st.integers(1, 3),
    d_steps=st.integers(1, 4),
    lazy=st.integers(1, 4),
    lr_g=st.floats(0.01, 2.0),
    ratio=st.one_of(st.just(1.0), st.floats(0.1, 10.0)),
)
@example(
    loss="nonsaturating", r1=0.41660143054215604, r2=0.12166883773268762, kind="altgd",
    g_steps=2, d_steps=3, lazy=4, lr_g=0.3439791560787631, ratio=0.7536252776388245
    / 0.3439791560787631,
)  # fmt: skip
def test_random_specs_ranges_are_exact(loss, r1, r2, kind, g_steps, d_steps, lazy, lr_g, ratio):
    penalties = [f"r1:{r1!r}"] + ([f"r2:{r2!r}"] if r2 is not None else [])
    scheme = {"name": kind, "lazy_every": lazy}
    if kind == "altgd":
        scheme.update(g_steps=g_steps, d_steps=d_steps)
    result, jacobians, shares, steps = setup(
        {"loss": loss, "penalties": penalties}, scheme, lr_g, lr_g * ratio
    )
    check_ranges(kind, result, jacobians, shares, steps)
    # the verdict at the analysed rate agrees with the ranges
    h = max(lr_g, lr_g * ratio)
    if result.verdict == "converges":
        assert any(lo < h < hi for lo, hi in result.stable_lr_intervals)


def _product(*factors: list[int]) -> list[int]:
    """Integer coefficients (lowest first) of the product of polynomials."""
    out = [1]
    for f in factors:
        out = [
            sum(out[i] * f[k - i] for i in range(len(out)) if 0 <= k - i < len(f))
            for k in range(len(out) + len(f) - 1)
        ]
    return out


def test_positive_roots_bracket_known_roots_to_the_stated_precision():
    # (u² − 2)(u − 3)(3u − 1)(u + 5)·u, times 40 close rational roots k/1000: √2, 3 and 1/3
    # and the k/1000, each inside its interval, the interval as narrow as promised, and no
    # negative root or the root at 0.
    close = [[-(k), 1000] for k in range(1, 41)]
    poly = _product([-2, 0, 1], [-3, 1], [-1, 3], [5, 1], [0, 1], *close)
    roots = positive_roots(poly)
    expected = sorted([math.sqrt(2), 3.0, 1 / 3] + [k / 1000 for k in range(1, 41)])
    assert len(roots) == len(expected)
    for (lo, hi), root in zip(roots, expected):
        assert lo <= Fraction(root) <= hi or math.isclose(float(lo), root, rel_tol=1e-15)
        assert hi - lo <= ROOT_PRECISION * hi


@pytest.mark.parametrize("d_steps", [15, 63])
def test_long_alternating_periods_are_solved_exactly(d_steps):
    # The longest periods the exact search takes on (64 moves: MAX_EXACT_DEGREE) get an exact
    # answer, checked against the mpmath reference like the short ones (refining the roots of
    # their degree-32 to 128 boundary polynomials took seconds to minutes before bisection).
    method, scheme = {"loss": "nonsaturating", "penalties": ["r1:0.3"]}, {"name": "altgd"}
    scheme["d_steps"] = d_steps
    result, jacobians, shares, steps = setup(method, scheme, 0.1, 0.1)
    check_ranges("altgd", result, jacobians, shares, steps)
