"""The built-in image datasets' names, registered without importing torch (``--help`` lists
them); :func:`convergan.data.images.make_image_dataset` builds them."""

from __future__ import annotations

from typing import Any

from convergan.registry import IMAGE_DATASETS

# The built-in datasets, handled by make_image_dataset itself. A user's dataset is registered
# with a factory taking make_image_dataset's keyword arguments and returning an ImageDataset.
BUILTIN_IMAGE_DATASETS = {
    "fashion-mnist": "Fashion-MNIST IDX files (default: the Debian package dataset-fashion-mnist)",
    "cifar10": "CIFAR-10 python batches (cifar-10-batches-py)",
    "image-folder": "a folder of images (labels from sub-folders)",
    "npy": "a .npy array of images",
}


def _builtin_dataset(name: str):
    def build(**options: Any):
        from convergan.data.images import make_image_dataset  # torch, only when building

        return make_image_dataset(name, **options)

    return build


for _name, _description in BUILTIN_IMAGE_DATASETS.items():
    IMAGE_DATASETS.register(_name, _builtin_dataset(_name), description=_description)
