"""Fuzzing findings on the Dirac analysis (issue 10): the largest stable learning rate must not
depend on the rate passed, absurd sizes and non-finite values end in one ValueError line
(exit 2 through the CLI), and nothing hangs inside LAPACK."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from convergan import AltGD, SimGD, analyze, dirac_gan, make_method, simulate
from convergan.analysis.operators import MAX_MOVES_PER_PERIOD, eigenvalues, spectral_radius
from convergan.analysis.stable_rates import max_stable_lr_scale
from convergan.analysis.trajectories import MAX_SIMULATION_MOVES
from convergan.cli.main import main
from convergan.schemes import Extragradient, lazy

A = 0.5  # f'(0) of the standard GAN loss


def simgd_bound(eigs: list[complex]) -> float:
    """SimGD on v' with eigenvalues λ: |1 + hλ| < 1 iff h < 2|Re λ|/|λ|² (Re λ < 0)."""
    return min(2 * abs(z.real) / abs(z) ** 2 for z in eigs)


# Field eigenvalues by hand (DESIGN §2): R1 γ = 1 is critically damped, -1/2 twice;
# consensus γ = 1 is -γa² ± ai.
R1_EIGS = [complex(-0.5, 0.0), complex(-0.5, 0.0)]
CONSENSUS_EIGS = [complex(-A * A, A), complex(-A * A, -A)]


@pytest.mark.parametrize("lr", [1e-5, 1e-3, 0.5, 1.0, 1e3, 1e5])
@pytest.mark.parametrize(
    "name,eigs", [("r1", R1_EIGS), ("consensus", CONSENSUS_EIGS)], ids=["r1", "consensus"]
)
def test_max_stable_lr_does_not_depend_on_the_lr_passed(lr, name, eigs):
    assert simgd_bound(R1_EIGS) == 4.0  # the hand value
    result = analyze(dirac_gan(), make_method(name, gamma=1.0), SimGD(lr=lr))
    assert result.max_stable_lr_scale * lr == pytest.approx(simgd_bound(eigs), rel=1e-7)


def test_max_stable_lr_of_extragradient_on_a_rotation_by_hand():
    # EG on v' = [[0, -a], [a, 0]]: eigenvalues 1 + hλ + h²λ² with λ = ±ia, so
    # |.|² = (1 - h²a²)² + h²a² < 1 iff h·a < 1: h < 2.
    for lr in (1e-4, 1e4):
        result = analyze(dirac_gan(), make_method("gan"), Extragradient(lr=lr))
        assert result.max_stable_lr_scale * lr == pytest.approx(1 / A, rel=1e-7)


def test_none_only_when_no_rate_converges():
    gan = analyze(dirac_gan(), make_method("gan"), SimGD(lr=1e-5))  # eigenvalues ±ia
    assert gan.max_stable_lr_scale is None
    unstable = {1.0: torch.tensor([[0.1, 0.0], [0.0, -1.0]], dtype=torch.float64)}
    assert max_stable_lr_scale(SimGD(lr=1.0), unstable, (1, 1)) is None  # Re λ > 0
    zero = {1.0: torch.zeros(2, 2, dtype=torch.float64)}  # rho = 1 at every rate
    assert max_stable_lr_scale(SimGD(lr=1.0), zero, (1, 1)) is None
    # SimGD on v' = -I: |1 - h| < 1 exactly for h < 2, whatever rate the search starts from.
    minus_identity = {1.0: -torch.eye(2, dtype=torch.float64)}
    for lr in (1e-6, 1e6):
        scale = max_stable_lr_scale(SimGD(lr=lr), minus_identity, (1, 1))
        assert scale * lr == pytest.approx(2.0, rel=1e-9)


def test_altgd_r1_by_jury_criterion_for_any_lr():
    # AltGD (G then D) with R1 γ on the Dirac-GAN: θ₁ = θ + s·h·a·ψ, then
    # ψ₁ = ψ - h(s·a·θ₁ + γψ) (s = ±1, the sign convention), so the update matrix is
    # [[1, s·h·a], [-s·h·a, 1 - γh - a²h²]]: trace 2 - γh - a²h², determinant 1 - γh.
    # Jury: |tr| < 1 + det and det < 1. tr > -(1 + det) is 4 - 2γh - a²h² > 0; for γ = 1,
    # a = 1/2: h² + 8h - 16 < 0, h < 4(√2 - 1) = 1.65685...
    expected = 4 * (2**0.5 - 1)
    for lr in (1e-5, 1e5):
        result = analyze(dirac_gan(), make_method("r1", gamma=1.0), AltGD(lr=lr))
        assert result.max_stable_lr_scale * lr == pytest.approx(expected, rel=1e-7)


