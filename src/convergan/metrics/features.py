"""Feature extractors for image metrics: a Fashion-MNIST classifier and FID Inception-v3.

An extractor maps images ``n×C×H×W`` in ``[-1, 1]`` to features ``(n, d)``; both here also
have ``logits`` (Inception Score), ``name`` and ``num_features`` (read by torchmetrics).

* :class:`FashionMNISTClassifier`, a small CNN (174k parameters, 90.7% test accuracy) whose
  256-d penultimate layer plays the part of Inception's pool3. FIDs in this space compare
  only under the same weights (the stats cache key hashes them).
* :class:`InceptionFeatures` is the Inception-v3 used for FID by TTUR/pytorch-fid
  (Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016; Heusel et al. 2017),
  built here from the published architecture and loading the ported TensorFlow weights
  ``pt_inception-2015-12-05-6726825d.pth`` from a local file (this machine cannot download).
  It differs from torchvision's Inception-v3 in three places: the 3×3 average pools of blocks
  5b-d, 6b-e, 7b exclude padding, block 7c's pool branch takes a 3×3 *max* pool (a quirk of
  the TF graph), and the classifier has 1008 classes. Inputs are resized to 299×299
  bilinearly; grayscale is repeated to three channels.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convergan.metrics.images import default_cache_dir
from convergan.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = [
    "CLASSIFIER_NAME", "INCEPTION_FILE", "INCEPTION_URL", "ClassifierFeatures",
    "FashionMNISTClassifier", "InceptionFeatures", "WeightsNotFoundError", "classifier_accuracy",
    "load_feature_extractor", "save_classifier", "train_classifier",
    "train_fashion_mnist_classifier",
]  # fmt: skip

CLASSIFIER_NAME = "fashion-mnist-classifier"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{INCEPTION_FILE}"
)


class WeightsNotFoundError(FileNotFoundError):
    """A feature extractor's weights file is missing; the message names it and its source."""


