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
    every ``eval.spectrum.every`` steps (off at 0)."""

    def __call__(self, event: StepEvent) -> dict[str, float] | None:
        run = event.run
        every = run.config.eval.spectrum.every
        if not (every and event.step % every == 0 and run.dist.is_main):
            return None
        state = event.state
        return spectrum_scalars(
            run.config,
            run.generator,
            run.discriminator,
            state.x,
            event.step,
            state.scheme_state,
            problem=run.problem,
            world_size=run.dist.world_size,
        )


def spectrum_scalars(
    config,
    generator,
    discriminator,
    x,
    step: int,
    scheme_state,
    problem=None,
    world_size: int = 1,
) -> dict:
    """The in-training record of ``eval.spectrum``: the field's largest real part, largest
    |Im| and largest |λ| among the leading eigenvalues, and the spectral radius of the run's
    scheme at its learning rates (preconditioned by the live optimizer state when adaptive),
    all as in force at ``step``."""
    from convergan.config import config_at
    from convergan.runs.at_step import preconditioner_from_states
    from convergan.runs.spectrum import SpectrumSettings, analyze_players

    options = config.eval.spectrum
    settings = SpectrumSettings(
        k=options.k,
        which=tuple(options.which),
        samples=options.samples,
        seed=config.seed,
        schemes=("run",),
        preconditioned=True,
        lr_bound=False,  # not logged: two ARPACK runs on H*P*J fewer
    )
    moves = getattr(scheme_state, "moves", None) or (None, None)
    sizes = (x[0].numel(), x[1].numel())
    now = config_at(config, step, world_size)
    preconditioner = preconditioner_from_states(now, moves, sizes)
    record = analyze_players(
        config,
        generator,
        discriminator,
        x,
        step,
        settings,
        preconditioner,
        problem=problem,
        world_size=world_size,
    )
    return {
        "spectrum/max_real": record["max_real"],
        "spectrum/max_abs_imag": record["max_abs_imag"],
        "spectrum/max_abs": record["max_abs"],
        "spectrum/update_radius": record["spectral_radius"],
        "spectrum/converged": float(record["converged"] and record["schemes"][0]["converged"]),
    }
