"""Evaluate a generator: gather what the requested metrics need, then call each one.

The features of images are extracted once and shared by every image metric (and the real
statistics are cached per dataset, extractor and ``n``); each metric's own computation is its
registered ``compute`` (:mod:`convergan.metrics.catalog`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from convergan.metrics.catalog import MetricInputs, compute_metrics, metrics_for
from convergan.metrics.images import (
    FeatureStats,
    ImageSource,
    cached_feature_stats,
    extract_features,
)
from convergan.registry import METRICS


def evaluate_generator(
    sample_fn: Callable[[int], Tensor],
    real: ImageSource | FeatureStats,
    extractor: nn.Module,
    metrics: Sequence[str] = ("fid", "kid", "pr"),
    n: int = 10_000,
    *,
    batch_size: int = 250,
    dataset: str | None = None,
    cache_dir: str | Path | None = None,
    **options: Any,
) -> dict[str, float]:
    """Compare ``n`` images from ``sample_fn(batch) -> images in [-1, 1]`` with ``n`` real ones.

    ``real`` is an image source (see :func:`~convergan.metrics.images.extract_features`) or
    precomputed :class:`FeatureStats`; with ``dataset`` set, real statistics go through the
    cache. ``options`` reach the metrics (``kid_subsets``, ``kid_subset_size``, ``pr_k``,
    ``is_splits``). Returns the keys of the requested metrics, e.g. ``fid``, ``kid_mean``,
    ``kid_std``, ``precision``, ``recall``, ``is_mean``, ``is_std``.
    """
    image_metrics = metrics_for("images", METRICS.names())
    unknown = [m for m in metrics if m not in image_metrics]
    if unknown or not metrics:
        raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(image_metrics)}")
    logits = any(METRICS[m].needs_logits for m in metrics)
    if logits and not hasattr(extractor, "logits"):
        raise ValueError(f"the Inception Score needs logits; {type(extractor).__name__} has none")
    real_stats = real
    if dataset is not None and not isinstance(real, FeatureStats):
        real_stats = cached_feature_stats(
            dataset, real, extractor, n, cache_dir=cache_dir, batch_size=batch_size
        )
    elif not isinstance(real, FeatureStats):
        real_stats = FeatureStats.from_features(
            extract_features(extractor, real, n, batch_size=batch_size)[0]
        )
    fake, fake_logits = extract_features(
        extractor, sample_fn, n, batch_size=batch_size, logits=logits
    )
    inputs = MetricInputs(real_stats, fake, fake_logits, options=options)
    return compute_metrics(metrics, inputs)