class FashionMNISTClassifier(nn.Module):
    """Three conv(3×3)-maxpool-ReLU stages (16, 32, 64 channels; 28→14→7→3), then
    ``576 → 256 → 10``. ``forward`` gives logits; :meth:`features` the 256-d ReLU layer.

    Pooling before the ReLU is the same function (max commutes with a monotone map) at a
    quarter of the ReLU cost; there is no batch norm, which was 2.5× slower per step on CPU.
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
) -> nn.Module:
    """Minimise cross-entropy with Adam (Kingma & Ba, 2015); the learning rate follows a
    cosine from ``lr`` to 0 over all steps (Loshchilov & Hutter, 2017). ``on_epoch(epoch,
    mean_loss)`` is called after each epoch. Batches are reshuffled each epoch from ``seed``.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    total = epochs * math.ceil(len(labels) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for index in torch.randperm(len(labels), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(_to_unit_range(images[index])), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
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
    ``<cache>/fashion-mnist-classifier.pt``). Returns ``(model, test_accuracy)``.

    Measured (seed 0, 2 CPU cores shared with other jobs): test accuracy after epochs 1-5 is
    86.6, 88.8, 89.1, 90.3, 90.7%; the 5 epochs took 263 s (15-95 s an epoch, by load).
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

    train_classifier(model, train_x, train_y.long(), epochs, seed=seed, on_epoch=report)
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


# FID Inception-v3. A branch is a list of steps: ``(name, out_channels, kernel, stride,
# padding)`` is a conv-BN-ReLU unit, ``("avg"|"max", stride)`` a 3×3 pool; a list of units
# runs them on the same input and concatenates (the factorised 1×3 / 3×1 "expanded" pairs).
Branch = list[Any]


def _inception_blocks() -> list[tuple[str, list[Branch]]]:
    """``(name, branches)`` of Mixed_5b … Mixed_7c (Szegedy et al. 2016, Figs. 5-7 and 10)."""
    r7, c7 = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))  # (kernel, stride, padding)
    r3, c3 = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))

    def a(pool_features: int) -> list[Branch]:  # 35×35
        return [
            [("branch1x1", 64, 1, 1, 0)],
            [("branch5x5_1", 48, 1, 1, 0), ("branch5x5_2", 64, 5, 1, 2)],
            [("branch3x3dbl_1", 64, 1, 1, 0), ("branch3x3dbl_2", 96, 3, 1, 1),
             ("branch3x3dbl_3", 96, 3, 1, 1)],
            [("avg", 1), ("branch_pool", pool_features, 1, 1, 0)],
        ]  # fmt: skip

    def c(ch: int) -> list[Branch]:  # 17×17 with factorised 7×7
        return [
            [("branch1x1", 192, 1, 1, 0)],
            [("branch7x7_1", ch, 1, 1, 0), ("branch7x7_2", ch, *r7), ("branch7x7_3", 192, *c7)],
            [("branch7x7dbl_1", ch, 1, 1, 0), ("branch7x7dbl_2", ch, *c7),
             ("branch7x7dbl_3", ch, *r7), ("branch7x7dbl_4", ch, *c7),
             ("branch7x7dbl_5", 192, *r7)],
            [("avg", 1), ("branch_pool", 192, 1, 1, 0)],
        ]  # fmt: skip

    def e(pool: str) -> list[Branch]:  # 8×8 with expanded filter banks
        return [
            [("branch1x1", 320, 1, 1, 0)],
            [("branch3x3_1", 384, 1, 1, 0),
             [("branch3x3_2a", 384, *r3), ("branch3x3_2b", 384, *c3)]],
            [("branch3x3dbl_1", 448, 1, 1, 0), ("branch3x3dbl_2", 384, 3, 1, 1),
             [("branch3x3dbl_3a", 384, *r3), ("branch3x3dbl_3b", 384, *c3)]],
            [(pool, 1), ("branch_pool", 192, 1, 1, 0)],
        ]  # fmt: skip

    reduce_35 = [  # 35 -> 17 grid reduction
        [("branch3x3", 384, 3, 2, 0)],
        [("branch3x3dbl_1", 64, 1, 1, 0), ("branch3x3dbl_2", 96, 3, 1, 1),
         ("branch3x3dbl_3", 96, 3, 2, 0)],
        [("max", 2)],
    ]  # fmt: skip
    reduce_17 = [  # 17 -> 8 grid reduction
        [("branch3x3_1", 192, 1, 1, 0), ("branch3x3_2", 320, 3, 2, 0)],
        [("branch7x7x3_1", 192, 1, 1, 0), ("branch7x7x3_2", 192, *r7),
         ("branch7x7x3_3", 192, *c7), ("branch7x7x3_4", 192, 3, 2, 0)],
        [("max", 2)],
    ]  # fmt: skip
    return [("Mixed_5b", a(32)), ("Mixed_5c", a(64)), ("Mixed_5d", a(64)),
            ("Mixed_6a", reduce_35), ("Mixed_6b", c(128)), ("Mixed_6c", c(160)),
            ("Mixed_6d", c(160)), ("Mixed_6e", c(192)), ("Mixed_7a", reduce_17),
            ("Mixed_7b", e("avg")), ("Mixed_7c", e("max"))]  # fmt: skip


