"""What happens after a training step, as callbacks: the loop emits one event per step and
each callback decides whether it has work to do at that step.

A callback is ``callback(event) -> scalars or None``; returned scalars are logged at the
event's step (``metrics.jsonl``, TensorBoard, the progress bar). The trainer's own callbacks
are :class:`Evaluation`, the convergence diagnostics
(:class:`~convergan.training.diagnostics.FieldDiagnostics`) and :class:`Checkpointing`
(always last, so a checkpoint holds what was logged before it); the run-level ones (sample
figures, in-training spectra) live above training (:mod:`convergan.runs.callbacks`) and are
passed to :func:`~convergan.training.loop.train`, which imports nothing above its layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class StepEvent:
    """Training has finished ``step`` steps (``final``: the last of this invocation)."""

    step: int
    final: bool
    state: Any  # TrainingState: x, scheme_state, ema, sampler, samples_seen
    run: Any  # the Run: config, dist, problem, players, directory
    reports: dict | None = None  # the reporter's pending values, for the checkpoint

    def every(self, interval: int) -> bool:
        """Whether a callback with this interval (0 = only at the end) runs now."""
        return bool(interval and self.step % interval == 0) or self.final


class Callback(Protocol):
    def __call__(self, event: StepEvent) -> dict[str, float] | None: ...


class Evaluation:
    """The problem's metrics every ``train.eval_every`` steps and at the end (main process)."""

    def __call__(self, event: StepEvent) -> dict[str, float] | None:
        run = event.run
        if not (run.dist.is_main and event.every(run.config.train.eval_every)):
            return None
        return run.evaluate(event.state)


class Checkpointing:
    """A checkpoint every ``train.checkpoint_every`` steps and at the end."""

    def __call__(self, event: StepEvent) -> None:
        if event.every(event.run.config.train.checkpoint_every):
            event.run.save_checkpoint(event.state, event.reports)
