"""The run-level callbacks of training: sample figures and in-training spectra.

They need plots and the analysis, which sit above training; training calls them through its
callback interface (:mod:`convergan.training.callbacks`) without importing them.
"""

from __future__ import annotations

from pathlib import Path

from convergan.registry import SAMPLE_VIEWS
from convergan.training.callbacks import StepEvent
from convergan.training.generate import BoundModule

REAL_SAMPLES_SEED = 0  # the real points drawn beside the generated ones


def write_samples(problem, path: Path, fake, discriminator=None, title: str = "") -> Path:
    """Draw ``fake`` samples of ``problem`` (with real ones, and D, where its view shows them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    real = problem.real_samples(len(fake), REAL_SAMPLES_SEED)
    return SAMPLE_VIEWS[problem.sample_view](path, real, fake, discriminator, title)


class SampleFigures:
    """Fixed-noise samples every ``train.sample_every`` steps and at the end: the EMA
    generator (``samples/step-N.png``) and, where the problem shows it, the raw one too
    (``step-N-raw.png``)."""

    def __call__(self, event: StepEvent) -> None:
        run = event.run
        if not (run.dist.is_main and event.every(run.config.train.sample_every)):
            return
        discriminator = BoundModule(run.discriminator, event.state.x[1])
        for suffix, fake in run.fixed_samples(event.state).items():
            path = run.directory.sample_image(event.step, suffix)
            write_samples(run.problem, path, fake, discriminator, title=f"step {event.step}")


class SpectrumLogging:
    """``eval.spectrum``: leading Jacobian eigenvalues and the trained scheme's update radius
    every ``eval.spectrum.every`` steps (off at 0), each look started from the previous one's
    vectors (:class:`~convergan.runs.spectrum_in_training.InTrainingSpectrum`)."""

    def __init__(self) -> None:
        self.look = None

    def __call__(self, event: StepEvent) -> dict[str, float] | None:
        run = event.run
        every = run.config.eval.spectrum.every
        if not (every and event.step % every == 0 and run.dist.is_main):
            return None
        if self.look is None:
            from convergan.runs.spectrum_in_training import InTrainingSpectrum

            self.look = InTrainingSpectrum()
        state = event.state
        return self.look(
            run.config,
            run.generator,
            run.discriminator,
            state.x,
            event.step,
            state.scheme_state,
            problem=run.problem,
            world_size=run.dist.world_size,
        )
