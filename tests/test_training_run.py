"""The trainer around the step: resume, divergence, run directory and EMA (schedules:
tests/test_schedules.py).

Every run here is the circle (or another 2D) config shrunk to a width-8, depth-1 MLP with a
2D latent and batch 16, so a run of a few steps takes well under a second plus its plots.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from state_checks import assert_identical

from convergan.checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from convergan.config import load_config
from convergan.field import GRADIENT_STEP, DivergenceError, DivergenceGuard, Guarded
from convergan.methods import Batch
from convergan.registry import PROBLEMS_2D
from convergan.runs import train
from convergan.training import loop
from convergan.training.batches import BatchSampler
from convergan.training.ema import GeneratorEMA
from convergan.training.metrics_log import read_metrics

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "toy2d"
BATCH = 16
LOSS_KEYS = ("discriminator/adversarial", "discriminator/r1", "generator/adversarial")


def tiny_config(out_dir: Path, *overrides: str, problem: str = "circle"):
    return load_config(
        CONFIGS / f"{problem}.yaml",
        [
            f"out_dir={out_dir}",
            "model.width=8",
            "model.depth=1",
            "model.latent_dim=2",
            f"data.batch_size={BATCH}",
            "eval.w1_samples=64",
            "train.progress=false",
            "train.log_every=1",
            "ema.half_life_samples=100",
            *overrides,
        ],
    )


def checkpoint(run_dir: Path, step: int) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / f"step-{step:08d}.pt")


def logged_steps(run_dir: Path) -> dict[int, dict[str, float]]:
    """The per-step records (losses, scheduled values, samples seen) of ``metrics.jsonl`` by
    step; evaluation records are left out."""
    out: dict[int, dict[str, float]] = {}
    for record in read_metrics(run_dir / "metrics.jsonl"):
        if "progress/samples_seen" in record:
            assert record["step"] not in out, f"step {record['step']} logged twice"
            out[record["step"]] = record
    return out


# ------------------------------------------------------------------- resume


RESUME_CASES = {
    "altgd-r1-ema": ["method=r1", "scheme.name=altgd", "ema.enabled=true", "ema.rampup=0.5"],
    "optimistic-adam": [
        "scheme.name=optimistic",
        "optim.g.name=adam",
        "optim.d.name=adam",
        "method=nsgan-r1",
    ],
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_is_bit_identical(tmp_path, case):
    n = 3
    common = [*RESUME_CASES[case], "train.eval_every=0", "train.sample_every=0"]
    straight = tiny_config(tmp_path / "straight", *common, f"train.steps={2 * n}")
    train(straight, progress=False)

    halves = tiny_config(tmp_path / "halves", *common, f"train.steps={n}")
    train(halves, progress=False)
    first_half = checkpoint(tmp_path / "halves", n)
    resumed = replace(halves, train=replace(halves.train, steps=2 * n))
    result = train(resumed, resume=True, progress=False)
    assert result.steps == 2 * n

    a, b = checkpoint(tmp_path / "straight", 2 * n), checkpoint(tmp_path / "halves", 2 * n)
    assert set(a) >= {"theta", "psi", "ema", "scheme_state", "sampler", "rng"}
    if case.startswith("optimistic"):
        assert len(a["scheme_state"]["own"]) == 2  # the previous field value is carried over
    moves = a["scheme_state"]["moves"]
    assert moves[0]["step"] > 0, "the optimizers have moments to restore"
    assert_identical(a, b)
    # The run really moved after the resume (so equality is not a frozen state).
    assert not torch.equal(first_half["theta"], b["theta"])
    assert not torch.equal(first_half["ema"]["average"], b["ema"]["average"])

    straight_log, halves_log = (
        logged_steps(tmp_path / "straight"),
        logged_steps(tmp_path / "halves"),
    )
    assert sorted(straight_log) == sorted(halves_log) == list(range(1, 2 * n + 1))
    assert all(set(LOSS_KEYS) <= set(record) for record in straight_log.values())
    assert straight_log == halves_log  # exact float equality of every value, step by step


def test_resume_without_a_checkpoint_is_one_clear_line(tmp_path):
    config = tiny_config(tmp_path / "empty", "train.steps=2")
    with pytest.raises(CheckpointError) as error:
        train(config, resume=True, progress=False)
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "empty") in message


# ------------------------------------------------------------------- divergence


class PoisonedSampler(BatchSampler):
    """The trainer's sampler, with NaN in one field of the ``poison_call``-th batch."""

    poison_call = -1
    poison_field = "real"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def __call__(self) -> Batch:
        batch = super().__call__()
        self.calls += 1
        if self.calls - 1 == self.poison_call:
            value = getattr(batch, self.poison_field)
            batch = replace(batch, **{self.poison_field: torch.full_like(value, math.nan)})
        return batch


