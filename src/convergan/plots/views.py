"""How a problem's samples are drawn (:data:`~convergan.registry.SAMPLE_VIEWS`).

A view is ``view(path, real, fake, discriminator, title) -> path``; a problem names its view
in ``Problem.sample_view``. Training pictures, ``convergan sample`` and reports draw through
here, so a user's problem with a new kind of sample registers its own view in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from convergan.files import save_figure
from convergan.registry import SAMPLE_VIEWS

if TYPE_CHECKING:  # annotations only: listing the views imports no torch
    from torch import Tensor, nn


@SAMPLE_VIEWS.register("points-2d", description="2D points over the discriminator's contour")
def points_2d(
    path: Path, real: Tensor, fake: Tensor, discriminator: nn.Module | None, title: str
) -> Path:
    from convergan.plots.samples_2d import save_samples_figure

    return save_samples_figure(path, real, fake.cpu(), discriminator, title=title)


@SAMPLE_VIEWS.register("image-grid", description="a grid of images")
def image_grid(
    path: Path, real: Tensor, fake: Tensor, discriminator: nn.Module | None, title: str
) -> Path:
    from convergan.plots.images import save_image_grid

    return save_image_grid(path, fake.cpu())


@SAMPLE_VIEWS.register("dirac-state", description="the Dirac-GAN's state: θ and ψ per coordinate")
def dirac_state(
    path: Path, real: Tensor, fake: Tensor, discriminator: nn.Module | None, title: str
) -> Path:
    """Each coordinate's θ_i (every generated sample is θ), the data's 0 and, with D at hand,
    ψ_i = D(e_i)."""
    import torch
    from matplotlib.figure import Figure

    theta = fake[0].detach().cpu().double()
    coordinates = range(1, len(theta) + 1)
    figure = Figure(figsize=(4.5, 3.2), layout="constrained")
    ax = figure.add_subplot()
    ax.axhline(0.0, color="tab:blue", label="data (0)")
    ax.plot(coordinates, theta.numpy(), "o", color="tab:orange", label="θ (G)")
    if discriminator is not None:
        with torch.no_grad():
            psi = discriminator(torch.eye(len(theta), dtype=fake.dtype, device=fake.device))
        ax.plot(coordinates, psi.cpu().double().numpy(), "s", color="tab:green", label="ψ (D)")
    ax.set(xlabel="coordinate", ylabel="value", title=title, xticks=list(coordinates))
    ax.legend(loc="best", fontsize="small")
    save_figure(figure, path, dpi=100)
    return path
