"""What the generator in training is looked at by: the problem's metrics of its samples and
its samples from fixed latents (the run's sample figures).

Both use the EMA generator when an EMA is kept (:func:`~convergan.training.ema.generator_weights`);
the fixed-noise figures show the raw generator beside it where the problem asks for that.
"""

from __future__ import annotations

import torch
from torch import Tensor

from convergan.config.schema import Config
from convergan.field import GENERATOR, State
from convergan.models.players import Players
from convergan.problems import Problem
from convergan.training.batches import sample_latents
from convergan.training.ema import generator_weights
from convergan.training.generate import BoundModule, generate
from convergan.training.state import TrainingState

FIXED_NOISE_SEED = 2018


def fixed_labels(n: int, num_classes: int | None) -> Tensor | None:
    """Class labels for conditional sample grids: one class per row."""
    if not num_classes:
        return None
    side = max(1, int(n**0.5))
    return (torch.arange(n) // side) % num_classes


class GeneratorOutputs:
    """The metrics and the fixed-noise samples of the players' generator at a state. The
    evaluator (which may hold reference data) is built on the main process only; elsewhere
    :meth:`metrics` is empty."""

    def __init__(self, config: Config, dist, problem: Problem, players: Players) -> None:
        self.config, self.dist, self.problem, self.players = config, dist, problem, players
        self.evaluator = None
        if dist.is_main:
            metrics = problem.requested_metrics(config.eval.metrics)
            self.evaluator = problem.evaluator(metrics, dist.device)

    def generator_params(self, x: State, ema) -> Tensor:
        return generator_weights(self.config, x[GENERATOR], ema.average)

    def metrics(self, state: TrainingState) -> dict[str, float]:
        """The problem's metrics of the (EMA) generator at ``state``."""
        if self.evaluator is None:
            return {}
        params, device = self.generator_params(state.x, state.ema), self.dist.device
        generator = self.players.generator

        def samples(latents: Tensor, labels: Tensor | None) -> Tensor:
            labels = None if labels is None else labels.to(device)
            return generate(generator, params, latents.to(device), labels=labels)

        return self.evaluator(samples, BoundModule(self.players.discriminator, state.x[1]))

    def fixed_samples(self, state: TrainingState) -> dict[str, Tensor]:
        """Samples from the fixed latents (seed :data:`FIXED_NOISE_SEED`, the problem's
        ``display_count``): ``""`` the EMA (or only) generator, ``"-raw"`` the raw one too
        when an EMA is kept and the problem shows images."""
        n = self.problem.display_count
        latents = sample_latents(n, self.config.model.latent_dim, FIXED_NOISE_SEED)
        labels = fixed_labels(n, self.players.num_classes)
        ema = state.ema
        ema_buffers = getattr(ema, "buffers", None) if self.config.ema.enabled else None
        versions = {"": (self.generator_params(state.x, ema), ema_buffers)}
        if self.config.ema.enabled and self.problem.show_raw_samples:
            versions["-raw"] = (state.x[GENERATOR], None)
        device = self.dist.device
        return {
            suffix: generate(
                self.players.generator,
                params,
                latents.to(device),
                labels=None if labels is None else labels.to(device),
                buffers=buffers,
            )
            for suffix, (params, buffers) in versions.items()
        }
