"""Player networks: 2D MLPs (:mod:`convergan.models.mlp`) and, later, image models."""
