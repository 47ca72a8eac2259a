"""Data: the 2D toy problems (:mod:`convergan.data.toy2d`) and, later, image datasets."""
