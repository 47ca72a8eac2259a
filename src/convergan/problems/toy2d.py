"""The 2D problems as a problem family: every name in :data:`~convergan.registry.PROBLEMS_2D`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from convergan.data.distributions_2d import Toy2DStream, make_distribution_2d
from convergan.metrics.catalog import MetricInputs, compute_metrics
from convergan.problems.base import DataInfo, Generate, Problem
from convergan.registry import PROBLEMS_2D

EVALUATION_SEED = 12345  # real samples and latents of every evaluation


class Toy2DProblem(Problem):
    """A 2D distribution generated in code (:mod:`convergan.data.distributions_2d`)."""

    metric_domain = "2d"
    default_metrics = ("w1",)
    default_architecture = "mlp"
    sample_view = "points-2d"
    display_count = 1000
    spectrum_samples = 2000
    samples_key = "w1_samples"

    def __init__(self, config: Any, source: str | None = None) -> None:
        """``source``: the 2D distribution's registered name (default: ``data.name``)."""
        super().__init__(config)
        options = {}
        if config.data.noise_std > 0:  # the spread of the modes, for problems that have one
            options = {"std": config.data.noise_std}
        try:
            self.source = make_distribution_2d(source or self.name, **options)
        except ValueError as error:
            from convergan.options import ConfigError

            raise ConfigError(f"data.noise_std: {error}") from None

    def info(self) -> DataInfo:
        return DataInfo((2,), None)

    def real_stream(self, global_batch: int, seed: int, num_workers: int = 0) -> Toy2DStream:
        return Toy2DStream(self.source, global_batch, seed=seed)

    def real_samples(self, n: int, seed: int) -> Tensor:
        return self.source.sample(n, torch.Generator().manual_seed(seed))

    def evaluator(self, metrics: Sequence[str], device: Any) -> Toy2DEvaluator:
        return Toy2DEvaluator(self, tuple(metrics))

    def evaluation_points(self) -> tuple[Tensor, Tensor]:
        """``(real, latents)`` of every evaluation: ``eval.w1_samples`` fresh ones, seeded."""
        n, g = self.config.eval.w1_samples, torch.Generator().manual_seed(EVALUATION_SEED)
        real = self.source.sample(n, g)
        return real, torch.randn(n, self.config.model.latent_dim, generator=g)


class Toy2DEvaluator:
    """The requested metrics on the problem's evaluation points (``eval.w1_samples`` fresh real
    and generated ones), plus D's mean squared input-gradient norm at real and generated points
    (what R1/R2 penalise)."""

    def __init__(self, problem: Toy2DProblem, metrics: tuple[str, ...]) -> None:
        self.problem, self.metrics = problem, metrics

    def __call__(self, generate: Generate, discriminator: nn.Module | None) -> dict[str, float]:
        from convergan.metrics.point_clouds import input_gradient_norm

        real, latents = self.problem.evaluation_points()
        fake = generate(latents, None).cpu()
        inputs = MetricInputs(real, fake, source=self.problem.source)
        results = {f"eval/{k}": v for k, v in compute_metrics(self.metrics, inputs).items()}
        if discriminator is not None:
            results["eval/grad_norm_sq_real"] = input_gradient_norm(discriminator, real[:512])
            results["eval/grad_norm_sq_fake"] = input_gradient_norm(discriminator, fake[:512])
        return results


class Toy2DFamily:
    """Every registered 2D problem."""

    def names(self) -> tuple[str, ...]:
        return PROBLEMS_2D.names()

    def build(self, config: Any) -> Toy2DProblem:
        return Toy2DProblem(config)


FAMILY = Toy2DFamily()  # registered (declared) in convergan.registry.PROBLEM_FAMILIES
