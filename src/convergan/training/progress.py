"""What a training run says about itself while it runs: a short progress postfix, and the
wall time it will take, estimated from its first few steps and printed before the long part,
and revised once when the periodic work (evaluations, diagnostics, checkpoints) turns out to
change it much.

A shipped config can run for hours on a CPU (``toy2d/circle``: 10,000 steps, about an hour;
``fashion-mnist/r3gan``: weeks): the run says so after a few timed steps, names the override
that shortens it, and mentions a GPU when none is in use.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# The few numbers a progress line shows (every logged value is in metrics.jsonl): each
# player's loss, the field norm of the diagnostics, and the first evaluation metric.
PROGRESS_KEYS = {
    "discriminator/adversarial": "D",
    "generator/adversarial": "G",
    "diagnostics/field_norm": "|v|",
}
PROGRESS_WIDTH = 48  # characters of the postfix at most: the line fits an 80-column terminal

WARMUP_STEPS = 1  # the first step builds caches and graphs: not timed
TIMED_STEPS = 4  # steps timed for the estimate...
TIMED_SECONDS = 20.0  # ...or fewer when they already took this long
LONG_SECONDS = 3600.0  # above this, the estimate says so plainly with how to shorten it
SHORT_TARGET_SECONDS = 600.0  # the train.steps suggested: about ten minutes' worth
# The first steps miss the periodic work (evaluations, diagnostics, checkpoints, samples): the
# pace is checked again once this share of the run is done, and a revised estimate said when it
# differs by more than REVISE_SHARE and REVISE_SECONDS from the first.
RECHECK_SHARE = 0.1
REVISE_SHARE = 0.25
REVISE_SECONDS = 60.0


def progress_postfix(metrics: dict[str, float]) -> str:
    """``D=1.35 G=-0.667 |v|=0.306 w1=0.12``, at most :data:`PROGRESS_WIDTH` characters."""
    parts = [
        f"{label}={metrics[key]:.3g}" for key, label in PROGRESS_KEYS.items() if key in metrics
    ]
    evaluated = [k for k in metrics if k.startswith("eval/") and not k.startswith("eval/grad")]
    if evaluated:
        parts.append(f"{evaluated[0].removeprefix('eval/')}={metrics[evaluated[0]]:.3g}")
    text = " ".join(parts)
    return text if len(text) <= PROGRESS_WIDTH else text[: PROGRESS_WIDTH - 1] + "…"


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``14 days``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes:02d} min"
    return f"{seconds / 86400:.0f} days"


def estimate_message(
    seconds_per_step: float,
    remaining: int,
    total: int,
    on_gpu: bool,
    budget_minutes: float | None = None,
) -> tuple[str, bool]:
    """``(line, long)``: the wall time of ``remaining`` steps at ``seconds_per_step``, and
    whether it is above :data:`LONG_SECONDS` (then the line says how to shorten it)."""
    seconds = seconds_per_step * remaining
    where = "GPU" if on_gpu else "CPU"
    line = (
        f"train: about {duration(seconds)} for {remaining:,} steps "
        f"({seconds_per_step:.3g} s a step on the {where})"
    )
    if budget_minutes is not None and 60 * budget_minutes < seconds:
        return line + f"; train.time_budget_minutes={budget_minutes:g} stops it sooner", False
    if seconds <= LONG_SECONDS:
        return line, False
    done = total - remaining
    shorter = done + max(1, int(SHORT_TARGET_SECONDS / seconds_per_step))
    advice = f"over an hour: train.steps={shorter} takes about 10 min"
    if not on_gpu:
        advice += ", a GPU (device=cuda) far less"
    return f"{line}. That is {advice}", True


class StepTimer:
    """Seconds per step, timed after :data:`WARMUP_STEPS` (which build caches and graphs)
    over :data:`TIMED_STEPS` steps, or fewer once they took :data:`TIMED_SECONDS`.

    ``tick(step)`` after every step from ``start``; returns the seconds per step once, when
    enough steps are timed, else ``None``. The training run's estimate and the sweep's (which
    times the first cell's first steps before it starts) both time their steps with it."""

    def __init__(self, start: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.start, self.clock = start, clock
        self.began: float | None = None
        self.timed = 0  # steps timed when the answer was given

    def tick(self, step: int) -> float | None:
        timed = step - self.start - WARMUP_STEPS
        if timed <= 0:
            if timed == 0:
                self.began = self.clock()
            return None
        elapsed = self.clock() - self.began
        if timed < TIMED_STEPS and elapsed < TIMED_SECONDS:
            return None
        self.timed = timed
        return elapsed / timed


class WallTimeEstimate:
    """Times the first steps of a run and reports its wall time once, through ``say``.

    ``after_step(step)`` is called after every step; ``loud``: report short runs too (the
    progress bar is shown), else only runs of more than an hour."""

    def __init__(
        self,
        start: int,
        total: int,
        on_gpu: bool,
        say: Callable[[str], None],
        loud: bool = True,
        budget_minutes: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.on_gpu, self.say, self.loud = total, on_gpu, say, loud
        self.budget_minutes = budget_minutes
        self.timer = StepTimer(start, clock)
        self.done = total - start <= WARMUP_STEPS + 1  # nothing worth estimating
        self.recheck_at: int | None = None  # the step the pace is checked again at
        self.announced = 0.0  # the seconds said for the rest of the run
        self.since = (start, 0.0)  # (step, clock) of the first estimate

    def after_step(self, step: int) -> None:
        if self.recheck_at is not None and step >= self.recheck_at:
            self._recheck(step)
        if self.done:
            return
        seconds_per_step = self.timer.tick(step)
        if seconds_per_step is None:
            return
        self.done = True
        remaining = self.total - step
        line, long = estimate_message(
            seconds_per_step, remaining, self.total, self.on_gpu, self.budget_minutes
        )
        if self.loud or long:
            self.say(line)
            # Checked again once a tenth of the rest is done (at least one more timed stretch).
            self.announced = seconds_per_step * remaining
            self.since = (step, self.timer.clock())
            self.recheck_at = step + max(self.timer.timed, int(RECHECK_SHARE * remaining))

    def _recheck(self, step: int) -> None:
        """Say a revised estimate once when the pace since the first one, periodic work
        included, puts the end far from what was said."""
        self.recheck_at = None
        first, began = self.since
        seconds_per_step = (self.timer.clock() - began) / (step - first)
        remaining = self.total - step
        projected = seconds_per_step * remaining + (self.timer.clock() - began)
        if abs(projected - self.announced) <= max(REVISE_SHARE * self.announced, REVISE_SECONDS):
            return
        line, _ = estimate_message(
            seconds_per_step, remaining, self.total, self.on_gpu, self.budget_minutes
        )
        periodic = "train: revised for the evaluations, diagnostics and checkpoints: about"
        self.say(line.replace("train: about", periodic, 1))
