"""Feature extractors for image metrics: a Fashion-MNIST classifier and FID Inception-v3.

An extractor maps images ``n×C×H×W`` in ``[-1, 1]`` to features ``(n, d)``; both here also
have ``logits`` (Inception Score), ``name`` and ``num_features`` (read by torchmetrics).

* :class:`FashionMNISTClassifier`, a small CNN (174k parameters, 90.7% test accuracy) whose
  256-d penultimate layer plays the part of Inception's pool3. FIDs in this space compare
  only under the same weights (the stats cache key hashes them).
* :class:`InceptionFeatures` wraps torch-fidelity's ``FeatureExtractorInceptionV3``, the
  TensorFlow FID/IS Inception-v3 ported bit-exactly, with its weights
  ``weights-inception-2015-12-05-6726825d.pth`` read from a local file (this machine cannot
  download). Any state dict in the same layout loads, e.g. pytorch-fid's port of the same
  TF weights.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convergan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from convergan.metrics.fidelity import inception_module
from convergan.metrics.images import default_cache_dir

__all__ = [
    "CLASSIFIER_NAME", "INCEPTION_FILE", "INCEPTION_URL", "ClassifierFeatures",
    "FashionMNISTClassifier", "InceptionFeatures", "WeightsNotFoundError", "classifier_accuracy",
    "load_feature_extractor", "save_classifier", "train_classifier",
    "train_fashion_mnist_classifier",
]  # fmt: skip

CLASSIFIER_NAME = "fashion-mnist-classifier"
# torch-fidelity's release file of the TF weights (its URL_INCEPTION_V3).
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[1]


class WeightsNotFoundError(FileNotFoundError):
    """A feature extractor's weights file is missing; the message names it and its source."""


