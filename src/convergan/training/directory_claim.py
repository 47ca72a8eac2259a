"""A training process's hold on its run directory, from start to outcome.

Only the main process writes, and only while it holds the directory's lock
(:mod:`convergan.training.lock`): a second ``train`` into the same ``out_dir`` or a ``resume``
of a run that is still training is refused with one line naming the holder. A fresh start
refuses a directory that already holds a run (its checkpoints) and clears the logs of an
attempt that stopped before its first checkpoint; every start records the config (with a
resume's new overrides) and the data's shape, and clears the outcome until training ends.
"""

from __future__ import annotations

from convergan.config.schema import Config
from convergan.problems import DataInfo
from convergan.training.directory import RunDirectory


class DirectoryClaim:
    """The lock on ``directory`` and what the directory records of the training in it."""

    def __init__(self, directory: RunDirectory, dist) -> None:
        self.directory, self.dist = directory, dist

    def start_fresh(self, config: Config, info: DataInfo) -> None:
        """Take the directory for a new run (main process)."""
        directory = self.directory
        if not self.dist.is_main:
            return
        directory.lock.acquire()  # creates the folder; one line if another run holds it
        if directory.latest_step() is not None:
            directory.lock.release()
            raise FileExistsError(
                f"{directory.path} already holds a run; use "
                f"`convergan resume {directory.path}` or choose another out_dir"
            )
        directory.clear_logs()
        self.record_start(config, info)

    def hold(self) -> None:
        """Take the lock of a run to resume (main process), before its checkpoint is read."""
        if self.dist.is_main:
            self.directory.lock.acquire()

    def record_start(self, config: Config, info: DataInfo) -> None:
        """Training (re)starts: no outcome yet; the config and the data's shape (main)."""
        if self.dist.is_main:
            self.directory.clear_outcome()
            self.directory.write_config(config)  # a resume's new overrides too
            self.directory.record_info(info)

    def latest_step(self) -> int | None:
        """The newest checkpoint's step (main process; ``None`` elsewhere)."""
        return self.directory.latest_step() if self.dist.is_main else None

    def record_outcome(self, status: str, error: str | None = None) -> None:
        """How training ended, ``done`` or ``diverged`` (main process)."""
        if self.dist.is_main:
            self.directory.record_outcome(status, error)

    def release(self) -> None:
        """Release the directory (idempotent; a process that holds nothing does nothing)."""
        self.directory.lock.release()
