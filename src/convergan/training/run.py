"""A run in training: its directory, its players, and what happens around each step, composed
from parts with one job each.

- :class:`~convergan.training.directory_claim.DirectoryClaim`: the directory's lock, a fresh
  start or a resume, the recorded config and outcome;
- :class:`~convergan.training.state_checkpoints.StateCheckpoints`: the training state to and
  from the checkpoints (a resume's rules: :mod:`convergan.training.resume_rules`);
- :class:`~convergan.training.step_log.StepLog`: the reporter's and the callbacks' scalars
  in the metrics log and the progress bar;
- :class:`~convergan.training.generator_outputs.GeneratorOutputs`: the metrics and the
  fixed-noise samples of the generator.

:class:`Run` is what a callback sees (``event.run``: config, dist, problem, players,
directory, ``evaluate``, ``fixed_samples``, ``save_checkpoint``). Rows of ``metrics.jsonl``
(and TensorBoard events) after the checkpoint's step, written by an attempt that crashed, are
dropped when the run resumes (under the lock), so every step is logged once.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from torch import Tensor

from convergan.config.schema import Config
from convergan.field import DivergenceError
from convergan.models.players import Players
from convergan.problems import Problem
from convergan.training.callbacks import Callback, StepEvent
from convergan.training.directory import RunDirectory
from convergan.training.directory_claim import DirectoryClaim
from convergan.training.generator_outputs import GeneratorOutputs
from convergan.training.state import TrainingState
from convergan.training.state_checkpoints import StateCheckpoints
from convergan.training.step_log import StepLog


class Run:
    """A run in training: the directory, the players and the callbacks after each step."""

    def __init__(
        self,
        config: Config,
        dist,
        problem: Problem,
        players: Players,
        show_progress: bool,
        callbacks: Sequence[Callback] = (),
    ):
        self.config, self.dist, self.problem, self.players = config, dist, problem, players
        self.generator, self.discriminator = players.generator, players.discriminator
        self.directory = RunDirectory(config.out_dir, config)
        self.show_progress = show_progress and dist.is_main
        self.callbacks = list(callbacks)
        self.claim = DirectoryClaim(self.directory, dist)
        self.saved_states = StateCheckpoints(self.directory, players, dist)
        self.log = StepLog(config.train.log_every, dist)
        self.outputs = GeneratorOutputs(config, dist, problem, players)

    @property
    def last_metrics(self) -> dict[str, float]:
        return self.log.last_metrics

    # -- set-up and tear-down --------------------------------------------------------------
    def start(self) -> None:
        """A new run: take the directory, record the config, open the log."""
        self.claim.start_fresh(self.config, self.problem.info())
        self.log.open(self.directory)

    def restore(self, state: TrainingState) -> None:
        """Load the latest checkpoint into ``state`` and reopen the logs (dropping rows that a
        crashed attempt wrote after the checkpoint)."""
        self.claim.hold()
        try:
            step, reports = self.saved_states.restore(state, self.config)
        except BaseException:
            self.claim.release()
            raise
        self.claim.record_start(self.config, self.problem.info())
        self.log.open(self.directory, resumed_at=step)
        self.log.carry(reports)

    def close(self) -> None:
        """Close the logs and release the run directory (idempotent)."""
        self.log.close()
        self.claim.release()

    @contextlib.contextmanager
    def progress(self, start: int, total: int):
        """The progress bar of the steps ``start..total``; records how training ended (done,
        or diverged) and closes the run when the block ends."""
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=start,
            disable=not self.show_progress,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            file=sys.stderr,
        )
        try:
            yield bar
        except DivergenceError as error:
            # Say which checkpoint survives: none, when the run diverged before its first.
            error.last_checkpoint_step = self.claim.latest_step()
            self.claim.record_outcome("diverged", str(error))
            raise
        else:
            self.claim.record_outcome("done")
        finally:
            bar.close()
            self.close()

    # -- after every step ------------------------------------------------------------------
    def after_step(
        self, state: TrainingState, reporter, *, scheduled: dict[str, float], bar, final: bool
    ) -> None:
        """The log of the reporter's values, then every callback, after ``state.step`` steps.
        ``scheduled``: the values of the config's schedules that the step just taken used
        (``schedule/<dotted key>``), logged with the reporter's."""
        reports = self.log.reporter_values(state, reporter, scheduled, bar, final)
        event = StepEvent(state.step, final, state, self, reports)
        for callback in self.callbacks:
            scalars = callback(event)
            if scalars:
                self.log.write(state.step, scalars, bar)

    # -- what callbacks use ----------------------------------------------------------------
    def evaluate(self, state: TrainingState) -> dict[str, float]:
        """The problem's metrics of the (EMA) generator at ``state``."""
        return self.outputs.metrics(state)

    def fixed_samples(self, state: TrainingState) -> dict[str, Tensor]:
        """The fixed-noise samples of the generator at ``state`` (see
        :meth:`~convergan.training.generator_outputs.GeneratorOutputs.fixed_samples`)."""
        return self.outputs.fixed_samples(state)

    def save_checkpoint(self, state: TrainingState, reports: dict | None = None) -> None:
        """Rank 0 writes ``state``, the players' buffers and the reporter's pending values."""
        self.saved_states.save(state, reports)
