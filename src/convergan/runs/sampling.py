"""Samples from a finished (or running) run's latest checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convergan.files import atomic_output
from convergan.problems import make_problem
from convergan.runs.callbacks import write_samples
from convergan.runs.memory import check_sample_memory
from convergan.training.batches import sample_latents
from convergan.training.directory import RunDirectory
from convergan.training.generate import BoundModule, generate


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