class _ConvUnit(nn.Module):
    """Conv (no bias) → BatchNorm(eps=1e-3) → ReLU; parameter names ``conv.*``, ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, kernel: Any, stride: int = 1, padding: Any = 0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class _Mixed(nn.Module):
    """One Inception block: branches run on the same input and are concatenated."""

    def __init__(self, c_in: int, branches: list[Branch]) -> None:
        super().__init__()
        self.plan: list[list[Any]] = []  # per branch: pool tuples and lists of unit names
        self.out_channels = 0
        for branch in branches:
            channels, steps = c_in, []
            for step in branch:
                pool = step[0] in ("avg", "max")
                units = [] if pool else step if isinstance(step, list) else [step]
                for name, c_out, *shape in units:
                    self.add_module(name, _ConvUnit(channels, c_out, *shape))
                steps.append(step if pool else [unit[0] for unit in units])
                channels = channels if pool else sum(unit[1] for unit in units)
            self.plan.append(steps)
            self.out_channels += channels

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        for steps in self.plan:
            y = x
            for step in steps:
                if step[0] == "max":  # stride 1 keeps the size (7c), stride 2 reduces (6a, 7a)
                    y = F.max_pool2d(y, 3, step[1], padding=int(step[1] == 1))
                elif step[0] == "avg":  # padding excluded from the average: the FID variant
                    y = F.avg_pool2d(y, 3, 1, padding=1, count_include_pad=False)
                else:
                    y = torch.cat([getattr(self, name)(y) for name in step], 1)
            outputs.append(y)
        return torch.cat(outputs, 1)


class InceptionFeatures(nn.Module):
    """FID Inception-v3: ``forward`` gives the 2048-d pool3 features, :meth:`logits` the
    1008-way logits as in the original Inception Score code (pool3 times the softmax weights,
    no bias; Salimans et al., 2016). ``weights_path=None`` builds random weights (tests).

    Input: ``n×C×H×W`` in ``[-1, 1]``, C = 1 or 3; resized to 299×299 (bilinear,
    ``align_corners=False``, as pytorch-fid). Weights load with ``weights_only=True``.
    """

    num_features = 2048

    def __init__(self, weights_path: str | Path | None = None) -> None:
        super().__init__()
        self.name = "inception-v3-fid"
        stem = [("Conv2d_1a_3x3", 3, 32, 3, 2), ("Conv2d_2a_3x3", 32, 32, 3, 1),
                ("Conv2d_2b_3x3", 32, 64, 3, 1, 1), ("Conv2d_3b_1x1", 64, 80, 1, 1),
                ("Conv2d_4a_3x3", 80, 192, 3, 1)]  # fmt: skip
        for name, *shape in stem:
            self.add_module(name, _ConvUnit(*shape))
        channels = 192
        for name, branches in _inception_blocks():
            block = _Mixed(channels, branches)
            self.add_module(name, block)
            channels = block.out_channels
        self.fc, self.has_logits = nn.Linear(channels, 1008), True
        if weights_path is not None:
            self._load(Path(weights_path).expanduser())
        self.eval().requires_grad_(False)

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise WeightsNotFoundError(
                f"Inception weights {path} not found: download {INCEPTION_URL} and pass its path"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else {}
            state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
            missing, unexpected = self.load_state_dict(state, strict=False)
        except Exception as error:  # unreadable file, wrong shapes, not a dict...
            raise CheckpointError(
                f"cannot load Inception weights {path} ({error!r:.120})"
            ) from None
        self.has_logits = not any(k.startswith("fc.") for k in missing)  # pool3-only files
        wrong = [k for k in missing + unexpected if not k.endswith("num_batches_tracked")]
        if [k for k in wrong if not k.startswith("fc.")]:
            raise CheckpointError(f"{path} is not an FID Inception-v3 state dict ({wrong[:3]}...)")

    def forward(self, x: Tensor) -> Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        for name, module in self.named_children():
            if name == "fc":
                break
            x = module(x)
            if name in ("Conv2d_2b_3x3", "Conv2d_4a_3x3"):
                x = F.max_pool2d(x, 3, 2)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def logits_from_features(self, features: Tensor) -> Tensor:
        if not self.has_logits:
            raise ValueError("these Inception weights have no classifier layer (fc.*): no logits")
        return features @ self.fc.weight.T

    def logits(self, x: Tensor) -> Tensor:
        return self.logits_from_features(self(x))


def load_feature_extractor(name_or_path: str | Path) -> nn.Module:
    """``"fashion-mnist-classifier"`` (from the cache folder), ``"inception"`` (the file
    :data:`INCEPTION_FILE` in ``$CONVERGAN_INCEPTION`` or the cache folder), or a path to
    either kind of weights file. Missing files raise :class:`WeightsNotFoundError` (one line).
    """
    name = str(name_or_path)
    if name == CLASSIFIER_NAME:
        path = default_cache_dir() / f"{CLASSIFIER_NAME}.pt"
        if not path.is_file():
            raise WeightsNotFoundError(
                f"no trained classifier at {path}: run `convergan features train fashion-mnist`"
            )
        return _load_classifier(path)
    if name in ("inception", "inception-v3-fid"):
        path = Path(os.environ.get("CONVERGAN_INCEPTION") or default_cache_dir() / INCEPTION_FILE)
        return InceptionFeatures(path)
    path = Path(name).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"no file {name!r}, nor one of {CLASSIFIER_NAME}, inception")
    if path.name.startswith(("pt_inception", "weights-inception")):
        return InceptionFeatures(path)
    return _load_classifier(path)
