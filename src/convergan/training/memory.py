"""Memory the machine can give, and the players' size counted before they are built, so that
``model.width=100000000`` is refused in one line instead of running for a minute and ending in
an allocator's traceback."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from convergan.metrics.catalog import pairwise_bytes
from convergan.models.players import make_players
from convergan.options import ConfigError

# Training keeps each parameter four times at least: the weight, its gradient and the two
# moments of Adam (an EMA generator and a scheme's extra copies come on top): a lower bound.
TRAINING_COPIES = 4


def available_memory() -> int | None:
    """Bytes this process may still allocate: the system's available memory, lowered to its
    cgroup's (a container's) limit; ``None`` when neither can be read."""
    sizes = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                sizes.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            sizes.append(int(limit) - int(used))
    except (OSError, ValueError):
        pass
    return min(sizes) if sizes else None


def parameter_count(config, data_shape: tuple[int, ...], num_classes: int | None) -> int:
    """The number of parameters of the config's players, counted on PyTorch's ``meta`` device
    (shapes without storage), so that counting costs no memory whatever the size."""
    with torch.device("meta"):
        players = make_players(config, data_shape, num_classes)
    return sum(
        p.numel() for net in (players.generator, players.discriminator) for p in net.parameters()
    )


def check_model_memory(config, data_shape: tuple[int, ...], num_classes: int | None) -> None:
    """A one-line :class:`ConfigError` naming ``model`` when training the players would need
    more memory than is available, before any of them is allocated."""
    try:
        count = parameter_count(config, data_shape, num_classes)
    except (RuntimeError, NotImplementedError):  # a plugin's builder that cannot run on meta
        return
    need, have = count * TRAINING_COPIES * 4, available_memory()
    if have is not None and need > have:
        m = config.model
        raise ConfigError(
            f"model: {m.name} with width {m.width} and depth {m.depth} has {count:,} parameters, "
            f"needing at least {gigabytes(need)} to train (weights, gradients, Adam), more "
            f"than the {gigabytes(have)} available; choose a smaller model.width"
        )


def check_batch_memory(config, data_shape: tuple[int, ...], global_batch: int) -> None:
    """A one-line :class:`ConfigError` naming ``data.batch_size`` when one training batch
    would not fit in memory, before it is drawn. A lower bound: per sample, the real and the
    generated sample, its latent and one activation of ``model.width`` values, in float32."""
    per_sample = 2 * math.prod(data_shape) + config.model.latent_dim + config.model.width
    need, have = global_batch * per_sample * 4, available_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"data.batch_size: a batch of {_samples(global_batch)} samples needs at least "
            f"{gigabytes(need)} of memory, more than the {gigabytes(have)} available; "
            "use a smaller data.batch_size"
        )


def check_metric_memory(
    names: Sequence[str], n: int, data_shape: tuple[int, ...], config, option: str
) -> None:
    """A one-line :class:`ConfigError` naming ``option`` when evaluating the metrics ``names``
    on ``n`` generated samples (and as many real ones) would not fit in memory: the samples,
    their latents and the n x n cost matrix of a pairwise metric (exact W1)."""
    per_sample = 2 * math.prod(data_shape) + config.model.latent_dim
    need, have = n * per_sample * 4 + pairwise_bytes(names, n), available_memory()
    if have is not None and need > have:
        raise ConfigError(
            f"{option}: evaluating {', '.join(names)} on {n:,} samples would need about "
            f"{gigabytes(need)} of memory, more than the {gigabytes(have)} available; use fewer"
        )


def gigabytes(size: int) -> str:
    """``18.5 GB``, ``1,028.2 GB``; below 0.1 GB in MB, beyond a million GB ``1.03e+15 GB``."""
    value = size / 2**30
    if value < 0.1:
        return f"{size / 2**20:,.1f} MB"
    return f"{value:,.1f} GB" if value < 1e6 else f"{value:.3g} GB"


def _samples(n: int) -> str:
    return f"{n:,}" if n < 10**12 else f"{n:.3g}"
