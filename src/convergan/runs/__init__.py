"""Run-level services: training with the standard callbacks, and what reads a finished (or
running) run: samples, evaluation, spectra and path-angles of its checkpoints.

This layer sits above training and analysis (it may use both); training and analysis import
nothing from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from convergan.runs.callbacks import SampleFigures, SpectrumLogging
from convergan.training.callbacks import Callback
from convergan.training.loop import TrainResult
from convergan.training.loop import train as _train_with


def standard_callbacks() -> list[Callback]:
    """In-training spectra (when ``eval.spectrum.every`` is set) and sample figures."""
    return [SpectrumLogging(), SampleFigures()]


def train(
    config,
    *,
    resume: bool = False,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``config`` (or resume it) with the standard callbacks, then ``callbacks``."""
    return _train_with(
        config,
        resume=resume,
        progress=progress,
        callbacks=[*standard_callbacks(), *callbacks],
    )


__all__ = ["TrainResult", "standard_callbacks", "train"]
