"""The image datasets as a problem family: every name in ``IMAGE_DATASETS``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from convergan.problems.base import DataInfo, Generate, Problem
from convergan.registry import IMAGE_DATASETS

EVALUATION_SEED = 12345  # latents and labels of every evaluation


class ImageProblem(Problem):
    """An image dataset (:mod:`convergan.data.images`), read once per problem object."""

    metric_domain = "images"
    default_metrics = ("fid",)
    default_architecture = "dcgan"
    sample_view = "image-grid"
    display_count = 64  # an 8 x 8 grid
    show_raw_samples = True
    spectrum_samples = 512

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._dataset = None

    @property
    def dataset(self):
        if self._dataset is None:
            from convergan.data.images import make_image_dataset

            data, model = self.config.data, self.config.model
            self._dataset = make_image_dataset(
                self.name, path=data.path, image_size=model.image_size
            )
        return self._dataset

    def info(self) -> DataInfo:
        return DataInfo(tuple(self.dataset.shape), getattr(self.dataset, "num_classes", None))

    def real_stream(self, global_batch: int, seed: int, num_workers: int = 0):
        from convergan.data.loader import make_dataloader

        return make_dataloader(self.dataset, global_batch, num_workers=num_workers, seed=seed)

    def real_samples(self, n: int, seed: int) -> Tensor:
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(seed))
        return torch.stack([self.dataset[int(i)][0] for i in order[:n]])

    def evaluator(self, metrics: Sequence[str], device: Any) -> ImageEvaluator | None:
        """Loads the feature extractor now, so a bad weights file fails at once rather than
        hours later; a *missing* one skips the metrics with one warning saying how to get it."""
        if not metrics:
            return None
        from convergan.metrics.features import WeightsNotFoundError, load_feature_extractor

        name = self.config.eval.features or (
            "fashion-mnist-classifier" if self.name == "fashion-mnist" else "inception"
        )
        try:
            extractor = load_feature_extractor(name).to(device).eval()
        except WeightsNotFoundError as error:
            print(f"warning: image metrics {', '.join(metrics)} skipped: {error}", file=sys.stderr)
            return None
        return ImageEvaluator(self, tuple(metrics), extractor)


class ImageEvaluator:
    """The requested metrics on ``eval.n_samples`` generated images against as many real ones,
    in the extractor's feature space (real statistics cached per dataset)."""

    def __init__(self, problem: ImageProblem, metrics: tuple[str, ...], extractor: nn.Module):
        self.problem, self.metrics, self.extractor = problem, metrics, extractor

    def __call__(self, generate: Generate, discriminator: nn.Module | None) -> dict[str, float]:
        from convergan.metrics.evaluation import evaluate_generator

        config, problem = self.problem.config, self.problem
        classes = None
        if config.model.conditional:
            classes = config.model.num_classes or problem.info().num_classes
        g = torch.Generator().manual_seed(EVALUATION_SEED)

        def sample(n: int) -> Tensor:
            latents = torch.randn(n, config.model.latent_dim, generator=g)
            labels = torch.randint(classes, (n,), generator=g) if classes else None
            return generate(latents, labels)

        key = f"{problem.name}-{config.model.image_size or 'native'}"
        results = evaluate_generator(
            sample,
            problem.dataset,
            self.extractor,
            self.metrics,
            n=config.eval.n_samples,
            dataset=key,
        )
        return {f"eval/{name}": value for name, value in results.items()}


class ImageFamily:
    """Every registered image dataset."""

    def names(self) -> tuple[str, ...]:
        return IMAGE_DATASETS.names()

    def build(self, config: Any) -> ImageProblem:
        return ImageProblem(config)


FAMILY = ImageFamily()  # registered (declared) in convergan.registry.PROBLEM_FAMILIES
