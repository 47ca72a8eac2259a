"""Image metrics against closed forms, double loops and torchmetrics; extractors; grids."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from torch import nn

from convergan.checkpoint import CheckpointError
from convergan.cli import features as features_cli
from convergan.metrics.evaluation import evaluate_generator
from convergan.metrics.features import (
    INCEPTION_FILE,
    ClassifierFeatures,
    FashionMNISTClassifier,
    InceptionFeatures,
    WeightsNotFoundError,
    classifier_accuracy,
    load_feature_extractor,
    save_classifier,
    train_classifier,
)
from convergan.metrics.images import (
    FeatureStats,
    cached_feature_stats,
    fid,
    frechet_distance,
    inception_score,
    kid,
    precision_recall,
    stats_cache_path,
)
from convergan.plots.images import image_grid, save_image_grid


class Identity(nn.Module):
    """Features are the inputs themselves (a torchmetrics custom extractor)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class TinyExtractor(nn.Module):
    """Mean pixel per quadrant and its square: a cheap image → R^8 extractor."""

    name = "tiny"

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        q = nn.functional.adaptive_avg_pool2d(x.mean(1, keepdim=True), 2).flatten(1)
        return self.scale * torch.cat([q, q.square()], 1)


# ------------------------------------------------------------------------------------- FID


def test_frechet_distance_diagonal_closed_form():
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = (torch.randn(6, generator=g, dtype=torch.float64) for _ in range(2))
    v1, v2 = (torch.rand(6, generator=g, dtype=torch.float64) + 0.1 for _ in range(2))
    expected = float(((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * (v1 * v2).sqrt()).sum())
    got = frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_full_covariance_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    sqrt = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * sqrt)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_fid_matches_torchmetrics_and_is_zero_on_identical_sets():
    from torchmetrics.image.fid import FrechetInceptionDistance

    g = torch.Generator().manual_seed(2)
    real = torch.randn(300, 8, generator=g)
    fake = 0.7 * torch.randn(300, 8, generator=g) + 0.3
    metric = FrechetInceptionDistance(feature=Identity(8)).double()
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    assert fid(real, fake) == pytest.approx(float(metric.compute()), rel=1e-8)
    assert abs(fid(real, real)) < 1e-9
    few = torch.randn(5, 16, generator=g)  # n < d: singular covariance
    assert abs(fid(few, few)) < 1e-12 * float(torch.cov(few.double().T).trace())


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes do not match"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))


# ------------------------------------------------------------------------------------- KID


def unbiased_mmd2_double_loop(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], len(x)

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / m**2


def test_kid_matches_double_loop_on_shifted_sets():
    g = torch.Generator().manual_seed(3)
    real = torch.randn(30, 4, generator=g, dtype=torch.float64)
    fake = real[torch.randperm(30, generator=g)] + 0.8
    expected = unbiased_mmd2_double_loop(real.numpy(), fake.numpy())
    mean, std = kid(real, fake, subsets=3, subset_size=30)  # every subset is the whole set
    assert mean == pytest.approx(expected, rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_identical_sets_near_zero_and_matches_torchmetrics():
    from torchmetrics.image.kid import KernelInceptionDistance

    g = torch.Generator().manual_seed(4)
    real = torch.randn(400, 6, generator=g, dtype=torch.float64)
    other = torch.randn(400, 6, generator=g, dtype=torch.float64)
    shifted, _ = kid(real, real + 0.5, subsets=1, subset_size=400)
    same_law, _ = kid(real, other, subsets=20, subset_size=200)
    assert abs(same_law) < 0.02 * shifted
    # The very same set: (S - D)/(m(m-1)) twice minus 2S/m^2, i.e. 2(S/m - D)/(m(m-1)) = O(1/m)
    gram = (real @ real.T / 6 + 1) ** 3
    m, total, diagonal = 400, float(gram.sum()), float(gram.diagonal().sum())
    same, _ = kid(real, real, subsets=1, subset_size=400)
    assert same == pytest.approx(2 * (total / m - diagonal) / (m * (m - 1)), rel=1e-9)
    assert abs(same) < 0.05 * shifted
    metric = KernelInceptionDistance(feature=Identity(6), subsets=1, subset_size=400)
    metric.update(real, real=True)
    metric.update(real + 0.5, real=False)
    assert shifted == pytest.approx(float(metric.compute()[0]), rel=1e-10)


# -------------------------------------------------------------------------- precision/recall


def test_precision_recall_constructed_cases():
    g = torch.Generator().manual_seed(5)
    real = torch.randn(100, 3, generator=g)
    assert precision_recall(real, real[:40])[0] == 1.0
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)
    # 1-D by hand: real 0..4 have 1-NN radius 1; fake {0.5, 10} have radius 9.5 each.
    line = torch.arange(5.0).reshape(-1, 1)
    assert precision_recall(line, torch.tensor([[0.5], [10.0]]), k=1) == (0.5, 1.0)
    # fake collapsed onto one real point: precise, recall = share of reals within radius 0
    collapsed = real[:1].repeat(10, 1)
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall == pytest.approx(1 / 100)