# AltGD, D first, one D and one G step: loop step k (0-based) draws batches 2k (D), 2k+1 (G).
# poison -> (batch field, which batch of the step, the quantity the error must name)
POISONS = {
    "discriminator-real": ("real", 0, "the loss term discriminator/adversarial"),
    "discriminator-latent": ("latent", 0, "the loss term discriminator/adversarial"),
    "generator-latent": ("latent", 1, "the loss term generator/adversarial"),
}
BAD_STEP = 5  # 0-based loop step of the poisoned update: checkpoints 1..5 are good


def run_with_poison(tmp_path, monkeypatch, poison: str):
    field, offset, _ = POISONS[poison]
    attributes = {"poison_call": 2 * BAD_STEP + offset, "poison_field": field}
    sampler = type("Poisoned", (PoisonedSampler,), attributes)
    monkeypatch.setattr(loop, "BatchSampler", sampler)
    config = tiny_config(
        tmp_path / "run",
        "train.steps=10",
        "train.checkpoint_every=1",
        "train.keep_last=2",
        "train.eval_every=0",
        "train.sample_every=0",
    )
    with pytest.raises(DivergenceError) as error:
        train(config, progress=False)
    return config, str(error.value)


@pytest.mark.parametrize("poison", list(POISONS))
def test_nan_stops_the_run_naming_quantity_and_keeps_last_good_checkpoint(
    tmp_path, monkeypatch, poison
):
    config, message = run_with_poison(tmp_path, monkeypatch, poison)
    quantity = POISONS[poison][2]
    assert "\n" not in message
    assert quantity in message and "NaN" in message
    # The step of the bad update, 1-based as in the logs.
    assert re.search(r"at step (\d+):", message).group(1) == str(BAD_STEP + 1)

    manager = CheckpointManager(tmp_path / "run" / "checkpoints")
    assert manager.step_of(manager.latest()) == BAD_STEP  # nothing after the bad update
    step, state = manager.load_latest()
    assert step == BAD_STEP
    for key in ("theta", "psi"):
        assert torch.isfinite(state[key]).all()
    assert torch.isfinite(state["ema"]["average"]).all()
    # The metrics log is intact and finite up to the last good step.
    logged = logged_steps(tmp_path / "run")
    assert sorted(logged) == list(range(1, BAD_STEP + 1))
    assert all(math.isfinite(record[k]) for record in logged.values() for k in LOSS_KEYS)
    # With clean data again, the run resumes from that checkpoint and finishes.
    monkeypatch.setattr(loop, "BatchSampler", BatchSampler)
    assert train(config, resume=True, progress=False).steps == 10
    assert torch.isfinite(checkpoint(tmp_path / "run", 10)["theta"]).all()


def test_divergence_message_uses_the_run_step_numbering(tmp_path, monkeypatch):
    _, message = run_with_poison(tmp_path, monkeypatch, "discriminator-real")
    assert f"at step {BAD_STEP + 1}:" in message


def test_inf_parameters_after_a_move_are_reported_once_per_step():
    psi = torch.zeros(4)
    guard = DivergenceGuard()
    mover = Guarded(GRADIENT_STEP, guard)
    moved, _ = mover(1, psi, torch.full((4,), 3e38), lr=10.0, state=None)  # no error yet: no sync
    assert torch.isinf(moved).all()
    guard.watch("something later", torch.zeros(2))
    with pytest.raises(DivergenceError, match=r"step 8: Inf in the discriminator's parameters"):
        guard.check(8)
    guard.check(9)  # the flags were consumed


