"""Stable learning rates as intervals (issue 14, item 5): every stable range of the rate, checked
against a brute-force scan of the update Jacobian's spectral radius written here, and the
largest stable rate independent of the rate passed (down to a subnormal ``--lr``)."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch

from convergan import AltGD, SimGD, analyze, dirac_gan, make_method
from convergan.analysis.local import field_jacobians_by_gain
from convergan.analysis.operators import (
    linearized_update_jacobian,
    spectral_radius,
    update_jacobian,
)
from convergan.analysis.stable_rates import bisect_cells, grid_stable_lr_intervals
from convergan.cli.main import main
from convergan.field import game_field
from convergan.schemes import Extragradient


def scan(method, scheme, lrs) -> list[bool]:
    """Converges (ρ < 1 − 1e-9) at each rate, from the library's exact update Jacobian."""
    game = dirac_gan()
    x, field = game.equilibrium(), game_field(game, method)
    radii = [
        float(torch.linalg.eigvals(update_jacobian(scheme.scaled(h), field, x)).abs().max())
        for h in lrs
    ]
    return [r < 1 - 1e-9 for r in radii]


def inside(intervals, h) -> bool:
    return any(lo < h < (float("inf") if hi is None else hi) for lo, hi in intervals)


@pytest.mark.slow  # a fine scan of AltGD's update radius
def test_altgd_with_four_d_steps_has_two_ranges_found_by_a_scan():
    method, scheme = make_method("r1", gamma=0.15), AltGD(lr=1.0, d_steps=4)
    intervals = analyze(dirac_gan(), method, scheme).stable_lr_intervals
    lrs = torch.linspace(0.01, 20.0, 800, dtype=torch.float64).tolist()
    stable = scan(method, scheme, lrs)
    # the scan itself sees two ranges: the 1.97767 and one around 13.2
    switches = sum(a != b for a, b in zip(stable, stable[1:]))
    assert stable[0] and switches == 3 and stable[lrs.index(min(lrs, key=lambda h: abs(h - 13.2)))]
    assert len(intervals) == 2 and intervals[0][0] == 0.0
    spacing = lrs[1] - lrs[0]
    for h, s in zip(lrs, stable):
        # away from a boundary (within one grid step), the intervals agree with the scan
        if all(abs(h - end) > spacing for pair in intervals for end in pair):
            assert inside(intervals, h) == s, h
    # each boundary found is a switch of the scan
    for lo, hi in intervals:
        for end, want in ((lo, True), (hi, False)):
            if end > 0:
                assert scan(method, scheme, [end * (1 + 1e-6)]) == [want]
                assert scan(method, scheme, [end * (1 - 1e-6)]) == [not want]


def test_simgd_interval_is_the_hand_bound():
    # R1 γ = 1: field eigenvalues -1/2 twice; |1 + hλ| < 1 iff 0 < h < 4 (by hand)
    intervals = analyze(
        dirac_gan(), make_method("r1", gamma=1.0), SimGD(lr=0.3)
    ).stable_lr_intervals
    assert len(intervals) == 1 and intervals[0][0] == 0.0
    assert intervals[0][1] == pytest.approx(4.0, rel=1e-7)


def test_unregularized_simgd_has_no_range():
    result = analyze(dirac_gan(), make_method("gan"), SimGD(lr=0.1))
    assert result.stable_lr_intervals == () and result.max_stable_lr_scale is None


def cli(capsys, *argv) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(["dirac", "analyze", *argv, "--json"]))
    assert exit_info.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("lr", ["1", "13.2", "1e-308"])
def test_cli_reports_the_largest_stable_rate_whatever_the_lr(capsys, lr):
    args = ("--method", "r1", "--gamma", "0.15", "--scheme", "altgd", "--d-steps", "4", "--lr", lr)
    record = cli(capsys, *args)
    # the end of the second range: the scan above finds AltGD stable at 13.2, unstable at 13.4
    assert scan(make_method("r1", gamma=0.15), AltGD(lr=1.0, d_steps=4), [13.2, 13.4]) == [
        True,
        False,
    ]
    assert 13.2 < record["max_stable_lr"] < 13.4
    assert len(record["stable_lr_intervals"]) == 2
    assert record["max_stable_lr"] == record["stable_lr_intervals"][-1][1]
    assert record["max_stable_lr_unbounded"] is False