def test_inception_score_closed_forms():
    assert inception_score(torch.zeros(50, 7), splits=5)[0] == pytest.approx(1.0)
    confident = torch.eye(10).repeat(3, 1) * 60.0  # p(y|x) one-hot, p(y) uniform
    mean, std = inception_score(confident, splits=1)
    assert mean == pytest.approx(10.0, rel=1e-6) and std == 0.0


# ------------------------------------------------------------------- stats, cache, evaluate


def test_feature_stats_round_trip(tmp_path):
    features = torch.randn(50, 4, generator=torch.Generator().manual_seed(6))
    stats = FeatureStats.from_features(features)
    assert torch.allclose(stats.cov, torch.from_numpy(np.cov(features.double().numpy().T)))
    loaded = FeatureStats.load(stats.save(tmp_path / "s.pt"))
    assert loaded.n == 50 and torch.equal(loaded.mean, stats.mean)
    assert torch.equal(loaded.cov, stats.cov) and torch.equal(loaded.features, stats.features)
    (tmp_path / "bad.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="bad.pt"):
        FeatureStats.load(tmp_path / "bad.pt")


def test_stats_cache_hits_and_key_changes_with_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERGAN_CACHE", str(tmp_path))
    images = torch.rand(64, 1, 8, 8) * 2 - 1
    extractor = TinyExtractor()
    first = cached_feature_stats("toy", images, extractor, n=64, batch_size=16)
    calls = extractor.calls
    second = cached_feature_stats("toy", images, extractor, n=64, batch_size=16)
    assert extractor.calls == calls and torch.equal(first.cov, second.cov)
    path = stats_cache_path("toy", extractor, 64)
    assert path.is_file() and path.parent.parent == tmp_path
    assert stats_cache_path("toy", extractor, 32) != path
    assert stats_cache_path("other", extractor, 64) != path
    path.write_bytes(b"damaged")  # a corrupt entry is recomputed and replaced
    assert torch.equal(cached_feature_stats("toy", images, extractor, n=64).cov, first.cov)
    assert extractor.calls > calls and FeatureStats.load(path).n == 64
    with torch.no_grad():
        extractor.scale.fill_(2.0)
    assert stats_cache_path("toy", extractor, 64) != path


def test_evaluate_generator_orders_good_and_bad_generators():
    g = torch.Generator().manual_seed(7)
    real = torch.rand(400, 1, 8, 8, generator=g) * 2 - 1

    def good(batch: int) -> torch.Tensor:
        return torch.rand(batch, 1, 8, 8, generator=g) * 2 - 1

    def bad(batch: int) -> torch.Tensor:
        return torch.rand(batch, 1, 8, 8, generator=g) * 0.5

    options = {"n": 400, "batch_size": 100, "kid_subset_size": 100, "kid_subsets": 10}
    ours = evaluate_generator(good, real, TinyExtractor(), **options)
    theirs = evaluate_generator(bad, real, TinyExtractor(), **options)
    assert set(ours) == {"fid", "kid_mean", "kid_std", "precision", "recall"}
    assert ours["fid"] < 0.1 * theirs["fid"] and ours["kid_mean"] < theirs["kid_mean"]
    assert ours["recall"] > 0.8 > theirs["recall"]
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_generator(good, real, TinyExtractor(), metrics=("fidd",))
    with pytest.raises(ValueError, match="logits"):
        evaluate_generator(good, real, TinyExtractor(), metrics=("is",))


# ------------------------------------------------------------------------------ grids


def test_image_grid_shape_values_and_png(tmp_path):
    images = torch.full((5, 1, 4, 4), -1.0)
    images[1] = 1.0
    grid = image_grid(images, nrow=3, padding=1, pad_value=0.0)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 1) and grid.dtype == np.uint8
    assert (grid[1:5, 1:5] == 0).all() and (grid[1:5, 6:10] == 255).all()
    assert grid[0, 0, 0] == 128 and (grid[6:10, 11:15] == 128).all()  # padding, empty cell
    rgb = image_grid(torch.zeros(4, 3, 2, 2), padding=0)
    assert rgb.shape == (4, 4, 3) and (rgb == 128).all()
    path = save_image_grid(tmp_path / "sub" / "g.png", images, nrow=3, padding=1, scale=2)
    with Image.open(path) as img:
        assert img.size == (32, 22) and img.mode == "L"
    with pytest.raises(ValueError, match="n×C×H×W"):
        image_grid(torch.zeros(2, 2, 4, 4))


