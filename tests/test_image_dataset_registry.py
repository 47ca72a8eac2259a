"""Every image dataset, built-in or a user's, is a registered factory reached by one path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from convergan.data.image_formats import DatasetError
from convergan.data.images import ImageDataset, make_image_dataset
from convergan.registry import IMAGE_DATASETS


def test_a_user_dataset_gets_the_checked_options_of_a_builtin(tmp_path: Path) -> None:
    calls = []

    def tiny(**options) -> ImageDataset:
        calls.append(options)
        images = torch.full((3, 1, 4, 4), 255, dtype=torch.uint8)
        return ImageDataset("tiny", images, torch.zeros(3), image_size=4, channels=1, num_classes=1)

    IMAGE_DATASETS.register("tiny-user-dataset", tiny, description="a test dataset")
    try:
        data = make_image_dataset("tiny-user-dataset", path=str(tmp_path), flip=True)
        assert calls == [  # a str path arrives as a Path
            {
                "path": tmp_path,
                "image_size": None,
                "flip": True,
                "dequantize": False,
                "split": "train",
                "labeled": True,
            }
        ]
        assert data[0][0].eq(1.0).all()  # 255 scales to 2·255/255 − 1
        # The checks a built-in dataset gets reject the same bad options before the factory.
        for bad, match in [
            ({"split": "val"}, "split must be 'train' or 'test'"),
            ({"image_size": 0}, "image_size must be a positive int"),
            ({"path": tmp_path / "nowhere"}, "tiny-user-dataset: data path .* does not exist"),
        ]:
            with pytest.raises(DatasetError, match=match):
                make_image_dataset("tiny-user-dataset", **bad)
        assert len(calls) == 1
    finally:
        IMAGE_DATASETS.unregister("tiny-user-dataset")