def test_cli_subnormal_lr_simgd_gives_four(capsys):
    record = cli(capsys, "--method", "r1", "--gamma", "1", "--lr", "1e-308")
    assert record["max_stable_lr"] == pytest.approx(4.0, rel=1e-7)
    assert record["stable_lr_intervals"] == [[0.0, pytest.approx(4.0, rel=1e-7)]]


# -- the batched bisection is plain bisection ---------------------------------------------------


def bisect_one_point_at_a_time(converges, lo, hi, stable_at_lo, bisections):
    """The straightforward bisection: one evaluation per halving."""
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if converges(mid) == stable_at_lo:
            lo = mid
        else:
            hi = mid
    return lo if stable_at_lo else hi


@pytest.mark.parametrize("lookahead", [1, 2, 5])
@pytest.mark.parametrize("bisections", [0, 1, 4, 7, 80])
def test_bisect_cells_follows_plain_bisection_exactly(lookahead, bisections):
    # a predicate with many switches inside each cell, so the path taken decides the end
    def predicate(s: float) -> bool:
        return math.sin(37.0 * s) + 0.3 * math.cos(91.0 * s) > 0

    cells = [(0.1, 1.0, True), (0.1, 1.0, False), (2.0, 2.5, False), (3.0, 3.0 + 1e-15, True)]
    calls = []

    def batched(points):
        calls.append(len(points))
        return torch.tensor([predicate(p) for p in points])

    got = bisect_cells(batched, cells, bisections, lookahead=lookahead)
    want = [bisect_one_point_at_a_time(predicate, *cell, bisections) for cell in cells]
    assert got == want
    if bisections >= 7:
        assert len(calls) <= -(-bisections // lookahead) + 1  # batched: few calls


def stable_intervals_one_point_at_a_time(scheme, jacobians, sizes, per_decade):
    """grid_stable_lr_intervals' definition, written out: every grid point and every halving of
    the bisection evaluated on its own."""
    norm = max(float(torch.linalg.matrix_norm(j, ord=2)) for j in jacobians.values())
    rate = max(abs(float(lr)) for lr in scheme.lrs)
    unit = scheme.with_rates(*(float(lr) / rate for lr in scheme.lrs))

    def converges(step: float) -> bool:
        h = torch.tensor([step], dtype=torch.float64) / norm
        update = linearized_update_jacobian(unit.scaled(h[:, None, None]), jacobians, sizes)
        return bool(spectral_radius(update)[0] < 1 - 1e-9)

    first = math.floor(math.log10(1e-12) * per_decade)
    last = math.ceil(math.log10(1e15) * per_decade)
    grid = (10.0 ** (torch.arange(first, last + 1, dtype=torch.float64) / per_decade)).tolist()
    stable = [converges(s) for s in grid]
    intervals, start = [], (0.0 if stable[0] else None)
    for i in range(1, len(grid)):
        if stable[i] != stable[i - 1]:
            end = bisect_one_point_at_a_time(converges, grid[i - 1], grid[i], stable[i - 1], 80)
            if stable[i]:
                start = 0.0 if end < 1e-6 else end
            else:
                intervals.append((start, end))
    if stable[-1]:
        intervals.append((start, math.inf))
    return [(lo / norm, hi / norm) for lo, hi in intervals]


@pytest.mark.parametrize(
    ("name", "gamma", "scheme", "ranges"),
    [
        ("r1", 0.3, SimGD(lr=0.1), 1),
        ("r1", 0.15, AltGD(lr=1.0, d_steps=4), 2),
        ("gan", None, Extragradient(lr=0.5), 1),  # a range that does not start at 0
        ("gan", None, SimGD(lr=0.1), 0),
    ],
)
def test_stable_intervals_equal_a_point_by_point_search(name, gamma, scheme, ranges):
    game = dirac_gan()
    field = game_field(game, make_method(name, gamma=gamma), route="eager")
    jacobians = field_jacobians_by_gain(
        field.with_regularization_gain, game.equilibrium(), scheme.regularization_gains
    )
    got = grid_stable_lr_intervals(scheme, jacobians, (1, 1), per_decade=100)
    want = stable_intervals_one_point_at_a_time(scheme, jacobians, (1, 1), 100)
    # the same bisection path; batched and single eigendecompositions may differ in the last bit
    assert len(got) == len(want)
    for pair, expected in zip(got, want):
        assert pair == pytest.approx(expected, rel=1e-12, abs=0)
    assert len(got) == ranges
