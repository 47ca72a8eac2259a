"""Metrics: distances and mode statistics of point clouds (:mod:`convergan.metrics.point_clouds`);
image metrics (:mod:`convergan.metrics.images`) in the space of a feature extractor
(:mod:`convergan.metrics.features`)."""

from convergan.metrics import fidelity as _fidelity

# Before anything imports torchmetrics.image: it imports torch-fidelity's Inception, which
# must not pull torchvision where no working torchvision exists (see metrics/fidelity.py).
_fidelity.ensure_importable()
