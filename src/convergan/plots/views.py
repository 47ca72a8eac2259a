"""How a problem's samples are drawn (:data:`~convergan.registry.SAMPLE_VIEWS`).

A view is ``view(path, real, fake, discriminator, title) -> path``; a problem names its view
in ``Problem.sample_view``. Training pictures, ``convergan sample`` and reports draw through
here, so a user's problem with a new kind of sample registers its own view in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from convergan.registry import SAMPLE_VIEWS

if TYPE_CHECKING:  # annotations only: listing the views imports no torch
    from torch import Tensor, nn


@SAMPLE_VIEWS.register("points-2d", description="2D points over the discriminator's contour")
def points_2d(
    path: Path, real: Tensor, fake: Tensor, discriminator: nn.Module | None, title: str
) -> Path:
    from convergan.plots.toy2d import save_samples_figure

    return save_samples_figure(path, real, fake.cpu(), discriminator, title=title)


@SAMPLE_VIEWS.register("image-grid", description="a grid of images")
def image_grid(
    path: Path, real: Tensor, fake: Tensor, discriminator: nn.Module | None, title: str
) -> Path:
    from convergan.plots.images import save_image_grid

    return save_image_grid(path, fake.cpu())
