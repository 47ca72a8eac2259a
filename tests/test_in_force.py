"""Schedules held inside the parts: each part reads a scheduled number at the step it runs.

Every expected value is worked by hand from a linear schedule whose arithmetic is exact in
binary (start 4, end 0 over 64 samples at 16 samples per step: 4, 3, 2, 1, 0, then 0), and each
part at step t is compared, bit for bit, with the same part built with that constant.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from convergan.field import OptimizerStep
from convergan.methods.consensus import Consensus
from convergan.methods.noise import InstanceNoise
from convergan.methods.parse import parse_method
from convergan.methods.penalties import r1
from convergan.methods.spec import MethodSpec
from convergan.optimizers import Adam
from convergan.schedules import Schedule, StepSchedule, on_steps, value_at
from convergan.schemes import AltGD, SimGD
from convergan.training.ema import GeneratorEMA

PER_STEP = 16
DOWN = Schedule("linear", start=4.0, end=0.0, length=64, unit="samples")
BY_STEP = {0: 4.0, 1: 3.0, 2: 2.0, 3: 1.0, 4: 0.0, 9: 0.0}  # 4 − 4·(16 t / 64), then 0


def test_value_at_reads_a_step_function_and_keeps_a_constant():
    scheduled = StepSchedule(DOWN, PER_STEP)
    assert {t: value_at(scheduled, t) for t in BY_STEP} == BY_STEP
    assert value_at(2.5, 7) == 2.5
    assert value_at(lambda t: 10.0 * t, 3) == 30.0  # any function of the step, as in optax
    with pytest.raises(TypeError, match="needs a run's clock"):
        value_at(DOWN, 1)  # a config's schedule in samples has no step clock of its own


def test_on_steps_puts_every_schedule_of_a_tree_on_the_run_clock():
    tree = {"lr": DOWN, "betas": (0.0, DOWN), "eps": 1e-8}
    bound = on_steps(tree, PER_STEP)
    assert bound["eps"] == 1e-8 and bound["betas"][0] == 0.0
    assert [value_at(bound["betas"][1], t) for t in (1, 3)] == [3.0, 1.0]
    assert on_steps({"a": 1.0}, PER_STEP) == {"a": 1.0}


def test_a_penalty_reads_its_gamma_at_the_step():
    torch.manual_seed(0)
    d = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    scheduled = r1(gamma=StepSchedule(DOWN, PER_STEP))
    for t, gamma in BY_STEP.items():
        assert torch.equal(scheduled(d, real, fake, step=t), r1(gamma=gamma)(d, real, fake)), t


def test_instance_noise_and_consensus_read_their_numbers_at_the_step():
    x, eps = torch.randn(5, 2), torch.randn(5, 2)
    noise = InstanceNoise(StepSchedule(DOWN, PER_STEP))
    consensus = Consensus(StepSchedule(DOWN, PER_STEP))
    v, correction = (torch.randn(3),), (torch.randn(3),)
    for t, value in BY_STEP.items():
        assert torch.equal(noise(x, eps, t), x + value * eps)
        got = consensus.transform(v, correction, 0.5, t)
        assert torch.equal(got[0], v[0] - (0.5 * value) * correction[0])


def test_the_method_spec_builds_once_with_schedules_inside():
    spec = parse_method(
        {"name": "r1", "gamma": {"schedule": "linear", "start": 4, "end": 0, "samples": 64}}
    )
    with pytest.raises(ValueError, match="method.gamma"):
        spec.build()  # no single value without the run's clock
    method = spec.build(samples_per_step=PER_STEP)
    assert [value_at(method.penalties[0].gamma, t) for t in BY_STEP] == list(BY_STEP.values())


def test_scheme_rates_at_the_step_and_no_hidden_default():
    scheme = AltGD(lr_g=StepSchedule(DOWN, PER_STEP), lr_d=0.5)
    assert [scheme.rates(t) for t in (0, 2)] == [(4.0, 0.5), (2.0, 0.5)]
    unset = SimGD()  # a wrapper's default inner scheme: no rates until it is handed some
    assert unset.lrs == (None, None)
    with pytest.raises(ValueError, match="no learning rates"):
        unset.rates(0)
    assert SimGD(lr=0.3).rates(5) == (0.3, 0.3)


def test_the_mover_runs_the_optimizer_with_its_numbers_at_the_step():
    beta2 = Schedule("linear", start=0.5, end=0.75, length=64, unit="samples")  # 0.5 + t/16
    mover = OptimizerStep(on_steps((Adam(), Adam(betas=(0.0, beta2))), PER_STEP))
    x, direction = torch.randn(6), torch.randn(6)
    for t, value in ((0, 0.5), (2, 0.625), (4, 0.75)):
        reference = OptimizerStep((Adam(), Adam(betas=(0.0, value))))
        state = reference.init(1, x)
        got = mover.at_step(t)(1, x, direction, 1e-3, state)
        want = reference(1, x, direction, 1e-3, state)
        assert torch.equal(got[0], want[0]) and torch.equal(
            got[1]["exp_avg_sq"], want[1]["exp_avg_sq"]
        )
    constant = OptimizerStep((Adam(), Adam()))
    assert constant.at_step(7) is constant  # nothing to read: the same mover


def test_the_ema_reads_its_half_life_at_the_step():
    ema = GeneratorEMA(torch.zeros(2), StepSchedule(DOWN, PER_STEP))
    assert ema.beta(PER_STEP, 10**6, step=2) == 0.5 ** (PER_STEP / 2.0)
    assert ema.beta(PER_STEP, 10**6, step=4) == 0.0  # half-life 0: the average is G


def test_a_preset_keeps_its_hyperparameters_in_one_place():
    spec = parse_method({"name": "r3gan", "gamma": 2.0})
    assert [p.gamma for p in spec.penalties] == [2.0, 2.0]
    changed = replace(spec, params={"gamma": 5.0})  # the parts follow, they are not a copy
    assert [p.gamma for p in changed.penalties] == [5.0, 5.0]
    assert changed.to_dict() == {"name": "r3gan", "gamma": 5.0}
    assert [p.gamma for p in changed.build().penalties] == [5.0, 5.0]
    assert MethodSpec(preset="r1", params={"gamma": 3.0}).penalties[0].gamma == 3.0


def test_the_trainer_builds_the_method_once_however_many_steps(tmp_path, monkeypatch):
    from convergan.config import load_config
    from convergan.runs import train

    calls = []
    build = MethodSpec.build
    monkeypatch.setattr(MethodSpec, "build", lambda self, *a: calls.append(1) or build(self, *a))
    tiny = ["model.width=8", "model.depth=1", "model.latent_dim=2", "data.batch_size=16"]
    quiet = ["eval.metrics=[]", "train.progress=false", "train.eval_every=0"]
    scheduled = "method.gamma={schedule: linear, start: 4, end: 0, samples: 64}"
    counts = []
    for steps in (2, 6):
        calls.clear()
        out = f"out_dir={tmp_path / str(steps)}"
        config = load_config("toy2d/circle", [out, *tiny, *quiet, "method=r1", scheduled])
        train(replace(config, train=replace(config.train, steps=steps)), progress=False)
        counts.append(len(calls))
    assert counts[0] == counts[1] >= 1
