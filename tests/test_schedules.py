"""Schedules of hyperparameters: values, validation, config.yaml, the trainer and the spectrum.

Expected values are written here from the formula of R3GAN's ``cosine_decay_with_warmup``
(linear warm-up from ``warmup_start``, hold at ``start``, then
``start + (1 − ½(1 + cos πp))·(end − start)``), worked by hand at chosen points. Runs are the
circle config shrunk to a width-8 MLP with batch 16, a few steps each.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from state_checks import assert_identical

from convergan.checkpoint import load_checkpoint
from convergan.cli.main import main
from convergan.config import ConfigError, config_at, load_config, save_config, scheduled_values
from convergan.runs import train
from convergan.training.metrics_log import read_metrics

BATCH = 16
TINY = [
    "model.width=8",
    "model.depth=1",
    "model.latent_dim=2",
    f"data.batch_size={BATCH}",
    "eval.metrics=[]",
    "train.progress=false",
    "train.log_every=1",
    "train.eval_every=0",
    "train.sample_every=0",
    "ema.half_life_samples=100",
]
COSINE_STEPS = "{schedule: cosine, start: 1.0, end: 0.2, steps: 10, warmup_steps: 4, hold_steps: 2, warmup_start: 0.5}"  # noqa: E501


def tiny(out_dir: Path | None, *overrides: str):
    out = [f"out_dir={out_dir}"] if out_dir is not None else []
    return load_config("toy2d/circle", [*out, *TINY, *overrides])


def checkpoint(run_dir: Path, step: int) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / f"step-{step:08d}.pt")


def step_rows(run_dir: Path) -> dict[int, dict]:
    rows = read_metrics(run_dir / "metrics.jsonl")
    return {r["step"]: r for r in rows if "progress/samples_seen" in r}


# ------------------------------------------------------------------- values


# Cosine 1.0 -> 0.2 at step 10, warm-up from 0.5 over 4 steps, hold 2 steps: the warm-up line
# 0.5 + 0.125·n, the hold at 1.0 up to step 6, then p = (n − 6)/4.
COSINE_VALUES = [
    (0, 0.5),
    (2, 0.75),
    (3, 0.875),
    (4, 1.0),  # the end of the warm-up
    (6, 1.0),  # the end of the hold
    (7, 1.0 - 0.8 * (1 - 0.5 * (1 + math.cos(math.pi / 4)))),
    (8, 0.6),  # p = 1/2: half way, 1.0 − 0.4
    (10, 0.2),
    (13, 0.2),  # after the end: stays there
]


@pytest.mark.parametrize("step, expected", COSINE_VALUES)
def test_cosine_with_warmup_and_hold_in_steps(step, expected):
    config = tiny(None, f"optim.g.lr={COSINE_STEPS}")
    assert config_at(config, step).optim.g.lr == pytest.approx(expected, abs=1e-12)
    assert config_at(config, step).optim.d.lr == config.optim.d.lr  # not scheduled


@pytest.mark.parametrize(
    "step, world_size, expected",
    [
        (0, 1, 0.9),
        (5, 1, 0.945),  # 80 of 160 samples
        (8, 1, 0.972),  # 128 of 160 samples: 0.9 + 0.8 x 0.09
        (5, 2, 0.99),  # two processes: 160 samples, the end
        (10, 1, 0.99),
        (30, 1, 0.99),
    ],
)
def test_linear_in_samples_counts_the_global_batch(step, world_size, expected):
    config = tiny(
        None,
        "optim.d.name=adam",
        "optim.d.betas=[0.0, {schedule: linear, start: 0.9, end: 0.99, samples: 160}]",
    )
    betas = config_at(config, step, world_size).optim.d.betas
    assert betas[0] == 0.0 and betas[1] == pytest.approx(expected, abs=1e-12)


def test_r3gan_cifar10_gamma_at_chosen_images():
    config = tiny(
        None,
        "method.loss=nonsaturating",
        "method.penalties=[{name: r1, gamma: {schedule: cosine, start: 0.05, end: 0.005, "
        "samples: 20000000}}, r2]",
    )
    # 10M of 20M images: half way, the mean of the ends; 5M: a quarter, cos(π/4).
    for images, expected in [
        (0, 0.05),
        (5_000_000, 0.05 - 0.045 * (1 - 0.5 * (1 + math.sqrt(0.5)))),
        (10_000_000, 0.0275),
        (20_000_000, 0.005),
    ]:
        method = config_at(config, images // BATCH).method
        assert method.penalties[0].gamma == pytest.approx(expected, rel=1e-12)
        assert method.penalties[1].gamma == 1.0


def test_instance_noise_annealed_by_a_linear_schedule_to_zero():
    noise = "{sigma: {schedule: linear, start: 0.4, end: 0, steps: 8}}"
    config = tiny(None, "method=r1", f"method.noise={noise}")
    for step, expected in [(0, 0.4), (2, 0.3), (6, 0.1), (8, 0.0), (20, 0.0)]:
        assert config_at(config, step).method.noise.sigma == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "override, instead",
    [
        ("optim.schedule=cosine", "optim.g.lr={schedule: cosine,"),
        ("optim.warmup_steps=4", "warmup_steps: 500}"),
    ],
)
def test_the_keys_from_before_schedules_are_one_line_errors_saying_what_to_write(override, instead):
    with pytest.raises(ConfigError) as caught:
        tiny(None, "train.steps=8", override)
    message = str(caught.value)
    assert message.startswith(override.split("=")[0] + ": removed; ") and "\n" not in message
    assert instead in message
    # What it says to write is itself a valid config.
    written = message[message.index("optim.g.lr=") :]
    assert tiny(None, "train.steps=8", written).optim.g.lr.to_dict()["start"] == 2e-4


# ------------------------------------------------------------------- validation and round trip


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "optim.g.lr={schedule: cosin, start: 1e-3, end: 1e-4, steps: 10}",
            "optim.g.lr.schedule: 'cosin' is not one of linear, cosine (did you mean 'cosine'?)",
        ),
        (
            "optim.g.lr={schedule: cosine, start: -1, end: 1e-4, steps: 10}",
            "optim.g.lr.start: must be >= 0, got -1.0",
        ),
        ("optim.g.lr={schedule: cosine, start: 1e-3, steps: 10}", "optim.g.lr.end: missing"),
        (
            "optim.g.lr={schedule: cosine, start: 1, end: 0, steps: 10, samples: 10}",
            "optim.g.lr: a schedule takes its length in steps or in samples",
        ),
        (
            "optim.g.lr={schedule: cosine, start: 1, end: 0, steps: 10, warmup_samples: 5}",
            "optim.g.lr.warmup_samples: a schedule in steps takes warmup_steps",
        ),
        (
            "optim.g.lr={schedule: cosine, start: 1, end: 0, steps: 10, warmup_steps: 8, "
            "hold_steps: 4}",
            "optim.g.lr.steps: must be >= warm-up + hold (12), got 10",
        ),
        (
            "optim.g.lr={schedule: cosine, start: 1, end: 0, stepz: 10}",
            "unknown key 'optim.g.lr.stepz' (did you mean 'optim.g.lr.steps'?)",
        ),
        (
            "optim.g.lr={schedule: linear, start: 1, end: 0, steps: 1.5}",
            "optim.g.lr.steps: expected an integer, got 1.5 (float)",
        ),
        (
            "optim.d={name: adam, betas: [0, {schedule: cosine, start: 0.9, end: 1, steps: 5}]}",
            "optim.d.betas[1].end: must be < 1, got 1.0",
        ),
        (
            "method.penalties=[{name: r1, gamma: {schedule: cosine, start: 1, end: -1, steps: 5}}]",
            "method.penalties[0].gamma.end: must be >= 0, got -1.0",
        ),
        (
            "method.gamma={schedule: cosine, start: 1, end: 0, steps: 5, warmup_start: 0.5}",
            "method.gamma.warmup_start: needs a warm-up (warmup_steps)",
        ),
        (
            "ema.half_life_samples={start: 1}",
            "ema.half_life_samples: expected a number or a schedule",
        ),
        (
            "method=wgan method.clip={schedule: linear, start: 1, end: 0.1, steps: 5}",
            "method.clip: expected a number, got",
        ),
    ],
)
def test_a_bad_schedule_is_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as error:
        tiny(None, *override_list(override))
    text = str(error.value)
    assert "\n" not in text and text.startswith(message), text


def override_list(text: str) -> list[str]:
    """``a=1 b=2`` -> two overrides, keeping a YAML value with spaces in one piece."""
    parts = text.split(" method.")
    return [parts[0], *(f"method.{p}" for p in parts[1:])]


def test_a_bad_schedule_through_the_cli_is_one_line(capsys):
    argv = ["train", "toy2d/circle", "optim.g.lr={schedule: cosine, start: 1e-3, steps: 5}"]
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    err = capsys.readouterr().err
    assert exit_info.value.code != 0
    assert err.count("\n") == 1 and "optim.g.lr.end: missing" in err, err


def test_config_yaml_prints_schedules_back_exactly(tmp_path):
    written = "{schedule: cosine, start: 0.05, end: 0.005, samples: 20000000}"
    lr = "{schedule: cosine, start: 0.0002, end: 5.0e-05, samples: 20000000, warmup_samples: 1000}"
    config = tiny(
        tmp_path / "run",
        "method.loss=nonsaturating",
        f"method.penalties=[{{name: r1, gamma: {written}}}]",
        f"optim.g.lr={lr}",
        "optim.g.name=adam",
        "optim.g.betas=[0, {schedule: cosine, start: 0.9, end: 0.99, samples: 2e7}]",
        "ema.half_life_samples={schedule: cosine, start: 0, end: 5000000, samples: 20000000}",
    )
    save_config(config, tmp_path / "config.yaml")
    text = (tmp_path / "config.yaml").read_text()
    assert f"gamma: {written}" in text
    assert f"lr: {lr}" in text
    assert "- {schedule: cosine, start: 0.9, end: 0.99, samples: 20000000}" in text
    saved = yaml.safe_load(text)
    assert saved["ema"]["half_life_samples"] == {
        "schedule": "cosine",
        "start": 0.0,
        "end": 5000000.0,
        "samples": 20000000,
    }
    assert load_config(tmp_path / "config.yaml") == config
    assert sorted(scheduled_values(config)) == [
        "ema.half_life_samples",
        "method.penalties[0].gamma",
        "optim.g.betas[1]",
        "optim.g.lr",
    ]


# ------------------------------------------------------------------- the trainer


SCHEDULED = [
    "optim.g.name=adam",
    "optim.d.name=adam",
    # Steps: 0.002 at step 0 (warm-up start), 0.004 from step 1 (end of warm-up), then cosine.
    "optim.g.lr={schedule: cosine, start: 0.004, end: 0.001, steps: 5, warmup_steps: 1, "
    "warmup_start: 0.002}",
    "optim.d.betas=[0.0, {schedule: linear, start: 0.9, end: 0.99, steps: 4}]",
    # Samples (16 a step): 2.0 at step 0, 6.0 at step 1, then linear to 1.0 at 80 samples.
    "method.gamma={schedule: linear, start: 6.0, end: 1.0, samples: 80, warmup_samples: 16, "
    "warmup_start: 2.0}",
    "ema.half_life_samples={schedule: linear, start: 40, end: 200, samples: 64}",
]


def test_the_trainer_logs_the_values_in_force(tmp_path):
    config = tiny(tmp_path / "run", "method=r1", "train.steps=4", *SCHEDULED)
    train(config, progress=False)
    rows = step_rows(tmp_path / "run")
    c = 0.5 * (1 + math.cos(math.pi / 4))  # p = 1/4
    # The row of step s holds the values the s-th update used (0-based step s − 1).
    expected = {
        "schedule/optim.g.lr": [0.002, 0.004, 0.004 - 0.003 * (1 - c), 0.0025],
        "schedule/optim.d.betas[1]": [0.9, 0.9225, 0.945, 0.9675],
        "schedule/method.gamma": [2.0, 6.0, 6.0 - 5.0 / 4, 6.0 - 5.0 / 2],
        "schedule/ema.half_life_samples": [40.0, 80.0, 120.0, 160.0],
    }
    for key, values in expected.items():
        assert [rows[s][key] for s in (1, 2, 3, 4)] == pytest.approx(values, rel=1e-12), key
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    logged = [s.value for s in events.Scalars("schedule/method.gamma")]
    assert logged == pytest.approx(expected["schedule/method.gamma"], rel=1e-6)


def test_each_step_runs_with_its_own_values(tmp_path):
    """Two scheduled steps equal one step at the step-0 values, resumed for one step at the
    step-1 values (constants both), bit for bit."""
    scheduled = tiny(tmp_path / "scheduled", "method=r1", "train.steps=2", *SCHEDULED)
    train(scheduled, progress=False)

    def constants(step: int) -> list[str]:
        now = config_at(scheduled, step)
        return [
            "optim.g.name=adam",
            "optim.d.name=adam",
            f"optim.g.lr={now.optim.g.lr!r}",
            f"optim.d.betas=[0.0, {now.optim.d.betas[1]!r}]",
            f"method.gamma={now.method.params['gamma']!r}",
            f"ema.half_life_samples={now.ema.half_life_samples!r}",
        ]

    assert constants(0) != constants(1)
    first = tiny(tmp_path / "constant", "method=r1", "train.steps=1", *constants(0))
    train(first, progress=False)
    second = tiny(tmp_path / "constant", "method=r1", "train.steps=2", *constants(1))
    train(second, resume=True, progress=False)
    a, b = checkpoint(tmp_path / "scheduled", 2), checkpoint(tmp_path / "constant", 2)
    for key in ("theta", "psi", "ema", "scheme_state"):
        assert_identical(a[key], b[key], key)


def test_resume_mid_schedule_is_bit_identical(tmp_path):
    common = ["method=r1", *SCHEDULED]
    straight = tiny(tmp_path / "straight", *common, "train.steps=4")
    train(straight, progress=False)
    halves = tiny(tmp_path / "halves", *common, "train.steps=2")
    train(halves, progress=False)
    train(replace(halves, train=replace(halves.train, steps=4)), resume=True, progress=False)
    assert_identical(checkpoint(tmp_path / "straight", 4), checkpoint(tmp_path / "halves", 4))
    assert step_rows(tmp_path / "straight") == step_rows(tmp_path / "halves")


# ------------------------------------------------------------------- the spectrum at a step


def test_the_spectrum_at_a_checkpoint_uses_the_values_in_force(tmp_path):
    from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint, analyze_players
    from convergan.training.directory import RunDirectory

    config = tiny(
        tmp_path / "run",
        "method=r1",
        "train.steps=2",
        "train.checkpoint_every=1",
        "train.keep_last=5",
        "optim.g.lr={schedule: cosine, start: 0.01, end: 0.002, steps: 4, warmup_steps: 2, "
        "warmup_start: 0.001}",
        "optim.d.lr={schedule: linear, start: 0.02, end: 0.01, steps: 4}",
        "method.gamma={schedule: cosine, start: 4.0, end: 1.0, samples: 64}",
    )
    train(config, progress=False)
    settings = SpectrumSettings(
        k=1, which=("LM",), samples=64, schemes=("run",), float64=True, tol=1e-8, lr_bound=False
    )
    run = RunDirectory.open(tmp_path / "run")
    # Checkpoint 1: lr_g inside its warm-up (0.001 + 0.009/2), lr_d a quarter down its line,
    # γ at 16 of 64 samples (p = 1/4 of its cosine).
    for step, lr_g, lr_d, gamma in [(1, 0.0055, 0.0175, 4.0 - 3.0 * (1 - c(1 / 4)))]:
        record = analyze_checkpoint(run, step, settings)
        assert record["lr"] == pytest.approx({"g": lr_g, "d": lr_d}, rel=1e-12)
        constant = tiny(
            tmp_path / "run",
            "method=r1",
            f"method.gamma={gamma!r}",
            f"optim.g.lr={lr_g!r}",
            f"optim.d.lr={lr_d!r}",
        )
        players = run.players()
        _, saved = run.load(step)
        x = (saved["theta"], saved["psi"])
        reference = analyze_players(
            constant, players.generator, players.discriminator, x, step, settings
        )
        assert torch.allclose(
            torch.tensor(record["eigenvalues"]), torch.tensor(reference["eigenvalues"]), rtol=1e-9
        )
        assert record["spectral_radius"] == pytest.approx(reference["spectral_radius"], rel=1e-9)
        # ... and the values at the schedules' start would give another radius.
        start = tiny(
            tmp_path / "run", "method=r1", "method.gamma=4.0", "optim.g.lr=0.01", "optim.d.lr=0.02"
        )
        other = analyze_players(start, players.generator, players.discriminator, x, step, settings)
        assert other["spectral_radius"] != pytest.approx(record["spectral_radius"], rel=1e-6)


def c(p: float) -> float:
    """R3GAN's cosine decay factor ½(1 + cos πp)."""
    return 0.5 * (1 + math.cos(math.pi * p))