def test_eigenvalues_never_reach_lapack_with_non_finite_entries():
    batch = torch.tensor(
        [
            [[1.0, float("inf")], [0.0, 1.0]],
            [[float("nan"), 0.0], [0.0, 1.0]],
            [[0.5, 0.0], [0.0, -2.0]],
            [[1e308, 1e308], [-1e308, 1e308]],
        ],
        dtype=torch.float64,
    )
    start = time.monotonic()
    radius = spectral_radius(batch)
    assert time.monotonic() - start < 5
    assert torch.isinf(radius[:2]).all()
    assert radius[2] == 2.0
    assert radius[3] == pytest.approx(2**0.5 * 1e308, rel=1e-12)  # no overflow to inf
    assert torch.isnan(eigenvalues(batch[:1])).all()


@pytest.mark.slow  # a subprocess imports torch
def test_huge_learning_rate_ends_within_seconds():
    # Before the fix this hung inside LAPACK (inf/nan update Jacobians in the lr scan) and
    # ignored Ctrl-C; run it in a child so a regression fails instead of hanging the suite.
    code = (
        "from convergan import analyze, dirac_gan, make_method, SimGD\n"
        "r = analyze(dirac_gan(), make_method('r1', gamma=1.0), SimGD(lr=1e308))\n"
        "print(r.verdict, r.max_stable_lr_scale * 1e308)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    verdict, bound = done.stdout.split()
    assert verdict == "diverges" and float(bound) == pytest.approx(4.0, rel=1e-7)


@pytest.mark.parametrize(
    "scheme",
    [AltGD(lr=0.1, d_steps=10**6), lazy(SimGD(lr=0.1), 10**6), AltGD(lr=0.1, g_steps=10**4)],
    ids=["d-steps", "lazy", "g-steps"],
)
def test_absurd_periods_are_refused_at_once(scheme):
    start = time.monotonic()
    with pytest.raises(ValueError, match=f"limit of {MAX_MOVES_PER_PERIOD:,}") as info:
        analyze(dirac_gan(), make_method("r1", gamma=1.0), scheme)
    assert "\n" not in str(info.value)
    assert time.monotonic() - start < 5


def test_absurd_simulations_are_refused_at_once():
    start = torch.ones(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=f"limit of {MAX_SIMULATION_MOVES:,}"):
        simulate(dirac_gan(), make_method("gan"), SimGD(lr=0.1), start, 10**8)
    with pytest.raises(ValueError, match="limit"):  # 6 moves per step: 200k steps are too many
        simulate(dirac_gan(), make_method("gan"), AltGD(lr=0.1, d_steps=5), start, 200_000)


def test_enormous_hyperparameters_give_one_line():
    with pytest.raises(ValueError, match="beyond the analysis' range") as info:
        analyze(dirac_gan(), make_method("r1", gamma=1e200), SimGD(lr=0.1))
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- through the CLI


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("lr", ["1e-5", "0.001", "1e5"])
def test_cli_max_stable_lr_is_the_closed_form(capsys, lr):
    code, out, _ = cli(
        capsys, "dirac", "analyze", "--method", "r1", "--gamma", "1", "--lr", lr, "--json"
    )
    record = json.loads(out)
    assert code == 0 and record["max_stable_lr"] == pytest.approx(4.0, rel=1e-7)
    assert record["max_stable_lr_unbounded"] is False


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "--method", "r1", "--gamma", "1e200"],
        ["analyze", "--method", "r1", "--scheme", "altgd", "--d-steps", "1000000"],
        ["analyze", "--method", "r1", "--lazy", "1000000"],
        ["simulate", "--method", "gan", "--steps", "100000000", "--start", "1", "1"],
    ],
    ids=["gamma-1e200", "d-steps", "lazy", "simulate-steps"],
)
def test_cli_absurd_inputs_give_one_line_and_exit_2(capsys, argv):
    code, out, err = cli(capsys, "dirac", *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("convergan: error:"), err
