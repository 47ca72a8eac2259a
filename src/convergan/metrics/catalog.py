"""The metrics a config may ask for (``eval.metrics``): each registered with its domain and the
function that computes it. Evaluation loops over the requested names and calls each one's
``compute``; a user's metric registered from a plugin file is computed exactly like these.

A metric is a :class:`Metric`:

* ``domain``: which problems it applies to: ``"2d"`` (point samples) or ``"images"``
  (features of images, from the run's feature extractor), matching ``Problem.metric_domain``;
* ``compute(inputs) -> float | dict[str, float]``: a float is logged as ``eval/<name>``, a
  dict as ``eval/<key>`` for each key. ``inputs`` is a :class:`MetricInputs`;
* ``min_samples`` and ``pairwise``: what sample counts it can take, checked before any work.

Example plugin (a file named in ``plugins: [...]``)::

    from convergan.metrics.catalog import Metric
    from convergan.registry import METRICS

    def mean_distance(inputs):
        return float((inputs.real.mean(0) - inputs.fake.mean(0)).norm())

    METRICS.register("mean-distance", Metric("2d", mean_distance), description="...")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from convergan.options import ConfigError
from convergan.registry import METRICS


@dataclass(frozen=True)
class MetricInputs:
    """What a metric sees.

    ``real``/``fake``: ``(n, 2)`` point tensors for 2D problems; for images ``real`` is the
    real features' :class:`~convergan.metrics.images.FeatureStats` (``.features`` holds the raw
    features when they fit) and ``fake`` the generated features ``(n, d)``. ``fake_logits``:
    the extractor's class logits of the generated images when it has them (Inception Score).
    ``source``: the data object (a 2D problem exposes ``modes``/``mode_std`` for mixtures).
    ``options``: metric settings (``kid_subsets``, ``kid_subset_size``, ``pr_k``, ``is_splits``).
    """

    real: Any
    fake: Any
    fake_logits: Any = None
    source: Any = None
    options: dict[str, Any] = field(default_factory=dict)  # e.g. kid_subsets, pr_k, is_splits


@dataclass(frozen=True)
class Metric:
    domain: str  # "2d" or "images"
    compute: Callable[[MetricInputs], float | dict[str, float]]
    needs_logits: bool = False  # ask the extractor for class logits too
    # Whether the metric has anything to compute on a problem's data object (``source``), and
    # what it needs, for the one-line refusal when it has not (``None``: any data of domain).
    applies_to: Callable[[Any], bool] | None = None
    needs: str = ""
    min_samples: int = 1  # fewer generated samples than this give no value (a covariance: 2)
    pairwise: bool = False  # holds an n x n float64 matrix (an exact transport cost)


def check_sample_count(names: Sequence[str], n: int, key: str) -> None:
    """One line (``key: fid needs at least 2 samples, got 1``) when ``n`` samples are too few
    for one of the metrics ``names``."""
    for name in names:
        needed = METRICS[name].min_samples
        if n < needed:
            raise ConfigError(f"{key}: {name} needs at least {needed} samples, got {n}")


def pairwise_bytes(names: Sequence[str], n: int) -> int:
    """Memory the metrics ``names`` hold beyond the samples: n x n float64 for a pairwise one."""
    return 8 * n * n if any(METRICS[name].pairwise for name in names) else 0


def metrics_for(domain: str, names: Sequence[str]) -> list[str]:
    """The names among ``names`` that apply to ``domain``."""
    return [n for n in names if METRICS[n].domain == domain]


def compute_metrics(names: Sequence[str], inputs: MetricInputs) -> dict[str, float]:
    """``{key: value}`` of every metric in ``names`` (dict results are merged, a float is
    keyed by the metric's name), in the order given."""
    results: dict[str, float] = {}
    for name in names:
        value = METRICS[name].compute(inputs)
        if isinstance(value, dict):
            results.update({str(k): float(v) for k, v in value.items()})
        else:
            results[name] = float(value)
    return results


# --------------------------------------------------------------------------- built-ins
# The maths lives in convergan.metrics.point_clouds and convergan.metrics.images; these
# adapters import them on first use, so naming a metric does not import POT or torchmetrics.


def _w1(inputs: MetricInputs) -> float:
    from convergan.metrics.point_clouds import wasserstein1

    n = min(len(inputs.real), len(inputs.fake))
    return wasserstein1(inputs.real, inputs.fake, max_samples=n, seed=12345)


def _modes(inputs: MetricInputs) -> dict[str, float]:
    from convergan.metrics.point_clouds import mode_coverage

    stats = mode_coverage(inputs.fake, inputs.source.modes, inputs.source.mode_std)
    return {
        "modes_covered": float(stats.modes_covered),
        "high_quality_fraction": stats.high_quality_fraction,
    }


def _is_mixture(source: Any) -> bool:
    return hasattr(source, "modes") and hasattr(source, "mode_std")


def _fid(inputs: MetricInputs) -> float:
    from convergan.metrics.images import fid

    return fid(inputs.real, inputs.fake)


def _kid(inputs: MetricInputs) -> dict[str, float]:
    from convergan.metrics.images import kid

    subsets = inputs.options.get("kid_subsets", 100)
    mean, std = kid(inputs.real, inputs.fake, subsets, inputs.options.get("kid_subset_size", 1000))
    return {"kid_mean": mean, "kid_std": std}


def _pr(inputs: MetricInputs) -> dict[str, float]:
    from convergan.metrics.images import precision_recall

    precision, recall = precision_recall(inputs.real, inputs.fake, inputs.options.get("pr_k", 3))
    return {"precision": precision, "recall": recall}


def _inception_score(inputs: MetricInputs) -> dict[str, float]:
    from convergan.metrics.images import inception_score

    if inputs.fake_logits is None:
        raise ValueError("the Inception Score needs an extractor with class logits")
    splits = min(inputs.options.get("is_splits", 10), len(inputs.fake_logits))
    mean, std = inception_score(inputs.fake_logits, splits)
    return {"is_mean": mean, "is_std": std}


for _name, _metric, _description in (
    ("w1", Metric("2d", _w1, pairwise=True), "exact Wasserstein-1 distance to fresh data (POT)"),
    (
        "modes",
        Metric("2d", _modes, applies_to=_is_mixture, needs="a Gaussian mixture (ring8, grid25)"),
        "modes covered and high-quality fraction (Gaussian mixtures)",
    ),
    (
        "fid",
        Metric("images", _fid, min_samples=2),
        "Frechet distance of features (Heusel et al., 2017)",
    ),
    (
        "kid",
        Metric("images", _kid, min_samples=2),
        "kernel inception distance, unbiased MMD (Binkowski et al., 2018)",
    ),
    (
        "pr",
        Metric("images", _pr, min_samples=4),
        "k-NN precision and recall (Kynkaanniemi et al., 2019)",
    ),
    (
        "is",
        Metric("images", _inception_score, needs_logits=True),
        "Inception Score (Salimans et al., 2016)",
    ),
):
    METRICS.register(_name, _metric, description=_description)
