"""Metrics: 2D distances and mode statistics (:mod:`convergan.metrics.toy2d`); later images."""
