"""How long a sweep will take, said before its first cell trains.

The seconds a step takes come from the sweep's own finished cells when it has some that
trained on the device the cells to run will use (their ``cell.json`` records the training
time of each and the device it ran on, ``device: auto`` resolved), else from a short probe:
the first cell to run is trained for a few steps in a scratch folder and timed with the
training run's own :class:`~convergan.training.progress.StepTimer` (one warm-up step, then up
to four timed steps or 20 s) and one evaluation of its metrics is timed. A local sweep's
workers are processes of their own, each starting Python, torch and convergan once before its
first cell: that start-up is read from the finished cells' records (kept for each worker's
first cell), else timed once in a fresh process. The wall time is then every cell's setup,
remaining steps and evaluations (every ``train.eval_every`` steps) at those rates, each cell
capped by ``train.time_budget_minutes``, shared among the cells that run at once, never less
than the longest cell, plus one worker's start-up (the workers start together). Above an hour
the line says so plainly with the overrides that shorten it: fewer cells (``--axis``), fewer
steps (``train.steps=``), more cells at once (``--jobs``) and, when the cells train on a CPU,
a GPU.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from convergan.studies.cells import last_checkpoint_step, read_cell
from convergan.studies.planning import PlannedCell
from convergan.studies.spec import SweepSpec
from convergan.training.progress import LONG_SECONDS, SHORT_TARGET_SECONDS, StepTimer, duration


@dataclass(frozen=True)
class StepRate:
    """Seconds per training step, where they were measured, and on which device."""

    seconds_per_step: float
    source: str  # "timed on 4 steps of method=r1", "from 3 finished cells"
    on_gpu: bool
    setup_seconds: float = 0.0  # per cell: building its problem and players, the first step
    eval_seconds: float = 0.0  # one evaluation of the metrics (every train.eval_every steps)
    startup_seconds: float = 0.0  # per worker process: starting Python, torch and convergan


@dataclass(frozen=True)
class Overrides:
    """How the command that runs the sweep is told to make it shorter: ``cells`` with the
    longest axis's key and count, ``steps`` with a number of steps, ``jobs`` with a count.
    ``convergan sweep``'s by default; ``convergan study toy2d`` passes its own flags."""

    cells: str = "--axis {key}=[...] with fewer than its {count} values"
    steps: str = "train.steps={steps}"
    jobs: str = "--jobs {jobs}"


SWEEP_OVERRIDES = Overrides()


@dataclass(frozen=True)
class SweepWork:
    """What is left to train: each cell's remaining steps and its time budget (seconds)."""

    steps: list[int]
    budgets: list[float | None]
    evaluations: list[int]  # evaluations left per cell: every train.eval_every steps, and last
    jobs: int  # cells at once
    most_jobs: int  # cells at once that this machine allows (--jobs up to it)
    longest_axis: tuple[str, int] | None  # the axis with the most values, and their count


