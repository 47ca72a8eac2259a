"""Image training end to end: Fashion-MNIST with FID, and bf16 autocast."""

import math

import pytest
import torch

from convergan.config import load_config
from convergan.data.image_formats import find_fashion_mnist
from convergan.runs import train
from convergan.training.metrics_log import read_metrics

needs_fashion_mnist = pytest.mark.skipif(
    find_fashion_mnist() is None, reason="dataset-fashion-mnist is not installed"
)


@needs_fashion_mnist
def test_short_fashion_mnist_run_writes_samples_and_a_finite_fid(tmp_path, monkeypatch):
    from convergan.data.image_formats import load_fashion_mnist
    from convergan.metrics.features import (
        CLASSIFIER_NAME,
        FashionMNISTClassifier,
        save_classifier,
        train_classifier,
    )

    # A quickly trained feature extractor in a private cache (CI has none).
    monkeypatch.setenv("CONVERGAN_CACHE", str(tmp_path / "cache"))
    images, labels = load_fashion_mnist(None, "train")
    torch.manual_seed(0)
    classifier = train_classifier(FashionMNISTClassifier(), images[:2000], labels[:2000].long(), 1)
    save_classifier(classifier, tmp_path / "cache" / f"{CLASSIFIER_NAME}.pt", {"test": True})

    run_dir = tmp_path / "run"
    config = load_config(
        "configs/fashion-mnist/dcgan-r1.yaml",
        [
            "train.steps=6",
            "train.sample_every=3",
            "train.eval_every=0",
            "model.width=16",
            "eval.metrics=[fid,kid,pr]",
            "eval.n_samples=200",
            "device=cpu",
            f"out_dir={run_dir}",
        ],
    )
    result = train(config, progress=False)
    assert math.isfinite(result.last_metrics["eval/fid"]) and result.last_metrics["eval/fid"] > 0
    assert 0 <= result.last_metrics["eval/precision"] <= 1
    samples = sorted(p.name for p in (run_dir / "samples").iterdir())
    assert samples == [
        "step-00000003-raw.png",
        "step-00000003.png",
        "step-00000006-raw.png",
        "step-00000006.png",
    ]
    from PIL import Image

    with Image.open(run_dir / "samples" / "step-00000006.png") as grid:
        assert grid.size[0] > 8 * 28  # an 8 x 8 grid of 28 px images with padding
    evals = [r for r in read_metrics(run_dir / "metrics.jsonl") if "eval/fid" in r]
    assert evals and evals[-1]["step"] == 6


@pytest.mark.slow  # two trainings
def test_bf16_autocast_trains_close_to_float32(tmp_path):
    def final_losses(amp: bool):
        config = load_config(
            "configs/toy2d/circle.yaml",
            [
                "train.steps=5",
                "model.width=32",
                "train.eval_every=0",
                "train.sample_every=0",
                "train.log_every=1",
                f"distributed.amp={str(amp).lower()}",
                f"out_dir={tmp_path / str(amp)}",
            ],
        )
        train(config, progress=False)
        return [
            r["discriminator/adversarial"]
            for r in read_metrics(tmp_path / str(amp) / "metrics.jsonl")
            if "discriminator/adversarial" in r
        ]

    full, mixed = final_losses(False), final_losses(True)
    assert len(full) == len(mixed) == 5
    # bf16 keeps ~3 significant digits: close, but not bit-identical.
    assert all(abs(a - b) < 2e-2 for a, b in zip(full, mixed))
    assert full != mixed