class FashionMNISTClassifier(nn.Module):
    """Three conv(3×3)-maxpool-ReLU stages (16, 32, 64 channels; 28→14→7→3), then
    ``576 → 256 → 10``. ``forward`` gives logits; :meth:`features` the 256-d ReLU layer.

    Pooling before the ReLU is the same function (max commutes with a monotone map) at a
    quarter of the ReLU cost; there is no batch norm, which makes a CPU step slower
    (benchmarks/bench_small_costs.py).
    """

    def __init__(self, num_classes: int = 10, feature_dim: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((1, 16), (16, 32), (32, 64)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.MaxPool2d(2), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 3 * 3, feature_dim))
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations ``(n, 256)`` of images ``n×1×28×28`` in ``[-1, 1]``."""
        return F.relu(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class ClassifierFeatures(nn.Module):
    """A classifier as an extractor: ``forward`` = penultimate features. Other sizes are
    resized bilinearly to 28×28; RGB is averaged to gray."""

    def __init__(self, classifier: FashionMNISTClassifier, name: str = CLASSIFIER_NAME) -> None:
        super().__init__()
        self.classifier, self.name = classifier.eval(), name
        self.num_features = classifier.head.in_features

    def _prepare(self, x: Tensor) -> Tensor:
        x = x.mean(1, keepdim=True) if x.shape[1] != 1 else x
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier.features(self._prepare(x))

    def logits_from_features(self, features: Tensor) -> Tensor:
        return self.classifier.head(features)

    def logits(self, x: Tensor) -> Tensor:
        return self.logits_from_features(self(x))


def _to_unit_range(images: Tensor) -> Tensor:
    """uint8 pixels ``u`` to ``2u/255 − 1`` (as :mod:`convergan.data.images`); floats as-is."""
    return images.float() * (2.0 / 255.0) - 1.0 if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def classifier_accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    """Fraction of ``images`` (uint8 or ``[-1, 1]``) whose arg-max logit equals the label."""
    model.eval()
    pairs = zip(images.split(1000), labels.split(1000))
    correct = sum(int((model(_to_unit_range(x)).argmax(1) == y).sum()) for x, y in pairs)
    return correct / max(1, len(labels))


def train_classifier(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    epochs: int,
    *,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
    progress: bool = False,
) -> nn.Module:
    """Minimise cross-entropy with Adam (Kingma & Ba, 2015); the learning rate follows a
    cosine from ``lr`` to 0 over all steps (Loshchilov & Hutter, 2017). ``on_epoch(epoch,
    mean_loss)`` is called after each epoch. Batches are reshuffled each epoch from ``seed``.
    ``progress``: a bar on stderr over the batches of all epochs, with the loss and an ETA.
    """
    import sys

    from tqdm import tqdm

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    total = epochs * math.ceil(len(labels) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
    bar = tqdm(total=total, unit="batch", disable=not progress, file=sys.stderr, mininterval=1)
    with bar:
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            bar.set_description(f"epoch {epoch}/{epochs}")
            for index in torch.randperm(len(labels), generator=generator).split(batch_size):
                loss = F.cross_entropy(model(_to_unit_range(images[index])), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
                bar.update()
                bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
            if on_epoch is not None:
                on_epoch(epoch, sum(losses) / len(losses))
    return model.eval()


def train_fashion_mnist_classifier(
    path: str | Path | None = None,
    epochs: int = 5,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    log: Callable[[str], None] | None = print,
) -> tuple[FashionMNISTClassifier, float]:
    """Train :class:`FashionMNISTClassifier` on the full train split (``path`` = IDX folder,
    default: the Debian package's) and save it, weights-only, to ``out`` (default
    ``<cache>/fashion-mnist-classifier.pt``). Returns ``(model, test_accuracy)``; the
    accuracy it reaches is in docs/guides/images.md.
    """
    from convergan.data.image_formats import load_fashion_mnist

    torch.manual_seed(seed)
    folder = None if path is None else Path(path).expanduser()
    train_x, train_y = load_fashion_mnist(folder, "train")
    test_x, test_y = load_fashion_mnist(folder, "test")
    model, start = FashionMNISTClassifier(), time.perf_counter()

    def report(epoch: int, loss: float) -> None:
        if log is not None:
            accuracy = classifier_accuracy(model, test_x, test_y)
            elapsed = time.perf_counter() - start
            log(f"epoch {epoch}/{epochs}: loss {loss:.4f}, test accuracy {accuracy:.4f} "
                f"({elapsed:.0f} s)")  # fmt: skip

    if log is not None:
        log(f"training on {len(train_y)} images, testing on {len(test_y)}, {epochs} epochs")
    train_classifier(
        model, train_x, train_y.long(), epochs, seed=seed, on_epoch=report, progress=log is not None
    )
    accuracy = classifier_accuracy(model, test_x, test_y.long())
    metadata = {"epochs": epochs, "seed": seed, "test_accuracy": accuracy,
                "train_seconds": time.perf_counter() - start}  # fmt: skip
    save_classifier(model, out or default_cache_dir() / f"{CLASSIFIER_NAME}.pt", metadata)
    return model, accuracy


def save_classifier(model: FashionMNISTClassifier, path: str | Path, metadata: dict) -> Path:
    """Write ``{"state_dict", "metadata"}`` atomically; it loads with ``weights_only=True``."""
    metadata = {"kind": CLASSIFIER_NAME, **metadata}
    return save_checkpoint(path, {"state_dict": model.state_dict(), "metadata": metadata})


def _load_classifier(path: Path) -> ClassifierFeatures:
    state = load_checkpoint(path)
    model = FashionMNISTClassifier()
    try:
        model.load_state_dict(state["state_dict"])
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(f"{path} is not a Fashion-MNIST classifier ({error!r:.99})") from None
    return ClassifierFeatures(model)


def _read_inception_state(path: Path) -> dict[str, Tensor]:
    """The state dict in ``path``, read with ``weights_only=True`` (no pickled code runs),
    ``AuxLogits.*`` dropped and absent ``num_batches_tracked`` counters filled with 0 (files
    exported without them, e.g. pytorch-fid's port of the same TF weights)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unreadable file, pickled code, truncated...
        raise CheckpointError(f"cannot load Inception weights {path} ({error!r:.120})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not an FID Inception-v3 state dict")
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    for key in [k for k in state if k.endswith(".bn.running_mean")]:
        state.setdefault(key.replace("running_mean", "num_batches_tracked"), torch.tensor(0))
    return state


class InceptionFeatures(nn.Module):
    """torch-fidelity's FID Inception-v3 (``FeatureExtractorInceptionV3``): the TensorFlow
    graph of TTUR's FID and of the original Inception Score (Szegedy et al., CVPR 2016;
    Heusel et al. 2017; Salimans et al. 2016), ported bit-exactly, TF1 bilinear resize to
    299×299 included, so FID/IS agree with published numbers.

    ``forward`` gives the 2048-d pool3 features; :meth:`logits` the 1008-way logits of the
    IS code (pool3 times the softmax weights, no bias: torch-fidelity's ``logits_unbiased``).
    Input: ``n×C×H×W`` in ``[-1, 1]`` with C = 1 (repeated to RGB) or 3, quantised to 8 bits
    as a saved PNG would be, which is the input torch-fidelity expects.

    ``weights_path`` is a state dict in torch-fidelity's layout, e.g. its
    :data:`INCEPTION_FILE`. It is read with ``weights_only=True`` and handed to
    torch-fidelity as an in-memory copy, so its own ``torch.load(weights_only=False)`` never
    unpickles a user's file.
    """

    num_features = 2048

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise WeightsNotFoundError(
                f"Inception weights {path} not found: download {INCEPTION_URL} and pass its path"
            )
        buffer = io.BytesIO()
        torch.save(_read_inception_state(path), buffer)
        buffer.seek(0)
        try:
            self.net = inception_module().FeatureExtractorInceptionV3(
                "inception-v3-compat", ["2048", "logits_unbiased"],
                feature_extractor_weights_path=buffer,
            )  # fmt: skip
        except RuntimeError as error:  # load_state_dict: missing or unexpected keys, shapes
            raise CheckpointError(
                f"{path} is not an FID Inception-v3 state dict ({str(error).splitlines()[1]:.99})"
            ) from None
        self.name = "inception-v3-torch-fidelity"

    @staticmethod
    def to_uint8(x: Tensor) -> Tensor:
        """``[-1, 1]`` to 8-bit RGB: ``round(127.5·(x + 1))`` clamped to ``[0, 255]``."""
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.to_uint8(x))[0]

    def logits_from_features(self, features: Tensor) -> Tensor:
        return features @ self.net.fc.weight.T

    def logits(self, x: Tensor) -> Tensor:
        return self.net(self.to_uint8(x))[1]