# --------------------------------------------------------------------------- extractors


def test_missing_weights_give_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERGAN_CACHE", str(tmp_path))
    monkeypatch.delenv("CONVERGAN_INCEPTION", raising=False)
    with pytest.raises(WeightsNotFoundError) as error:
        load_feature_extractor("inception")
    message = str(error.value)
    assert INCEPTION_FILE in message and "https://" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match="convergan features train fashion-mnist"):
        load_feature_extractor("fashion-mnist-classifier")
    with pytest.raises(WeightsNotFoundError, match=INCEPTION_FILE):
        InceptionFeatures(tmp_path / INCEPTION_FILE)


def test_classifier_shapes_and_save_load(tmp_path):
    model = FashionMNISTClassifier()
    assert 100_000 <= sum(p.numel() for p in model.parameters()) <= 300_000
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert model(x).shape == (3, 10) and model.features(x).shape == (3, 256)
    path = save_classifier(model, tmp_path / "c.pt", {"test_accuracy": 0.5})
    extractor = load_feature_extractor(path)
    assert isinstance(extractor, ClassifierFeatures) and extractor.num_features == 256
    assert torch.allclose(extractor(x), model.features(x))
    assert extractor(torch.rand(2, 3, 32, 32)).shape == (2, 256)  # RGB, other size
    assert torch.allclose(extractor.logits(x), model(x))
    assert torch.load(path, weights_only=True)["metadata"]["kind"] == "fashion-mnist-classifier"


@pytest.mark.slow  # trains the classifier
def test_classifier_learns_synthetic_classes():
    """Class c is a bright 7×6 patch at one of 10 grid positions, under pixel noise."""
    g = torch.Generator().manual_seed(8)
    labels = torch.randint(0, 10, (400,), generator=g)
    images = torch.full((400, 1, 28, 28), -1.0)
    for i, c in enumerate(labels.tolist()):
        top, left = 2 + 9 * (c // 4), 2 + 6 * (c % 4)
        images[i, :, top : top + 7, left : left + 6] = 1.0
    images = (images + 0.5 * torch.randn(images.shape, generator=g)).clamp(-1, 1)
    torch.manual_seed(0)
    model = FashionMNISTClassifier()
    before = classifier_accuracy(model, images[300:], labels[300:])
    train_classifier(model, images[:300], labels[:300], epochs=2, batch_size=30, lr=3e-3)
    after = classifier_accuracy(model, images[300:], labels[300:])
    assert before < 0.3 and after > 0.9


def test_classifier_short_run_on_fashion_mnist():
    from convergan.data.image_formats import DatasetNotFoundError, load_fashion_mnist

    try:
        train_x, train_y = load_fashion_mnist(None, "train")
        test_x, test_y = load_fashion_mnist(None, "test")
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    torch.manual_seed(0)
    model = FashionMNISTClassifier()
    # 125 Adam steps on 4000 images: 74.5% measured; the full 3-epoch run is in the docs.
    train_classifier(model, train_x[:4000], train_y[:4000].long(), epochs=1, batch_size=32, lr=3e-3)
    assert classifier_accuracy(model, test_x[:2000], test_y[:2000].long()) > 0.7


def test_cli_registers_and_rejects_bad_epochs():
    parser = argparse.ArgumentParser()
    features_cli.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):  # refused while parsing, before any work
        parser.parse_args(["features", "train", "fashion-mnist", "--epochs", "0"])
    args = parser.parse_args(["features", "train", "fashion-mnist"])
    with pytest.raises(SystemExit):
        parser.parse_args(["features", "train", "cifar10"])
    assert math.isfinite(args.seed)
