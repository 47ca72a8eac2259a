"""One word for bounded orbits (issue 14, item 5): a trajectory that neither converges nor
escapes is ``oscillates`` wherever a trajectory verdict is shown. WGAN-GP on the Dirac-GAN has
no regular equilibrium; its penalty (γ/2)(|ψ| − g₀)² pushes |ψ| out towards g₀, and the
trajectories settle on a closed orbit around the equilibrium (the paper's Figure 3).
``dirac analyze``, ``dirac table`` and the Figure-3 panel must all say so."""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch

from convergan.analysis import simulate, trajectory_verdict
from convergan.analysis.trajectories import Trajectories
from convergan.cli.main import main
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.plots.dirac import DEFAULT_LR, FIGURE3_METHODS, figure3_trajectories
from convergan.schemes import AltGD, Extragradient, Optimistic, SimGD

GAME = dirac_gan()
WGAN_GP_PANEL = next(p for p in FIGURE3_METHODS if p.spec.name == "wgan-gp")


def run_json(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([*argv, "--json"]))
    assert exit_info.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "scheme", [SimGD(lr=0.5), AltGD(lr=0.2), Extragradient(lr=0.5), Optimistic(lr=0.1)]
)
def test_wgan_gp_trajectories_settle_on_a_bounded_orbit(scheme):
    # The behaviour itself, without the verdict rule: from inside and from outside the orbit,
    # the distance neither shrinks to 0 nor grows once the orbit is reached.
    starts = torch.tensor([[0.3, 0.2], [-0.4, 0.1], [2.0, -1.5]], dtype=torch.float64)
    path = simulate(GAME, make_method("wgan-gp"), scheme, starts, 600).path
    distance = torch.linalg.vector_norm(path, dim=-1)
    middle, late = distance[:, 200:400], distance[:, 400:]
    assert (late.min(dim=1).values > 0.5).all()  # |ψ| is pushed towards g₀ = 1
    assert (late.max(dim=1).values < 1.02 * middle.max(dim=1).values).all()  # not growing
    assert (late.max(dim=1).values < 5).all()


@pytest.mark.slow  # `dirac table`: every method under every scheme
def test_commands_and_figure_give_wgan_gp_one_word(capsys):
    analyzed = run_json(capsys, "dirac", "analyze", "--method", "wgan-gp")
    assert analyzed["regular_equilibrium"] is False
    assert analyzed["trajectory_verdicts"] == {"oscillates": 8}
    table = run_json(capsys, "dirac", "table")
    rows = [r for r in table if r["method"] == "wgan-gp"]
    assert len(rows) == 4  # one per scheme, at the table's learning rate 0.5
    assert all(r["trajectory_verdicts"] == {"oscillates": 8} for r in rows)
    for scheme in (SimGD(lr=DEFAULT_LR), AltGD(lr=DEFAULT_LR)):  # the two Figure-3 grids
        (panel,) = figure3_trajectories(scheme, [WGAN_GP_PANEL])
        assert panel.verdicts == ["oscillates"]


def test_escaping_trajectories_still_diverge():
    # Geometric growth: unregularized SimGD, ρ = √(1 + h²/4) per step near the equilibrium
    result = simulate(GAME, make_method("gan"), SimGD(lr=0.2), torch.tensor([[0.5, 0.5]]), 300)
    assert result.verdicts == ["diverges"]
    assert float(result.late_growth[0]) > 1.1


def test_the_rule_on_hand_made_paths():
    def verdict(distances: list[float]) -> str:
        path = torch.tensor([[d, 0.0] for d in distances], dtype=torch.float64)[None]
        return Trajectories(path=path, equilibrium=torch.zeros(2, dtype=torch.float64)).verdicts[0]

    moved_out_to_an_orbit = [0.5, 1.0, 1.3, 1.4, 1.2, 1.4, 1.3, 1.4, 1.3]
    assert verdict(moved_out_to_an_orbit) == "oscillates"
    assert verdict([0.5 * 1.2**t for t in range(9)]) == "diverges"  # 2.07 per half run
    assert verdict([0.5, 0.6, 0.55, 0.6, 0.5]) == "oscillates"
    assert verdict([1.0, 0.1, 1e-2, 1e-3, 1e-4]) == "converges"
    assert verdict([1.0, 2.0, math.inf]) == "diverges"
    # without the path, the two distances decide, as before
    assert trajectory_verdict(0.5, 1.4) == "diverges"
    assert trajectory_verdict(0.5, 1.4, late_growth=1.0) == "oscillates"
    assert trajectory_verdict(0.5, 1.4, late_growth=math.nan) == "diverges"