def load_feature_extractor(name_or_path: str | Path) -> nn.Module:
    """``"fashion-mnist-classifier"`` (from the cache folder), ``"inception"`` (torch-fidelity's
    Inception-v3 with the file ``$CONVERGAN_INCEPTION``, else :data:`INCEPTION_FILE` in the
    cache folder), or a path to either kind of weights file (Inception files are recognised by
    torch-fidelity's or pytorch-fid's file-name prefix). Missing files raise
    :class:`WeightsNotFoundError` (one line).
    """
    name = str(name_or_path)
    if name == CLASSIFIER_NAME:
        path = default_cache_dir() / f"{CLASSIFIER_NAME}.pt"
        if not path.is_file():
            raise WeightsNotFoundError(
                f"no trained classifier at {path}: run `convergan features train fashion-mnist`"
            )
        return _load_classifier(path)
    if name in ("inception", "inception-v3-torch-fidelity"):
        path = Path(os.environ.get("CONVERGAN_INCEPTION") or default_cache_dir() / INCEPTION_FILE)
        return InceptionFeatures(path)
    path = Path(name).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"no file {name!r}, nor one of {CLASSIFIER_NAME}, inception")
    if path.name.startswith(("pt_inception", "weights-inception")):
        return InceptionFeatures(path)
    return _load_classifier(path)