# ------------------------------------------------------------------- run directory


# One problem with modes in the edit loop; every problem in `make test`.
@pytest.mark.parametrize(
    "problem",
    [
        pytest.param(p, marks=[] if p == "ring8" else [pytest.mark.slow])
        for p in PROBLEMS_2D.names()
    ],
)
def test_end_to_end_run_directory_layout(tmp_path, problem):
    run_dir = tmp_path / problem
    config = tiny_config(
        run_dir,
        "train.steps=20",
        "train.eval_every=10",
        "train.sample_every=10",
        "train.checkpoint_every=10",
        "train.log_every=5",
        # Mode coverage counts the modes of a mixture; elsewhere it is refused (nothing to count).
        "eval.metrics=[w1, modes]" if problem in ("ring8", "grid25") else "eval.metrics=[w1]",
        problem=problem,
    )
    result = train(config, progress=False)
    assert result.run_dir == run_dir and result.steps == 20
    assert math.isfinite(result.last_metrics["eval/w1"])

    assert load_config(run_dir / "config.yaml") == config
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["step-00000010.pt", "step-00000020.pt"]
    assert checkpoint(run_dir, 20)["step"] == 20

    records = read_metrics(run_dir / "metrics.jsonl")
    evals = {r["step"]: r for r in records if "eval/w1" in r}
    assert sorted(evals) == [10, 20]
    for record in evals.values():
        assert math.isfinite(record["eval/w1"]) and record["eval/w1"] > 0
        if problem in ("ring8", "grid25"):
            assert 0 <= record["eval/modes_covered"] <= {"ring8": 8, "grid25": 25}[problem]
    logged = sorted(r["step"] for r in records if "generator/adversarial" in r)
    assert logged == [5, 10, 15, 20]

    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    samples = sorted(p.name for p in (run_dir / "samples").glob("*.png"))
    assert samples == ["step-00000010.png", "step-00000020.png"]
    for name in samples:
        assert (run_dir / "samples" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorboard_holds_the_logged_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config(tmp_path / "run", "train.steps=4", "train.sample_every=0")
    train(config, progress=False)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {*LOSS_KEYS, "eval/w1"} <= tags
    jsonl = {
        r["step"]: r
        for r in read_metrics(tmp_path / "run" / "metrics.jsonl")
        if "progress/samples_seen" in r
    }
    scalars = events.Scalars("generator/adversarial")
    assert [s.step for s in scalars] == [1, 2, 3, 4]
    for s in scalars:
        assert s.value == pytest.approx(jsonl[s.step]["generator/adversarial"], rel=1e-6)


def test_starting_over_an_existing_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    config = tiny_config(run_dir, "train.steps=2", "train.sample_every=0")
    train(config, progress=False)
    before = {p: p.read_bytes() for p in (run_dir / "config.yaml", run_dir / "metrics.jsonl")}
    again = replace(config, seed=1)
    with pytest.raises(FileExistsError) as error:
        train(again, progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert str(run_dir) in message and "resume" in message
    assert {p: p.read_bytes() for p in before} == before  # nothing overwritten
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step-00000002.pt"]


def test_a_fresh_run_never_appends_to_an_aborted_runs_metrics(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    sampler = type("Poisoned", (PoisonedSampler,), {"poison_call": 6, "poison_field": "real"})
    monkeypatch.setattr(loop, "BatchSampler", sampler)
    common = ["train.steps=5", "train.checkpoint_every=0", "train.sample_every=0"]
    with pytest.raises(DivergenceError):
        train(tiny_config(run_dir, *common), progress=False)  # dies at step 4, no checkpoint
    assert not list((run_dir / "checkpoints").glob("*.pt"))
    assert sorted(logged_steps(run_dir)) == [1, 2, 3]
    monkeypatch.setattr(loop, "BatchSampler", BatchSampler)
    try:
        train(tiny_config(run_dir, *common, "seed=1"), progress=False)
    except (FileExistsError, ValueError) as error:  # refusing is a fix too, if one line
        assert "\n" not in str(error)
        return
    assert sorted(logged_steps(run_dir)) == [1, 2, 3, 4, 5]  # only the new run's records


# ------------------------------------------------------------------- EMA


def test_ema_one_update_from_zero_is_one_minus_beta_times_params():
    params = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    ema = GeneratorEMA(torch.zeros(3, dtype=torch.float64), half_life_samples=20.0)
    ema.update(params, batch_size=10, samples_seen=10)
    beta = 1 / math.sqrt(2)  # half of the half-life per step: 0.5 ** 0.5
    torch.testing.assert_close(ema.average, (1 - beta) * params, atol=1e-15, rtol=0)
    # A second update keeps averaging: beta * previous + (1 - beta) * new.
    ema.update(2 * params, batch_size=10, samples_seen=20)
    expected = beta * (1 - beta) * params + (1 - beta) * 2 * params
    torch.testing.assert_close(ema.average, expected, atol=1e-15, rtol=0)


@pytest.mark.parametrize("batch, half_life", [(16, 100.0), (64, 1000.0), (3, 7.0)])
def test_ema_beta_is_half_to_the_batch_over_half_life(batch, half_life):
    ema = GeneratorEMA(torch.zeros(2), half_life)
    assert ema.beta(batch, samples_seen=10**6) == pytest.approx(
        math.exp(-batch * math.log(2) / half_life), rel=1e-12
    )
    # After half_life / batch updates the old value has exactly halved.
    steps = 4
    ema = GeneratorEMA(torch.ones(1, dtype=torch.float64), half_life)
    for _ in range(steps):
        ema.update(torch.zeros(1, dtype=torch.float64), batch, samples_seen=10**6)
    assert float(ema.average) == pytest.approx(0.5 ** (steps * batch / half_life), rel=1e-12)


def test_ema_rampup_caps_the_half_life():
    params = torch.tensor([4.0, -1.0], dtype=torch.float64)
    ema = GeneratorEMA(torch.zeros(2, dtype=torch.float64), 1000.0, rampup=0.05)
    ema.update(params, batch_size=10, samples_seen=100)  # half-life min(1000, 5) = 5
    torch.testing.assert_close(ema.average, 0.75 * params, atol=1e-15, rtol=0)  # beta = 0.25
    # Once rampup × samples seen exceeds the half-life, the half-life is the configured one.
    assert GeneratorEMA(torch.zeros(1), 1000.0, rampup=0.05).beta(10, 10**6) == pytest.approx(
        0.5**0.01, rel=1e-12
    )
    assert GeneratorEMA(torch.zeros(1), 1000.0, rampup=0.05).beta(10, 0) == 0.0


@pytest.mark.parametrize("rampup", [None, 0.5])
def test_training_updates_the_ema_with_the_documented_beta(tmp_path, rampup):
    extra = [] if rampup is None else [f"ema.rampup={rampup}"]
    config = tiny_config(
        tmp_path / "run",
        "train.steps=3",
        "train.checkpoint_every=1",
        "train.keep_last=5",
        "train.eval_every=0",
        "train.sample_every=0",
        *extra,
    )
    train(config, progress=False)
    half_life = config.ema.half_life_samples
    for step in (1, 2):
        previous, current = (
            checkpoint(tmp_path / "run", step),
            checkpoint(tmp_path / "run", step + 1),
        )
        samples_seen = BATCH * (step + 1)
        assert current["samples_seen"] == samples_seen
        h = half_life if rampup is None else min(half_life, rampup * samples_seen)
        beta = 0.5 ** (BATCH / h)
        expected = (
            beta * previous["ema"]["average"].double() + (1 - beta) * current["theta"].double()
        )
        torch.testing.assert_close(current["ema"]["average"].double(), expected, atol=1e-6, rtol=0)
        assert not torch.equal(current["ema"]["average"], current["theta"])
