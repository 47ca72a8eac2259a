"""The metric names a config may ask for (``eval.metrics``), registered with their domain.

A metric is a :class:`Metric`: its domain (``"2d"`` problems or ``"images"``) and, for a
user's metric, ``compute(real, generated) -> float`` on 2D samples or on image features
(extracted by the run's feature extractor). The built-in metrics are computed by
:mod:`convergan.metrics.toy2d` and :mod:`convergan.metrics.images` (their ``compute`` is
``None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from convergan.registry import METRICS

if TYPE_CHECKING:  # annotations only: listing metric names stays light
    from torch import Tensor


@dataclass(frozen=True)
class Metric:
    domain: str  # "2d" or "images"
    compute: Callable[[Tensor, Tensor], float] | None = None


for _name, _domain, _description in (
    ("w1", "2d", "exact Wasserstein-1 distance to fresh data (POT)"),
    ("modes", "2d", "modes covered and high-quality fraction (Gaussian mixtures)"),
    ("fid", "images", "Frechet distance of features (Heusel et al., 2017)"),
    ("kid", "images", "kernel inception distance, unbiased MMD (Binkowski et al., 2018)"),
    ("pr", "images", "k-NN precision and recall (Kynkaanniemi et al., 2019)"),
    ("is", "images", "Inception Score (Salimans et al., 2016)"),
):
    METRICS.register(_name, Metric(_domain), description=_description)


def metrics_for(domain: str, names: list[str] | tuple[str, ...]) -> list[str]:
    """The names among ``names`` that apply to ``domain``."""
    return [n for n in names if METRICS[n].domain == domain]
