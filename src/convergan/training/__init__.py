"""Training real GANs with the same method and scheme objects the analysis differentiates."""
