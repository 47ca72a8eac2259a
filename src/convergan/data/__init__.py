"""Data: the 2D distributions (:mod:`convergan.data.distributions_2d`) and the image datasets
(:mod:`convergan.data.images`)."""
