"""Image metrics on the features of a pluggable extractor: FID, KID, precision/recall, IS.

An *extractor* is any ``nn.Module`` mapping images in ``[-1, 1]`` (``n×C×H×W``) to features
``(n, d)`` (see :mod:`convergan.metrics.features`); with a ``logits`` method it also gives
the Inception Score. All statistics are computed in float64.

* **FID** (Heusel et al., 2017): the Fréchet distance between Gaussians fitted to the real
  and generated features, ``‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2})``.
* **KID** (Bińkowski et al., 2018): the unbiased MMD² with the cubic kernel
  ``k(x, y) = (xᵀy/d + 1)³``, averaged over random subsets (torchmetrics' ``poly_mmd``).
* **Precision / recall** (Kynkäänniemi et al., 2019): the real manifold is the union of balls
  around each real feature with radius its distance to its k-th nearest real neighbour;
  precision is the fraction of generated features inside it, recall the converse.
* **Inception Score** (Salimans et al., 2016): ``exp E_x KL(p(y|x) ‖ p(y))``.

Real statistics are cached (:func:`cached_feature_stats`) in :func:`default_cache_dir`
(``$CONVERGAN_CACHE``, else ``$XDG_CACHE_HOME/convergan``, else ``~/.cache/convergan``) under
a key made of the dataset, the extractor's name, ``n`` and a hash of the extractor's weights,
so retrained weights never reuse stale statistics.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.image.kid import poly_mmd

from convergan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = [
    "FeatureStats", "cached_feature_stats", "default_cache_dir",
    "extract_features", "fid", "frechet_distance", "inception_score", "kid", "precision_recall",
    "weights_digest",
]  # fmt: skip

RAW_FEATURES_LIMIT = 2**25  # raw features kept up to this many numbers: 10k × 2048 fits
ImageSource = Tensor | Dataset | Iterable | Callable[[int], Tensor]


def default_cache_dir() -> Path:
    """``$CONVERGAN_CACHE`` if set, else ``$XDG_CACHE_HOME/convergan``, else
    ``~/.cache/convergan`` (the XDG base-directory default)."""
    if os.environ.get("CONVERGAN_CACHE"):
        return Path(os.environ["CONVERGAN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "convergan"


def weights_digest(module: nn.Module) -> str:
    """SHA-256 (16 hex digits) of every parameter and buffer: names, dtypes, shapes, bytes."""
    digest = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}:{tensor.dtype}:{tuple(value.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class FeatureStats:
    """Mean ``(d,)`` and covariance ``(d, d)`` (float64, unbiased) of ``n`` features, and the
    features themselves (float32) when ``n·d`` is small enough for KID and precision/recall."""

    mean: Tensor
    cov: Tensor
    n: int
    features: Tensor | None = None

    @classmethod
    def from_features(cls, features: Tensor, keep: int = RAW_FEATURES_LIMIT) -> FeatureStats:
        f = _as_features("features", features)
        if len(f) < 2:
            raise ValueError(f"statistics need at least 2 feature vectors, got {len(f)}")
        raw = f.float().clone() if f.numel() <= keep else None
        return cls(f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1]), len(f), raw)

    def save(self, path: str | Path) -> Path:
        """Write atomically as a weights-only ``.pt`` (tensors and an int)."""
        state = {"mean": self.mean, "cov": self.cov, "n": self.n, "features": self.features}
        return save_checkpoint(path, state)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        """Read a file written by :meth:`save`; a bad file raises ``CheckpointError``."""
        state = load_checkpoint(path)
        try:
            stats = cls(state["mean"], state["cov"], int(state["n"]), state.get("features"))
            if stats.cov.shape != (len(stats.mean), len(stats.mean)):
                raise ValueError("covariance and mean shapes differ")
        except (AttributeError, KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path} is not a feature-statistics file") from None
        return stats


def _as_features(name: str, x: Tensor | np.ndarray) -> Tensor:
    f = torch.as_tensor(x).detach().cpu().to(torch.float64)
    if f.ndim != 2:
        raise ValueError(f"{name} must be a (n, d) matrix, got shape {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name} contain NaN or Inf")
    return f


def _stats(name: str, x: Tensor | np.ndarray | FeatureStats) -> FeatureStats:
    return x if isinstance(x, FeatureStats) else FeatureStats.from_features(_as_features(name, x))


def _raw(name: str, x: Tensor | np.ndarray | FeatureStats) -> Tensor:
    if isinstance(x, FeatureStats):
        if x.features is None:
            raise ValueError(f"{name} statistics hold no raw features (n·d above the limit)")
        return x.features.to(torch.float64)
    return _as_features(name, x)


# ----------------------------------------------------------------------------------- FID


def frechet_distance(
    mu1: Tensor | np.ndarray, sigma1: Tensor | np.ndarray,
    mu2: Tensor | np.ndarray, sigma2: Tensor | np.ndarray,
) -> float:  # fmt: skip
    r"""Squared Fréchet (2-Wasserstein) distance between ``N(μ₁, Σ₁)`` and ``N(μ₂, Σ₂)``:

    .. math:: d^2 = \|μ_1 - μ_2\|^2 + \operatorname{Tr}(Σ_1 + Σ_2 - 2 (Σ_1 Σ_2)^{1/2}).

    Numerics: ``Σ₁Σ₂`` has the eigenvalues of the PSD matrix ``M = Σ₁^{1/2} Σ₂ Σ₁^{1/2}``
    (``AB`` and ``BA`` share their spectrum), so ``Tr (Σ₁Σ₂)^{1/2} = Σᵢ √λᵢ(M)``, computed with
    two symmetric eigendecompositions in float64 (``eigh`` of Σ₁, ``eigvalsh`` of M written in
    Σ₁'s eigenbasis); eigenvalues below ``d·ε·λ_max`` (rounding noise, e.g. the null space of a
    singular covariance) count as 0 (its cost against the other routes: "Fréchet distance at
    d = 2048" in docs/results/benchmarks.md). Unlike
    ``scipy.linalg.sqrtm`` on the non-symmetric ``Σ₁Σ₂`` (pytorch-fid, which then needs an
    ``εI`` retry and drops imaginary parts), this stays real and exact for singular
    covariances (``n < d``); it agrees with torchmetrics' general ``eigvals`` to ~1e-9.
    """
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64).reshape(-1) for m in (mu1, mu2))
    s1, s2 = (torch.as_tensor(s, dtype=torch.float64) for s in (sigma1, sigma2))
    if s1.shape != (len(mu1), len(mu1)) or s2.shape != s1.shape or mu2.shape != mu1.shape:
        raise ValueError(
            f"shapes do not match: mu {tuple(mu1.shape)}, {tuple(mu2.shape)}; "
            f"sigma {tuple(s1.shape)}, {tuple(s2.shape)}"
        )
    lam, vectors = torch.linalg.eigh((s1 + s1.T) / 2)  # Σ₁ = V Λ Vᵀ, W = V Λ^{1/2}
    w = vectors * lam.clamp(min=0).sqrt()
    middle = w.T @ s2 @ w  # = Vᵀ (Σ₁^{1/2} Σ₂ Σ₁^{1/2}) V: the same eigenvalues
    values = torch.linalg.eigvalsh((middle + middle.T) / 2)
    # Rounding leaves |λ| ~ ε‖M‖ in null directions, and √ would inflate that to √ε: zero it.
    noise = len(values) * torch.finfo(torch.float64).eps * values.abs().max().clamp(min=1e-300)
    trace_sqrt = torch.where(values > noise, values, 0.0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * trace_sqrt
    return float(value)


def fid(real: Tensor | FeatureStats, fake: Tensor | FeatureStats) -> float:
    """FID between two feature sets ``(n, d)`` or their :class:`FeatureStats`."""
    a, b = _stats("real features", real), _stats("fake features", fake)
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)


# ----------------------------------------------------------------------------------- KID


def kid(
    real: Tensor | FeatureStats,
    fake: Tensor | FeatureStats,
    subsets: int = 100,
    subset_size: int = 1000,
    *,
    seed: int = 0,
) -> tuple[float, float]:
    r"""Kernel Inception Distance: mean and (population) std over ``subsets`` draws of the
    unbiased MMD² between ``m`` real and ``m`` fake features (``m = min(subset_size, n_real,
    n_fake)``, drawn without replacement) with ``k(x, y) = (xᵀy/d + 1)³``:

    .. math:: \widehat{MMD}^2 = \frac{1}{m(m-1)} \sum_{i \ne j} [k(x_i,x_j) + k(y_i,y_j)]
              - \frac{2}{m^2} \sum_{i,j} k(x_i, y_j).

    The estimator is unbiased, so it can be slightly negative for matching distributions.
    """
    x, y = _raw("real features", real), _raw("fake features", fake)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dimensions differ: {x.shape[1]} and {y.shape[1]}")
    m = min(subset_size, len(x), len(y))
    if m < 2 or subsets < 1:
        raise ValueError(f"KID needs subset_size >= 2 and subsets >= 1, got {m} and {subsets}")
    generator = torch.Generator().manual_seed(seed)
    scores = torch.stack([
        poly_mmd(x[torch.randperm(len(x), generator=generator)[:m]],
                 y[torch.randperm(len(y), generator=generator)[:m]])
        for _ in range(subsets)
    ])  # fmt: skip
    return float(scores.mean()), float(scores.std(unbiased=False))


# ------------------------------------------------------------------------ precision/recall


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    return (a.square().sum(1, keepdim=True) - 2 * a @ b.T + b.square().sum(1)).clamp(min=0)


def _knn_radii(x: Tensor, k: int, chunk: int) -> Tensor:
    """Squared distance from each row to its k-th nearest other row."""
    return torch.cat([
        _squared_distances(rows, x).kthvalue(k + 1, dim=1).values for rows in x.split(chunk)
    ])  # fmt: skip


def precision_recall(
    real: Tensor | FeatureStats, fake: Tensor | FeatureStats, k: int = 3, *, chunk: int = 1024
) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019).

    With ``r_k(x)`` the distance from ``x`` to its k-th nearest neighbour in its own set
    (itself excluded), ``precision = mean_{y∈fake} 1[∃x∈real: ‖y−x‖ ≤ r_k(x)]`` and
    ``recall`` the same with the roles swapped. Distances are computed in float64 by blocks of
    ``chunk`` rows, so memory is ``O(chunk·n)``.
    """
    x, y = _raw("real features", real), _raw("fake features", fake)
    if min(len(x), len(y)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    real_radii, fake_radii = _knn_radii(x, k, chunk), _knn_radii(y, k, chunk)
    fake_inside, real_inside = torch.zeros(len(y), dtype=torch.bool), []
    for rows, radii in zip(x.split(chunk), real_radii.split(chunk)):  # one pass over real×fake
        distances = _squared_distances(rows, y)
        fake_inside |= (distances <= radii[:, None]).any(0)
        real_inside.append((distances <= fake_radii).any(1))
    return float(fake_inside.double().mean()), float(torch.cat(real_inside).double().mean())


# -------------------------------------------------------------------------- Inception Score


def inception_score(logits: Tensor, splits: int = 10) -> tuple[float, float]:
    r"""Inception Score ``exp(E_x KL(p(y|x) ‖ p(y)))`` with ``p(y)`` the mean of ``p(y|x)``
    within each of ``splits`` consecutive splits; returns mean and std over the splits.
    It lies in ``[1, number of classes]``.
    """
    log_p = torch.as_tensor(logits).detach().to(torch.float64).log_softmax(1)
    if not 1 <= splits <= len(log_p):
        raise ValueError(
            f"splits must be in [1, {len(log_p)}] (the number of logits), got {splits}"
        )
    scores = []
    for part in log_p.tensor_split(splits):
        log_marginal = part.exp().mean(0).log()
        scores.append((part.exp() * (part - log_marginal)).sum(1).mean().exp())
    values = torch.stack(scores)
    return float(values.mean()), float(values.std(unbiased=False))


# -------------------------------------------------------------------- features of images


def _batches(source: ImageSource, n: int, batch_size: int) -> Iterable[Tensor]:
    if callable(source) and not isinstance(source, (Tensor, Dataset, nn.Module)):
        while n > 0:
            yield source(min(batch_size, n))
            n -= batch_size
        return
    if isinstance(source, Tensor):
        yield from source[:n].split(batch_size)
        return
    if isinstance(source, Dataset):
        source = DataLoader(source, batch_size=batch_size, shuffle=False)
    for batch in source:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


@torch.no_grad()
def extract_features(
    extractor: nn.Module,
    source: ImageSource,
    n: int,
    *,
    batch_size: int = 250,
    logits: bool = False,
    device: str | torch.device | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Features (and logits when asked) of the first ``n`` images of ``source``: a tensor, a
    ``Dataset`` of ``(image, label)``, an iterable of batches, or ``sample(batch) -> images``.
    A finite source with fewer images gives fewer rows. Returns float32 CPU tensors."""
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}")
    device = device or next((p.device for p in extractor.parameters()), "cpu")
    head = getattr(extractor, "logits_from_features", None)  # saves a second forward pass
    extractor.eval()
    features, outputs, count = [], [], 0
    for images in _batches(source, n, batch_size):
        images = images[: n - count].to(device, torch.float32)
        features.append(extractor(images))
        if logits:
            outputs.append((head(features[-1]) if head else extractor.logits(images)).float().cpu())
        features[-1] = features[-1].float().cpu()
        count += len(images)
        if count >= n:
            break
    if not features:
        raise ValueError("the image source yielded no images")
    return torch.cat(features), torch.cat(outputs) if logits else None


def stats_cache_path(
    dataset: str, extractor: nn.Module, n: int, cache_dir: str | Path | None = None
) -> Path:
    """``<cache>/stats/<dataset>-<extractor name>-n<n>-<weights digest>.pt``."""
    name = getattr(extractor, "name", type(extractor).__name__)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dataset}-{name}-n{n}-{weights_digest(extractor)}")
    return Path(cache_dir or default_cache_dir()) / "stats" / f"{stem}.pt"


def cached_feature_stats(
    dataset: str,
    source: ImageSource,
    extractor: nn.Module,
    n: int,
    *,
    cache_dir: str | Path | None = None,
    batch_size: int = 250,
    refresh: bool = False,
) -> FeatureStats:
    """:class:`FeatureStats` of the first ``n`` images of ``source``, read from the cache
    when present and readable (see :func:`stats_cache_path`), else computed and written there."""
    path = stats_cache_path(dataset, extractor, n, cache_dir)
    if path.is_file() and not refresh:
        try:
            return FeatureStats.load(path)
        except CheckpointError:  # a damaged cache entry is recomputed and replaced
            pass
    stats = FeatureStats.from_features(
        extract_features(extractor, source, n, batch_size=batch_size)[0]
    )
    stats.save(path)
    return stats
