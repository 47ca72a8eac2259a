"""Each piece composed around the pure field does its one job (:mod:`convergan.field`).

On the Dirac-GAN (``G = θ``, ``D(x) = ψ·x``, real data at 0) the unregularized GAN has closed
forms: ``L_D = log 2 + softplus(θψ)``, ``L_G = −softplus(θψ)``, the mean D outputs ``0`` (real)
and ``θψ`` (fake), and the field ``v = (ψ·σ(θψ), −θ·σ(θψ))``. The expectations below are
those formulas, evaluated here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from cli_helpers import TINY_CIRCLE

from convergan.config import load_config
from convergan.field import (
    DISCRIMINATOR,
    GENERATOR,
    GRADIENT_STEP,
    DivergenceError,
    DivergenceGuard,
    GradientStep,
    Guarded,
    Observed,
    game_field,
)
from convergan.field import layout as layout_module
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.methods.constraints import WeightClip
from convergan.schemes import AltGD, Extragradient, Optimistic, SimGD, lazy
from convergan.training import loop

THETA, PSI = 0.7, -0.4
CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "toy2d"


def dirac_state(theta: float = THETA, psi: float = PSI):
    return (torch.tensor([theta], dtype=torch.float64), torch.tensor([psi], dtype=torch.float64))


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def closed_form_field() -> tuple[float, float]:
    s = sigmoid(THETA * PSI)
    return PSI * s, -THETA * s


def closed_form_terms() -> list[tuple[str, float]]:
    return [
        ("generator/adversarial", -softplus(THETA * PSI)),
        ("discriminator/adversarial", math.log(2.0) + softplus(THETA * PSI)),
        ("discriminator/output_real", 0.0),
        ("discriminator/output_fake", THETA * PSI),
    ]


class Records(list):
    def __call__(self, name, value):
        self.append((name, float(value)))


# ------------------------------------------------------------------- the pure field


def test_the_pure_field_returns_the_field_and_each_players_loss_terms():
    field = game_field(dirac_gan(), make_method("gan"))
    v, terms = field.evaluate(dirac_state())
    assert [float(v_i) for v_i in v] == pytest.approx(closed_form_field(), abs=1e-14)
    named = [
        (f"{player}/{name}", float(value))
        for player, player_terms in zip(("generator", "discriminator"), terms)
        for name, value in player_terms.items()
    ]
    assert [n for n, _ in named] == [n for n, _ in closed_form_terms()]
    for (_, got), (name, want) in zip(named, closed_form_terms()):
        assert got == pytest.approx(want, abs=1e-14), name
    v_d, d_terms = field.evaluate_player(DISCRIMINATOR, dirac_state())
    assert float(v_d) == pytest.approx(closed_form_field()[1], abs=1e-14)
    assert list(d_terms) == ["adversarial", "output_real", "output_fake"]


def test_at_step_shares_the_layouts_instead_of_rebuilding_them():
    field = game_field(dirac_gan(), make_method("gan"))
    later = field.at_step(7)
    assert later.step == 7 and field.step == 0
    assert later.layouts is field.layouts
    assert later.with_regularization_gain(0.0).layouts is field.layouts


# ------------------------------------------------------------------- the observing wrapper


def test_observed_reports_the_terms_and_the_field_norms_and_returns_the_field():
    records = Records()
    observed = Observed(game_field(dirac_gan(), make_method("gan")), reporter=records)
    v = observed(dirac_state())
    v_g, v_d = closed_form_field()
    assert [float(v_i) for v_i in v] == pytest.approx([v_g, v_d], abs=1e-14)
    expected = [
        *closed_form_terms(),
        ("generator/gradient_norm", abs(v_g)),
        ("discriminator/gradient_norm", abs(v_d)),
    ]
    assert [n for n, _ in records] == [n for n, _ in expected]
    assert [x for _, x in records] == pytest.approx([x for _, x in expected], abs=1e-14)
    # One player: only its own terms and norm.
    records.clear()
    assert float(observed.player(DISCRIMINATOR, dirac_state())) == pytest.approx(v_d, abs=1e-14)
    assert [n for n, _ in records] == [
        "discriminator/adversarial",
        "discriminator/output_real",
        "discriminator/output_fake",
        "discriminator/gradient_norm",
    ]


def test_observed_averages_each_players_field_across_processes():
    calls = []

    def average(t):  # a stand-in all-reduce mean: another process holds the zero field
        calls.append(t.clone())
        return 0.5 * t

    records = Records()
    observed = Observed(
        game_field(dirac_gan(), make_method("gan")), reporter=records, average=average
    )
    v = observed(dirac_state())
    v_g, v_d = closed_form_field()
    assert [float(c) for c in calls] == pytest.approx([v_g, v_d], abs=1e-14)
    assert [float(v_i) for v_i in v] == pytest.approx([0.5 * v_g, 0.5 * v_d], abs=1e-14)
    norms = dict(records)
    assert norms["discriminator/gradient_norm"] == pytest.approx(0.5 * abs(v_d), abs=1e-14)


def test_observed_keeps_reporting_under_another_gain_and_step():
    records = Records()
    observed = Observed(game_field(dirac_gan(), make_method("r1", gamma=1.0)), reporter=records)
    moved = observed.with_regularization_gain(0.0).at_step(3)
    assert moved.reporter is records and moved.field.step == 3
    moved.player(DISCRIMINATOR, dirac_state())
    assert "discriminator/r1" not in dict(records)  # gain 0: the penalty is skipped
    records.clear()
    observed.player(DISCRIMINATOR, dirac_state())
    # R1 on the Dirac-GAN: (γ/2)·E_real‖∇_x D‖² = ½·ψ².
    assert dict(records)["discriminator/r1"] == pytest.approx(0.5 * PSI**2, abs=1e-14)


@pytest.mark.parametrize(
    ("player", "state", "average", "message"),
    [
        # ψ = −inf: D's output at the real point 0 is ψ·0 = NaN.
        (DISCRIMINATOR, (THETA, -math.inf), None, "NaN in the loss term discriminator/"),
        (GENERATOR, (THETA, PSI), lambda t: t * math.inf, "Inf in the generator's gradient"),
    ],
    ids=["loss-term", "gradient"],
)
def test_the_guard_names_the_quantity_that_went_bad(player, state, average, message):
    guard = DivergenceGuard()
    observed = Observed(game_field(dirac_gan(), make_method("gan")), guard=guard, average=average)
    observed.player(player, dirac_state(*state))  # no error yet: one check per step
    with pytest.raises(DivergenceError, match=rf"at step 5: .*{message}"):
        guard.check(5)


def test_the_guarded_mover_names_the_parameters():
    guard = DivergenceGuard()
    mover = Guarded(GRADIENT_STEP, guard)
    theta, _ = mover(GENERATOR, torch.zeros(2), torch.full((2,), 3e38), 10.0, None)
    assert torch.isinf(theta).all()
    with pytest.raises(DivergenceError, match=r"step 2: Inf in the generator's parameters"):
        guard.check(2)


# ------------------------------------------------------------------- movers


def test_gradient_step_preconditions_then_projects_only_the_discriminator():
    clip = WeightClip(clip=0.25)
    mover = GradientStep(
        clip=clip, preconditioner=(torch.tensor([2.0, 3.0]), torch.tensor([0.5, 4.0]))
    )
    direction, lr = torch.tensor([0.1, -0.2]), 0.5
    x_g, state = mover(GENERATOR, torch.tensor([1.0, 1.0]), direction, lr, None)
    assert state is None
    torch.testing.assert_close(x_g, torch.tensor([1.0 + 0.5 * 2.0 * 0.1, 1.0 - 0.5 * 3.0 * 0.2]))
    x_d, _ = mover(DISCRIMINATOR, torch.tensor([0.0, 0.0]), direction, lr, None)
    # 0.5·0.5·0.1 = 0.025 stays; 0.5·4·(−0.2) = −0.4 is clipped to −0.25.
    torch.testing.assert_close(x_d, torch.tensor([0.025, -0.25]))


class RecordingMover:
    """A gradient step that logs the player and the rate of every move."""

    def __init__(self):
        self.moves = []

    def init(self, i, x_i):
        return None

    def __call__(self, i, x_i, direction, lr, state):
        self.moves.append((i, lr))
        return GRADIENT_STEP(i, x_i, direction, lr, state)


LR_G, LR_D, FACTOR = 0.3, 0.05, 0.37
G, D = (GENERATOR, LR_G * FACTOR), (DISCRIMINATOR, LR_D * FACTOR)


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        (SimGD(lr_g=LR_G, lr_d=LR_D), [G, D]),
        (AltGD(lr_g=LR_G, lr_d=LR_D, d_steps=2, discriminator_first=True), [D, D, G]),
        (Extragradient(lr_g=LR_G, lr_d=LR_D), [G, D, G, D]),
        (Optimistic(lr_g=LR_G, lr_d=LR_D), [G, D]),
        (lazy(AltGD(lr_g=LR_G, lr_d=LR_D), 2), [G, D]),
    ],
    ids=["simgd", "altgd", "extragradient", "optimistic", "lazy"],
)
def test_schemes_hand_their_scaled_learning_rates_to_the_mover(scheme, expected):
    field = game_field(dirac_gan(), make_method("r1", gamma=1.0))
    mover = RecordingMover()
    scaled = scheme.scaled(FACTOR)
    state = scaled.init(field, mover, dirac_state())
    scaled.step(field, mover, dirac_state(), state, 0)
    assert [i for i, _ in mover.moves] == [i for i, _ in expected]
    assert [float(lr) for _, lr in mover.moves] == pytest.approx(
        [lr for _, lr in expected], rel=1e-15
    )


# ------------------------------------------------------------------- the trainer's wiring


def tiny_config(out_dir: Path, *overrides: str):
    return load_config(
        CONFIGS / "circle.yaml",
        [
            f"out_dir={out_dir}",
            *TINY_CIRCLE,
            "train.eval_every=0",
            "train.checkpoint_every=0",
            *overrides,
        ],
    )


def test_the_trainers_mover_gets_the_optimizer_rates_times_the_schedule(tmp_path, monkeypatch):
    seen = []

    from convergan.training import in_force

    class Recording(in_force.OptimizerStep):
        def __call__(self, i, x_i, direction, lr, state):
            seen.append((i, lr))
            return super().__call__(i, x_i, direction, lr, state)

    monkeypatch.setattr(in_force, "OptimizerStep", Recording)
    steps, lr_g, lr_d = 4, 1e-3, 4e-3
    config = tiny_config(
        tmp_path / "run",
        f"train.steps={steps}",
        f"optim.g.lr={{schedule: cosine, start: {lr_g}, end: 0, steps: {steps}}}",
        f"optim.d.lr={{schedule: cosine, start: {lr_d}, end: 0, steps: {steps}}}",
        "scheme=simgd",
    )
    loop.train(config, progress=False)
    factors = [0.5 * (1 + math.cos(math.pi * t / steps)) for t in range(steps)]
    expected = [(i, lr * f) for f in factors for i, lr in ((0, lr_g), (1, lr_d))]
    assert [i for i, _ in seen] == [i for i, _ in expected]
    assert [lr for _, lr in seen] == pytest.approx([lr for _, lr in expected], rel=1e-12)


def test_stepping_the_trainer_builds_no_parameter_layouts(tmp_path, monkeypatch):
    built = []
    original = layout_module.ParameterLayout.__init__

    def counting(self, module):
        built.append(type(module).__name__)
        original(self, module)

    monkeypatch.setattr(layout_module.ParameterLayout, "__init__", counting)
    counts = {}
    for steps in (2, 6):
        built.clear()
        loop.train(tiny_config(tmp_path / f"run{steps}", f"train.steps={steps}"), progress=False)
        counts[steps] = len(built)
    assert counts[2] == counts[6] > 0
