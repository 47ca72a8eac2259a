"""Samples from a finished (or running) run's latest checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from convergan.files import atomic_output
from convergan.problems import make_problem
from convergan.runs.callbacks import REAL_SAMPLES_SEED, write_samples
from convergan.runs.memory import check_sample_memory
from convergan.training.batches import sample_latents
from convergan.training.directory import RunDirectory
from convergan.training.generate import BoundModule, generate
from convergan.training.generator_outputs import FIXED_NOISE_SEED, fixed_labels


def load_generator_samples(run_dir: Path, n: int, out: Path, seed: int, use_ema: bool) -> Path:
    """``n`` samples of the run's latest checkpoint (EMA generator unless ``use_ema`` is
    false) written to ``out``: ``.npy`` the raw array, otherwise the problem's picture."""
    run = RunDirectory.open(run_dir)
    check_sample_memory(run, n)
    step, state = run.load()
    players = run.players(state)
    samples = generate(
        players.generator,
        run.generator_params(state, use_ema),
        sample_latents(n, players.latent_dim, seed),
        buffers=run.generator_buffers(state, use_ema),
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".npy":
            with atomic_output(out) as file:
                np.save(file, samples.cpu().numpy())
            return out
        kind = "EMA" if use_ema and run.config.ema.enabled else "raw"
        discriminator = BoundModule(players.discriminator, state["psi"])
        problem = make_problem(run.config)
        return write_samples(problem, out, samples, discriminator, title=f"{kind} G, step {step}")
    except OSError as error:  # a read-only or full disk, a file where a folder should be
        raise SampleWriteError(
            f"--out: cannot write {out} ({error.strerror or error}); choose another file"
        ) from None


class SampleWriteError(ValueError):
    """``--out`` cannot be written (one line)."""


@dataclass
class FinalSamples:
    """What a run's training pictures show, from its newest loadable checkpoint: the
    problem's view (a :data:`~convergan.registry.SAMPLE_VIEWS` name), real samples, the
    fixed-noise samples of the EMA (or only) generator, and the discriminator at that step."""

    view: str
    real: Tensor
    fake: Tensor
    discriminator: nn.Module
    step: int


def final_samples(run_dir: Path) -> FinalSamples:
    """The run's final samples, drawn as its training pictures are (the same fixed latents
    and real samples), from its newest loadable checkpoint; raises what opening the run or
    its checkpoint raises (no checkpoint: ``FileNotFoundError``)."""
    run = RunDirectory.open(run_dir)
    step = run.latest_step(loadable=True)
    if step is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoints")
    step, state = run.load(step)
    players = run.players(state)
    problem = make_problem(run.config)
    n = problem.display_count
    fake = generate(
        players.generator,
        run.generator_params(state),
        sample_latents(n, players.latent_dim, FIXED_NOISE_SEED),
        labels=fixed_labels(n, players.num_classes),
        buffers=run.generator_buffers(state),
    )
    discriminator = BoundModule(players.discriminator, state["psi"])
    real = problem.real_samples(n, REAL_SAMPLES_SEED)
    return FinalSamples(problem.sample_view, real, fake.detach(), discriminator, step)
