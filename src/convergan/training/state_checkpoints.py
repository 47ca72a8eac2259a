"""A training state to and from the run's checkpoints, with what is saved beside it.

A checkpoint holds the :class:`~convergan.training.state.TrainingState`, the players' buffers
(BatchNorm statistics) and the reporter's values pending since the last log, so the first log
after a resume averages the same steps as an uninterrupted run. Only the main process writes;
every process restores (the same file), after the resume rules
(:mod:`convergan.training.resume_rules`) and the players' sizes are checked.
"""

from __future__ import annotations

from convergan.config.schema import Config
from convergan.models.players import Players
from convergan.training.directory import (
    RunDirectory,
    check_fits,
    load_module_buffers,
    module_buffers,
)
from convergan.training.resume_rules import check_resume_config
from convergan.training.state import TrainingState


class StateCheckpoints:
    """Saves and restores a run's :class:`TrainingState` in ``directory``'s checkpoints."""

    def __init__(self, directory: RunDirectory, players: Players, dist) -> None:
        self.directory, self.players, self.dist = directory, players, dist

    def save(self, state: TrainingState, reports: dict | None = None) -> None:
        """Rank 0 writes ``state``, the players' buffers and the reporter's pending values."""
        if self.dist.is_main:
            state.world_size = self.dist.world_size
            saved = state.checkpoint()
            saved["generator_buffers"] = module_buffers(self.players.generator)
            saved["discriminator_buffers"] = module_buffers(self.players.discriminator)
            if reports is not None:
                saved["reporter"] = reports
            self.directory.checkpoints.save(state.step, saved)

    def restore(self, state: TrainingState, config: Config) -> tuple[int, dict | None]:
        """Load the latest checkpoint into ``state`` and the players' buffers, once ``config``
        passes the resume rules against the saved one; returns its step and the reporter's
        values pending when it was written."""
        step, saved = self.directory.checkpoints.load_latest()
        check_resume_config(
            self.directory.saved_config(), config, saved.get("world_size"), self.dist.world_size
        )
        check_fits(self.players, saved)
        state.load(saved, self.dist.device)
        load_module_buffers(self.players.generator, saved.get("generator_buffers"))
        load_module_buffers(self.players.discriminator, saved.get("discriminator_buffers"))
        return step, saved.get("reporter")
