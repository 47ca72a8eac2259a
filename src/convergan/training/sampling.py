"""Samples from a finished (or running) run's latest checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convergan.checkpoint import CheckpointManager
from convergan.config import load_config
from convergan.field import ParameterLayout
from convergan.training.evaluate import generate
from convergan.training.problem import make_players, make_real_stream, sample_latents


def load_run(run_dir: Path):
    """``(config, players, checkpoint state, step)`` of the latest checkpoint in ``run_dir``."""
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    config = load_config(config_path)
    manager = CheckpointManager(run_dir / "checkpoints", config.train.keep_last)
    if manager.latest() is None:
        raise FileNotFoundError(f"{run_dir} has no checkpoints")
    step, state = manager.load_latest()
    from convergan.training.loop import _data_shape

    data_shape, num_classes = _data_shape(config, make_real_stream(config))
    players = make_players(config, data_shape, num_classes)
    ParameterLayout(players.generator).assign(state["theta"])
    ParameterLayout(players.discriminator).assign(state["psi"])
    from convergan.training.run import load_module_buffers

    load_module_buffers(players.generator, state.get("generator_buffers"))
    load_module_buffers(players.discriminator, state.get("discriminator_buffers"))
    return config, players, state, step


def generator_weights(config, raw, ema_average, use_ema: bool = True):
    """The one rule for "EMA or raw generator": the EMA when the run keeps one and it is asked
    for, else the raw weights. Training samples and evaluations, ``convergan sample`` and
    ``convergan eval`` all go through it."""
    return ema_average if use_ema and config.ema.enabled else raw


def saved_generator(config, state: dict, use_ema: bool = True):
    """The checkpoint's generator parameters (see :func:`generator_weights`)."""
    return generator_weights(config, state["theta"], state["ema"]["average"], use_ema)


def saved_generator_buffers(config, state: dict, use_ema: bool = True) -> dict | None:
    """The EMA's averaged buffers (BatchNorm statistics) when the EMA generator is used and
    the checkpoint has them; ``None`` means the module's own (the saved live) buffers."""
    if not (use_ema and config.ema.enabled):
        return None
    return state["ema"].get("buffers") or None


def load_generator_samples(run_dir: Path, n: int, out: Path, seed: int, use_ema: bool) -> Path:
    config, players, state, step = load_run(run_dir)
    params = saved_generator(config, state, use_ema)
    samples = generate(
        players.generator,
        params,
        sample_latents(n, players.latent_dim, seed),
        buffers=saved_generator_buffers(config, state, use_ema),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, samples.cpu().numpy())
        return out
    from convergan.training.run import write_samples

    kind = "EMA" if use_ema and config.ema.enabled else "raw"
    write_samples(
        config, out, samples, players.discriminator, state["psi"], title=f"{kind} G, step {step}"
    )
    return out
