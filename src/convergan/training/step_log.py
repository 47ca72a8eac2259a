"""The log of a run in training: the reporter's means every ``train.log_every`` steps (with
the values of the config's schedules and the samples seen) and the callbacks' scalars, written
to the run's metrics log (main process) and shown in the progress bar's postfix.

The reporter's values pending at a checkpoint are saved with it; a resumed run puts them back
before its first log (:meth:`StepLog.carry`), so that log averages the same steps as an
uninterrupted run's.
"""

from __future__ import annotations

from convergan.training.directory import RunDirectory
from convergan.training.progress import progress_postfix
from convergan.training.state import TrainingState


class StepLog:
    """Writes the logged scalars of each step; ``last_metrics``: the latest value of each."""

    def __init__(self, log_every: int, dist) -> None:
        self.log_every, self.dist = log_every, dist
        self.last_metrics: dict[str, float] = {}
        self._log = None
        self._carried: dict | None = None  # the reporter's values saved at the checkpoint

    def open(self, directory: RunDirectory, resumed_at: int | None = None) -> None:
        """Append to ``directory``'s metrics log (main process); ``resumed_at``: the rows a
        crashed attempt wrote after that step are dropped."""
        if self.dist.is_main:
            self._log = directory.open_log(resumed_at)

    def carry(self, reports: dict | None) -> None:
        """The reporter's values saved at the checkpoint a run resumes from."""
        self._carried = reports

    def reporter_values(
        self, state: TrainingState, reporter, scheduled: dict[str, float], bar, final: bool
    ) -> dict:
        """After ``state.step`` steps: the reporter's means when a log is due (every
        ``log_every`` steps and at the ``final`` step), with ``scheduled`` (the values of
        the config's schedules that the step used); returns the reporter's values that a
        checkpoint now saves."""
        step = state.step
        bar.update(1)
        if self._carried is not None:  # values reported before the checkpoint
            reporter.load_state_dict(self._carried)
            self._carried = None
        # A final log off the log_every grid (end of the budget) still leaves its values in
        # the checkpoint, so a later resume's first log averages what an uninterrupted run's
        # would have.
        pending = reporter.state_dict() if final and step % self.log_every else None
        if step % self.log_every == 0 or final:
            scalars = reporter.summary(average=self.dist.average)
            scalars.update(scheduled)
            scalars["progress/samples_seen"] = float(state.samples_seen)
            self.write(step, scalars, bar)
        return reporter.state_dict() if pending is None else pending

    def write(self, step: int, scalars: dict[str, float], bar) -> None:
        self.last_metrics.update(scalars)
        if self._log is not None:
            self._log.write(step, scalars)
        bar.set_postfix_str(progress_postfix(self.last_metrics), refresh=False)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
