"""Issue 24, "before long work, say how long": a run estimates its wall time from its first
timed steps, says plainly when that is over an hour and how to shorten it; progress lines
stay short enough for a terminal."""

import pytest

from convergan.training.progress import (
    PROGRESS_WIDTH,
    WallTimeEstimate,
    duration,
    progress_postfix,
)


def estimate_with(step_seconds, start, total, on_gpu=False, loud=True, budget=None):
    """Run WallTimeEstimate over a fake clock whose steps take ``step_seconds`` each."""
    said, now = [], [0.0]
    estimate = WallTimeEstimate(start, total, on_gpu, said.append, loud, budget, lambda: now[0])
    for step in range(start + 1, total + 1):
        now[0] += step_seconds
        estimate.after_step(step)
    return said


def test_an_hour_long_cpu_run_says_so_with_the_override_and_a_gpu():
    said = estimate_with(0.5, 0, 10_000)  # 10,000 steps at 0.5 s: 83 minutes
    assert len(said) == 1
    # timed over steps 2-5, so 9,995 steps remain: 4,997.5 s = 1 h 23 min
    assert said[0].startswith("train: about 1 h 23 min for 9,995 steps (0.5 s a step on the CPU)")
    assert "over an hour: train.steps=1205 takes about 10 min" in said[0]  # 5 + 600 / 0.5
    assert "GPU (device=cuda)" in said[0]


def test_a_long_gpu_run_does_not_advise_a_gpu():
    (line,) = estimate_with(2.0, 100, 10_000, on_gpu=True)
    assert "on the GPU" in line and "over an hour" in line and "device=cuda" not in line


def test_a_short_run_is_reported_only_beside_a_progress_bar():
    assert estimate_with(0.01, 0, 1000, loud=False) == []
    (line,) = estimate_with(0.01, 0, 1000)
    assert line == "train: about 10 s for 995 steps (0.01 s a step on the CPU)"


def test_slow_steps_are_estimated_after_fewer_of_them():
    said, now = [], [0.0]
    estimate = WallTimeEstimate(0, 20_000, False, said.append, True, None, lambda: now[0])
    for step in (1, 2):
        now[0] += 55.0
        estimate.after_step(step)
    assert said and "about 13 days for 19,998 steps (55 s a step" in said[0]


def test_a_time_budget_caps_the_estimate():
    (line,) = estimate_with(1.0, 0, 100_000, budget=30)
    assert line.endswith("; train.time_budget_minutes=30 stops it sooner")


@pytest.mark.parametrize(
    "seconds, text",
    [(45, "45 s"), (720, "12 min"), (3600 + 300, "1 h 05 min"), (14 * 86400, "14 days")],
)
def test_durations_read_plainly(seconds, text):
    assert duration(seconds) == text


def test_the_progress_postfix_is_short_whatever_is_logged():
    metrics = {f"discriminator/term_{i}": 1.0 / 3 for i in range(40)}
    metrics.update({"discriminator/adversarial": 1.3456, "generator/adversarial": -0.66666})
    metrics.update({"diagnostics/field_norm": 0.306, "eval/w1": 0.1234, "eval/grad_x": 2.0})
    assert progress_postfix(metrics) == "D=1.35 G=-0.667 |v|=0.306 w1=0.123"
    metrics = {"discriminator/adversarial": 1e300, "generator/adversarial": -1e300}
    metrics.update({"diagnostics/field_norm": -1.5e-300, "eval/" + "x" * 100: 1.0})
    assert len(progress_postfix(metrics)) <= PROGRESS_WIDTH


def run_with_periodic_work(step_seconds, every, work_seconds, total=10_000):
    """WallTimeEstimate over a fake clock: steps of ``step_seconds``, and every ``every``
    steps ``work_seconds`` more (an evaluation, a checkpoint)."""
    said, now = [], [0.0]
    estimate = WallTimeEstimate(0, total, False, said.append, True, None, lambda: now[0])
    for step in range(1, total + 1):
        now[0] += step_seconds + (work_seconds if step % every == 0 else 0.0)
        estimate.after_step(step)
    return said


def test_periodic_work_the_first_steps_missed_revises_the_estimate_once():
    # 10,000 steps at 0.1 s (about 17 min said first) and a 30 s evaluation every 500 steps:
    # 20 evaluations add 10 min. Rechecked after a tenth of the rest (steps 5 to 1004, which
    # hold the evaluations at 500 and 1000), the revised estimate is said once, and it is
    # what the rest really takes: 8,996 steps at 0.1 s and 18 evaluations (1500 ... 10,000).
    said = run_with_periodic_work(0.1, 500, 30.0)
    assert len(said) == 2
    assert said[0] == "train: about 17 min for 9,995 steps (0.1 s a step on the CPU)"
    revised = said[1]
    assert revised.startswith("train: revised for the evaluations, diagnostics and checkpoints")
    really = 8_996 * 0.1 + 18 * 30.0  # 1,440 s
    minutes = int(revised.split("about ")[1].split(" min")[0])
    assert abs(minutes * 60 - really) <= 30, (revised, really)
    assert f"for {10_000 - 1004:,} steps" in revised


def test_a_steady_run_or_small_periodic_work_is_not_revised():
    assert len(run_with_periodic_work(0.1, 500, 0.0)) == 1
    assert len(run_with_periodic_work(0.1, 500, 1.0)) == 1  # 20 s in all: within 25% and 60 s