# ------------------------------------------------------------------- R3GAN's configs


@pytest.mark.parametrize("name", ["fashion-mnist/r3gan", "cifar10/r3gan"])
def test_r3gan_configs_follow_the_published_schedules(name):
    config = load_config(name)
    start, end = config_at(config, 0), config_at(config, config.train.steps)
    for player in ("g", "d"):
        begin, final = getattr(start.optim, player), getattr(end.optim, player)
        assert (begin.name, begin.lr, begin.betas, begin.eps) == ("adam", 2e-4, (0.0, 0.9), 1e-8)
        # At the horizon itself R3GAN's formula gives start + (end - start): end, to rounding.
        assert (final.lr, *final.betas) == pytest.approx((5e-5, 0.0, 0.99), rel=1e-12)
    assert [p.gamma for p in start.method.penalties] == [0.05, 0.05]
    assert [p.gamma for p in end.method.penalties] == pytest.approx([0.005, 0.005], rel=1e-12)
    assert start.ema.half_life_samples == 0.0
    if name == "fashion-mnist/r3gan":  # half way through its 1.28M images
        middle = config_at(config, 10_000)
        assert middle.optim.g.lr == pytest.approx(1.25e-4)
        assert middle.method.penalties[1].gamma == pytest.approx(0.0275)
        assert middle.ema.half_life_samples == pytest.approx(160_000)
    else:
        assert end.ema.half_life_samples == pytest.approx(5_000_000, rel=1e-12)
    assert (config.method.preset, config.model.name) == ("r3gan", "r3gan")
    assert [p.name for p in start.method.penalties] == ["r1", "r2"]
