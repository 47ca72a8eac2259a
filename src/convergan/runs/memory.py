"""How much memory a spectrum's (or path-angle's) evaluation game needs, estimated before any
of it is drawn, so that ``--samples 100000000`` is refused in one line rather than running
for minutes and ending in an allocator's traceback."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from convergan.runs.spectrum import default_samples
from convergan.training.directory import RunDirectory
from convergan.training.memory import available_memory, gigabytes

# The evaluation game keeps the players' activations several times over: the forward pass,
# its backward with ``create_graph`` (the field) and the double backward of each
# Jacobian-vector product, with their intermediates. Measured on a 2D MLP run (200,000
# samples, double-backward route): the peak resident memory grew by 10x the activations.
GRAPH_COPIES = 10


class EvaluationTooLarge(ValueError):
    """The evaluation game (or a sample) would not fit in memory (one line with the estimate)."""


def evaluation_memory(run: RunDirectory, samples: int, float64: bool = False) -> int:
    """Bytes, about, that an evaluation game of ``samples`` samples holds at once: per sample
    its data and latent and :data:`GRAPH_COPIES` copies of the players' activations (the
    generator's on a latent, the discriminator's on a real and on a fake sample)."""
    players = run.players()
    data = int(np.prod(run.info.shape))
    activations = _activations_per_sample(players)
    per_sample = data + players.latent_dim + GRAPH_COPIES * activations
    return samples * per_sample * (8 if float64 else 4)


def _activations_per_sample(players) -> int:
    """Numbers output by the leaf modules of G on one latent plus twice those of D on one
    sample (counted with forward hooks on a batch of 2, without gradients); 0 for players
    that cannot be called plainly (a plugin's own signature): the estimate is then the data
    and latents alone, a lower bound."""
    generator, discriminator = players.generator, players.discriminator
    counts = {id(generator): 0, id(discriminator): 0}
    handles = []
    for player in (generator, discriminator):
        for module in player.modules():
            if next(module.children(), None) is None:
                player_key = id(player)

                def hook(module, inputs, output, key=player_key):
                    if isinstance(output, Tensor):
                        counts[key] += output.numel()

                handles.append(module.register_forward_hook(hook))
    labels = torch.zeros(2, dtype=torch.long) if players.num_classes else None
    extra = () if labels is None else (labels,)
    try:
        generator.eval()
        discriminator.eval()
        with torch.no_grad():
            discriminator(generator(torch.zeros(2, players.latent_dim), *extra), *extra)
    except Exception:  # noqa: BLE001 - an estimate; a plugin model may need other inputs
        return 0
    finally:
        for handle in handles:
            handle.remove()
    return (counts[id(generator)] + 2 * counts[id(discriminator)]) // 2


def check_evaluation_memory(run: RunDirectory, samples: int | None, float64: bool) -> None:
    """:class:`EvaluationTooLarge` when the evaluation game of ``samples`` (default: the
    problem's) would need more memory than is available, before any of it is drawn."""
    default = default_samples(run.config)
    samples = samples or default
    need, have = evaluation_memory(run, samples, float64), available_memory()
    if have is not None and need > have:
        raise EvaluationTooLarge(
            f"--samples {samples}: the evaluation game would need about {gigabytes(need)} of "
            f"memory (data, latents and activations kept for double backward), more than the "
            f"{gigabytes(have)} available; use fewer samples (default {default})"
        )


def check_sample_memory(run: RunDirectory, n: int) -> None:
    """:class:`EvaluationTooLarge` when ``n`` samples (each with its latent) would not fit in
    the memory available, before any is drawn; the generator runs in batches, so the samples
    themselves are what grows."""
    per_sample = int(np.prod(run.info.shape)) + run.config.model.latent_dim
    need, have = n * per_sample * 4, available_memory()
    if have is not None and need > have:
        raise EvaluationTooLarge(
            f"--n {n}: the samples would need about {gigabytes(need)} of memory, more than "
            f"the {gigabytes(have)} available; draw fewer"
        )
