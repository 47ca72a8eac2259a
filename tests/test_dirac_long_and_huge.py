"""`dirac` commands on long periods and huge numbers (issue 24): no hour-long silent runs, no
309-digit numbers, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from convergan import AltGD, analyze, dirac_gan, make_method
from convergan.analysis import field_jacobian
from convergan.cli.dirac import format_range
from convergan.cli.dirac_table import readable
from convergan.cli.main import main
from convergan.field import game_field


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_huge_lr_prints_readable_numbers(capsys):
    code, out, _ = run(capsys, "dirac", "analyze", "--method", "r1", "--lr", "1e308")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) < 120
    # SimGD with R1 γ = 1: eigenvalues 1 − h/2 (double), so ρ = 5e307 at h = 1e308
    assert "spectral radius      5e+307  (per step 5e+307)" in out
    assert "update eigenvalues   -5e+307+0.000000i" in out


def test_table_with_an_overflowing_lr_is_one_line(capsys):
    code, out, err = run(capsys, "dirac", "table", "--lr", "1e308")
    assert code == 2 and out == ""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[-1].startswith("convergan: error: --lr 1e+308: ")
    assert "overflows float64" in lines[-1] and "Traceback" not in err


def test_readable_numbers():
    assert readable(0.99907) == "0.999070"
    assert readable(1e308) == "1e+308"
    assert readable(-5e307, sign="+") == "-5e+307"
    assert readable(0.0, 4) == "0.0000"
    assert readable(2.5e-17, sign="+") == "+2.5e-17"
    assert readable(float("inf")) == "inf"


def test_narrow_ranges_print_two_different_ends():
    assert format_range(90.82429268293352, 90.91228966924622) == "(90.8243, 90.9123)"
    lo, hi = 1.0, 1.0 + 3e-9
    shown = format_range(lo, hi)
    a, b = shown.strip("()").split(", ")
    assert a != b and float(a) <= lo * (1 + 1e-12) and float(b) >= hi * (1 - 1e-12)
    assert format_range(0.0, None) == "(0, inf)"


def test_long_period_update_is_the_product_of_its_moves():
    # AltGD with R1 γ = 1 (G then 70 D steps: past the differentiated limit): the update is
    # (I + h·P_D·J)^70 (I + h·P_G·J), written out from the field Jacobian.
    game, method, h = dirac_gan(), make_method("r1", gamma=1.0), 0.3
    J = field_jacobian(game_field(game, method), game.equilibrium())
    p_g = torch.diag(torch.tensor([1.0, 0.0], dtype=J.dtype))
    p_d = torch.diag(torch.tensor([0.0, 1.0], dtype=J.dtype))
    eye = torch.eye(2, dtype=J.dtype)
    want = torch.linalg.matrix_power(eye + h * p_d @ J, 70) @ (eye + h * p_g @ J)
    result = analyze(game, method, AltGD(lr=h, d_steps=70))
    assert torch.allclose(result.update_jacobian, want, rtol=0, atol=1e-14)


@pytest.mark.slow  # a subprocess imports torch
def test_a_long_period_ends_and_says_its_ranges_come_from_a_grid():
    # Before: reverse mode through the period, quadratic in the moves (1,000 D steps took 68 s,
    # 9,999 ran for hours). Run in a child so a regression fails instead of hanging the suite.
    code = (
        "import sys; from convergan.cli.main import main\n"
        "sys.exit(main(['dirac', 'analyze', '--method', 'r1', '--scheme', 'altgd',"
        " '--d-steps', '2000']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "verdict              converges" in done.stdout
    assert "grid search over a long period" in done.stdout


def test_fallback_of_a_long_period_is_refused_in_one_line(capsys):
    code, out, err = run(
        capsys, "dirac", "analyze", "--method", "wgan-gp", "--scheme", "altgd", "--d-steps", "3000"
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "900,300 player moves" in err and "limit of 10,000" in err
