"""torch-fidelity's Inception-v3 as our `inception` extractor, on weights made here.

No real Inception weights can be downloaded on this machine, so every test builds a random
state dict in torch-fidelity's own layout (its FeatureExtractorInceptionV3 with the weight load
skipped), saves it as torch-fidelity's file would be, and checks our wiring against
torch-fidelity's and torchmetrics' own code run on the same file.
"""

from __future__ import annotations

import importlib
import pickle

import pytest
import torch

from convergan.checkpoint import CheckpointError
from convergan.metrics.features import (
    INCEPTION_FILE,
    InceptionFeatures,
    WeightsNotFoundError,
    load_feature_extractor,
)
from convergan.metrics.fidelity import inception_module, torchvision_available
from convergan.metrics.images import extract_features, fid

INCEPTION = inception_module()
N_IMAGES = 3  # per set; one Inception forward at 299×299 is 0.3-1.3 s on one CPU core


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[torch.nn.Module, object]:
    """A random torch-fidelity Inception-v3 and the path of its saved state dict."""
    folder = tmp_path_factory.mktemp("inception")
    empty = folder / "empty.pth"
    torch.save({}, empty)
    cls = INCEPTION.FeatureExtractorInceptionV3
    original = cls.load_state_dict
    cls.load_state_dict = lambda self, state, strict=True: None  # keep the random init
    try:
        torch.manual_seed(0)
        net = cls("inception-v3-compat", ["2048", "logits_unbiased"], str(empty))
    finally:
        cls.load_state_dict = original
    generator = torch.Generator().manual_seed(1)
    for module in net.modules():  # non-trivial batch-norm statistics and scales
        if isinstance(module, torch.nn.BatchNorm2d):
            c = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(c, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(c, generator=generator))
            module.weight.data.copy_(0.8 + 0.4 * torch.rand(c, generator=generator))
            module.bias.data.copy_(0.1 * torch.randn(c, generator=generator))
    net.fc.bias.data.normal_(generator=generator)
    path = folder / INCEPTION_FILE
    torch.save(net.state_dict(), path)
    return net, path


def uint8_images(seed: int, n: int = N_IMAGES, channels: int = 3, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``u`` to ``u/127.5 − 1``: our extractor's quantisation must give ``u`` back."""
    return images.float() / 127.5 - 1


def test_missing_weights_name_the_file_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVERGAN_CACHE", str(tmp_path))
    monkeypatch.delenv("CONVERGAN_INCEPTION", raising=False)
    with pytest.raises(WeightsNotFoundError) as error:
        load_feature_extractor("inception")
    message = str(error.value)
    assert str(tmp_path / INCEPTION_FILE) in message and "\n" not in message
    assert "https://github.com/toshas/torch-fidelity/releases/" in message


@pytest.mark.slow  # Inception-v3 forwards at 299x299
def test_features_and_logits_equal_torch_fidelity_on_the_same_file(weights, monkeypatch):
    net, path = weights
    monkeypatch.setenv("CONVERGAN_INCEPTION", str(path))
    extractor = load_feature_extractor("inception")
    assert isinstance(extractor, InceptionFeatures) and extractor.num_features == 2048
    images = uint8_images(3, n=2)
    reference = INCEPTION.FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    )
    expected_features, expected_logits = reference(images)
    features = extractor(unit_range(images))
    assert features.shape == (2, 2048) and features.std() > 0
    torch.testing.assert_close(features, expected_features, rtol=0, atol=0)
    torch.testing.assert_close(extractor.logits(unit_range(images[:1])), expected_logits[:1])
    # IS logits are pool3 times the softmax weights without bias (torch-fidelity's default).
    torch.testing.assert_close(extractor.logits_from_features(features), expected_logits)
    by_hand = expected_features @ net.fc.weight.T
    torch.testing.assert_close(expected_logits, by_hand)
    # Grayscale is repeated to RGB; values outside [-1, 1] saturate at 0 and 255.
    gray = uint8_images(4, n=1, channels=1)
    rgb = gray.expand(-1, 3, -1, -1)
    torch.testing.assert_close(extractor(unit_range(gray)), reference(rgb)[0], rtol=0, atol=0)
    loud = torch.full((1, 3, 16, 16), 3.0)
    full = torch.full((1, 3, 16, 16), 255, dtype=torch.uint8)
    torch.testing.assert_close(extractor(loud), reference(full)[0], rtol=0, atol=0)


@pytest.mark.slow  # Inception-v3 forwards at 299x299
def test_files_in_other_layouts_and_pickled_code_are_refused(weights, tmp_path):
    _, path = weights
    state = torch.load(path, weights_only=True)
    variant = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    variant["AuxLogits.fc.weight"] = torch.zeros(1000, 768)  # a torchvision-style extra head
    torch.save(variant, tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    x = unit_range(uint8_images(5, n=1))
    loaded = load_feature_extractor(tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    torch.testing.assert_close(loaded(x), InceptionFeatures(path)(x), rtol=0, atol=0)

    del state["Mixed_7c.branch_pool.conv.weight"]
    torch.save(state, tmp_path / "weights-inception-broken.pth")
    with pytest.raises(CheckpointError, match="not an FID Inception-v3 state dict"):
        load_feature_extractor(tmp_path / "weights-inception-broken.pth")

    class Payload:  # unpickling it would run code: weights_only must refuse it
        def __reduce__(self):
            return (print, ("pickled code ran",))

    (tmp_path / "weights-inception-evil.pth").write_bytes(
        pickle.dumps({"x": Payload()}, protocol=2)
    )
    with pytest.raises(CheckpointError, match="cannot load Inception weights"):
        InceptionFeatures(tmp_path / "weights-inception-evil.pth")


@pytest.mark.slow  # two Fréchet distances at d = 2048 (torchmetrics' eigvals: 6 s on one core)
def test_fid_equals_torchmetrics_fid_with_its_torch_fidelity_network(weights):
    """End to end: torchmetrics' FID builds torch-fidelity's Inception from the same file,
    takes uint8 images and applies its own Fréchet routine; ours takes [-1, 1] images."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _, path = weights
    real, fake = uint8_images(6), uint8_images(7)
    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(path))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    extractor = InceptionFeatures(path)
    ours = fid(*(extract_features(extractor, unit_range(x), N_IMAGES)[0] for x in (real, fake)))
    # n < 2048: both covariances are singular. torchmetrics takes the real part of complex
    # square roots of the noise eigenvalues of Σ₁Σ₂; ours zeroes them (metrics/images.py).
    assert ours > 0 and ours == pytest.approx(float(metric.compute()), rel=1e-6)


@pytest.mark.skipif(
    not torchvision_available(), reason="torch_fidelity.metric_fid needs torchvision"
)
def test_fid_equals_torch_fidelitys_own_routine():
    metric_fid = importlib.import_module("torch_fidelity.metric_fid")
    g = torch.Generator().manual_seed(9)
    real = torch.randn(600, 64, generator=g, dtype=torch.float64)
    fake = 0.8 * torch.randn(600, 64, generator=g, dtype=torch.float64) + 0.2
    stats = [metric_fid.fid_features_to_statistics(x) for x in (real, fake)]
    expected = metric_fid.fid_statistics_to_metric(*stats, verbose=False)[
        "frechet_inception_distance"
    ]
    assert fid(real, fake) == pytest.approx(expected, rel=1e-6)