def remaining_work(
    spec: SweepSpec, todo: list[PlannedCell], jobs: int, most_jobs: int
) -> SweepWork:
    """Steps left per cell to run: all of them for a pending cell, those after its last
    checkpoint for an interrupted one (it resumes from there)."""
    steps, budgets, evaluations = [], [], []
    for p in todo:
        done = last_checkpoint_step(p.run_dir) if p.status == "interrupted" else None
        steps.append(max(0, p.config.train.steps - (done or 0)))
        every = p.config.train.eval_every
        evaluations.append((steps[-1] // every if every else 0) + 1)
        minutes = p.config.train.time_budget_minutes
        budgets.append(None if minutes is None else 60.0 * minutes)
    axes = {**spec.axes, **{k: v for group in spec.zipped for k, v in group.items()}}
    longest = max(axes.items(), key=lambda item: len(item[1]), default=None)
    longest_axis = (longest[0], len(longest[1])) if longest and len(longest[1]) > 1 else None
    jobs = max(1, min(jobs, len(todo)))
    return SweepWork(steps, budgets, evaluations, jobs, most_jobs, longest_axis)


def wall_seconds(work: SweepWork, rate: StepRate) -> float:
    """The cells' total time (each its setup, steps and evaluations, capped by its time
    budget) shared among ``jobs`` workers, and at least the longest cell's, after the workers'
    start-up (they start together, each once)."""
    cells = []
    for steps, budget, evaluations in zip(work.steps, work.budgets, work.evaluations):
        training = steps * rate.seconds_per_step + evaluations * rate.eval_seconds
        cells.append(rate.setup_seconds + (training if budget is None else min(training, budget)))
    return rate.startup_seconds + max(sum(cells) / work.jobs, max(cells, default=0.0))


def sweep_estimate_message(
    work: SweepWork, rate: StepRate, overrides: Overrides = SWEEP_OVERRIDES
) -> tuple[str, bool]:
    """``(line, long)``: the sweep's wall time and, above an hour, how to shorten it."""
    seconds = wall_seconds(work, rate)
    cells, steps = len(work.steps), sum(work.steps)
    where = "GPU" if rate.on_gpu else "CPU"
    at_once = f"{work.jobs} at a time" if work.jobs > 1 else "one at a time"
    line = (
        f"wall time: about {duration(seconds)} of training for {cells:,} "
        f"cell{'s' * (cells != 1)}, {at_once} ({steps:,} steps at "
        f"{rate.seconds_per_step:.3g} s a step on the {where}"
        + (
            f", {rate.startup_seconds:.2g} s start-up a worker"
            if rate.startup_seconds >= 0.05
            else ""
        )
        + (f", {rate.setup_seconds:.2g} s setup a cell" if rate.setup_seconds >= 0.05 else "")
        + (f", {rate.eval_seconds:.2g} s an evaluation" if rate.eval_seconds >= 0.05 else "")
        + f"; {rate.source})"
    )
    if seconds <= LONG_SECONDS:
        return line, False
    advice = []
    if work.longest_axis is not None:
        key, count = work.longest_axis
        advice.append(f"fewer cells ({overrides.cells.format(key=key, count=count)})")
    per_cell = int(SHORT_TARGET_SECONDS * work.jobs / max(cells, 1) / rate.seconds_per_step)
    if per_cell >= 1:
        advice.append(f"{overrides.steps.format(steps=per_cell)} (about 10 min in all)")
    else:
        advice.append(f"fewer steps ({overrides.steps.format(steps='N')})")
    if work.jobs < work.most_jobs and cells > work.jobs:
        jobs = overrides.jobs.format(jobs=min(work.most_jobs, cells))
        advice.append(f"{jobs} (more cells at once)")
    if not rate.on_gpu:
        advice.append("a GPU (device=cuda)")
    return f"{line}. That is over an hour; shorter: {'; '.join(advice)}", True


def device_type(cell: PlannedCell) -> str:
    """``cpu`` or ``cuda``: where ``cell`` will train, its config's ``device: auto`` resolved on
    this machine as the run resolves it."""
    if cell.config.device != "auto":
        return cell.config.device
    from convergan.training.distributed import resolve_device

    return resolve_device("auto").type


def recorded_device(record: dict, cell: PlannedCell) -> str | None:
    """``cpu`` or ``cuda``: where a finished cell trained, from its record; for records older
    than that, its config's device when it names one (``None`` for ``auto``: unknown)."""
    device = record.get("device")
    if isinstance(device, str):
        return device.split(":")[0]
    return cell.config.device if cell.config.device != "auto" else None


def recorded_rate(planned: list[PlannedCell], device: str) -> StepRate | None:
    """Seconds per step from the sweep's cells that finished in one attempt on ``device``
    (``cpu`` or ``cuda``; their record holds the training time, setup and evaluations
    included), or ``None`` when none did; with the workers' start-up that the records hold
    (0 when none does)."""
    rates, startups = [], []
    for p in planned:
        record = read_cell(p.run_dir) or {}
        if isinstance(record.get("startup_seconds"), float):
            startups.append(record["startup_seconds"])
        steps, seconds = record.get("steps"), record.get("train_seconds")
        one_attempt = record.get("attempts") == 1 and record.get("status") == "done"
        if one_attempt and isinstance(steps, int) and steps > 0 and isinstance(seconds, float):
            if recorded_device(record, p) == device:
                rates.append(seconds / steps)
    if not rates:
        return None
    count, startup = len(rates), sum(startups) / len(startups) if startups else 0.0
    source = f"from {count} finished cell{'s' * (count != 1)}"
    return StepRate(sum(rates) / count, source, device == "cuda", startup_seconds=startup)


def worker_startup_seconds(threads: int) -> float:
    """Seconds a fresh worker process takes to be ready for its first cell (Python, submitit,
    torch and convergan starting, :func:`~convergan.studies.cells.start_worker`), timed once
    in a subprocess; 0 when it cannot be (the workers will say why themselves)."""
    code = (
        "import submitit.core._submit\n"
        f"from convergan.studies.cells import start_worker\nstart_worker({threads})"
    )
    began = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return 0.0
    return time.perf_counter() - began


class _ProbeDone(Exception):
    """Raised by the probe's callback once its steps are timed: ends the probe's training."""


class _TimeSteps:
    """A training callback that times the steps with :class:`StepTimer`, then stops; the
    setup (building the problem and players, the warm-up step's extra) is timed too."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock, self.called = clock, clock()
        self.first_step: float | None = None
        self.timer = StepTimer(0, clock)
        self.rate: StepRate | None = None

    def __call__(self, event) -> None:
        if self.first_step is None:
            self.first_step = self.clock()
        seconds_per_step = self.timer.tick(event.step)
        if seconds_per_step is None and not event.final:
            return
        if seconds_per_step is not None:
            setup = max(0.0, self.first_step - self.called - seconds_per_step)
            on_gpu = event.run.dist.device.type == "cuda"
            began = self.clock()  # one evaluation, as the run makes every eval_every steps
            event.run.evaluate(event.state)
            evaluation = self.clock() - began
            self.rate = StepRate(seconds_per_step, "", on_gpu, setup, evaluation)
        raise _ProbeDone


def probe_rate(first: PlannedCell, threads: int) -> StepRate:
    """Train ``first``'s config for a few steps in a scratch folder, with ``threads`` torch
    threads (as its worker will), and time them. Raises what the training raises."""
    import torch

    from convergan.runs import train

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="convergan-probe-") as scratch:
            config = replace(first.config, out_dir=str(Path(scratch) / "run"))
            timer = _TimeSteps()
            try:
                train(config, progress=False, callbacks=[timer])
            except _ProbeDone:
                pass
    finally:
        torch.set_num_threads(before)
    if timer.rate is None:
        raise ValueError("the cell has too few steps to time")
    source = f"timed on {timer.timer.timed} steps of {first.cell.name}"
    return replace(timer.rate, source=source)


def estimate_line(
    spec: SweepSpec,
    planned: list[PlannedCell],
    todo: list[PlannedCell],
    jobs: int,
    most_jobs: int,
    probe: bool = True,
    overrides: Overrides = SWEEP_OVERRIDES,
) -> str:
    """The line a sweep prints before its first cell: the wall time, from finished cells or
    (``probe``) a few timed steps of the first cell to run, or why it has none. A local
    sweep's worker start-up is timed (``probe``) when no finished cell recorded it."""
    work = remaining_work(spec, todo, jobs, most_jobs)
    rate = recorded_rate(planned, device_type(todo[0]))
    if rate is None and not probe:
        return (
            "wall time: not estimated in a dry run (it times a few training steps; "
            "`convergan sweep` prints it before the first cell trains)"
        )
    if rate is None and spec.launcher.name == "slurm":
        return (
            "wall time: not estimated for slurm (the cells run on other nodes; each cell's "
            "log says how long it will take)"
        )
    if rate is None:
        try:
            rate = probe_rate(todo[0], spec.launcher.threads)
        except Exception as error:  # noqa: BLE001 - the cell itself will fail and say why
            reason = " ".join(str(error).split())[:120] or type(error).__name__
            return f"wall time: not estimated (timing {todo[0].cell.name} failed: {reason})"
    if spec.launcher.name != "local":
        rate = replace(rate, startup_seconds=0.0)  # debug: in this process; slurm: per job
    elif probe and not rate.startup_seconds:
        rate = replace(rate, startup_seconds=worker_startup_seconds(spec.launcher.threads))
    return sweep_estimate_message(work, rate, overrides)[0]
