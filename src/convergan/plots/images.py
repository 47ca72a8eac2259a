"""Image grids of samples, written with Pillow (no torchvision).

Pixels in ``[-1, 1]`` map to 8 bits as ``round((x + 1)/2 · 255)`` after clipping, the
inverse of the data scaling in :mod:`convergan.data.images` up to rounding.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from convergan.files import atomic_output

__all__ = ["image_grid", "save_image_grid"]


def image_grid(
    images: Tensor | np.ndarray,
    nrow: int | None = None,
    *,
    padding: int = 2,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tile ``images`` (``n×C×H×W`` in ``[-1, 1]``, C = 1 or 3) into a uint8 ``H'×W'×C`` array.

    ``nrow`` images per row (default ``ceil(sqrt(n))``), ``ceil(n / nrow)`` rows, ``padding``
    pixels of ``pad_value`` (in ``[-1, 1]``; 1 is white) between and around the tiles, so
    ``H' = rows·(H + padding) + padding`` and ``W' = nrow·(W + padding) + padding``. Empty
    cells of the last row are ``pad_value``.
    """
    x = torch.as_tensor(images).detach().cpu().float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"images must be n×C×H×W with n ≥ 1 and C in (1, 3), got {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be ≥ 0, got {padding}")
    n, c, h, w = x.shape
    nrow = min(n, nrow or math.ceil(math.sqrt(n)))
    if nrow < 1:
        raise ValueError(f"nrow must be ≥ 1, got {nrow}")
    rows = math.ceil(n / nrow)
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    fill = round((min(max(pad_value, -1.0), 1.0) + 1) * 127.5)
    grid = np.full(
        (rows * (h + padding) + padding, nrow * (w + padding) + padding, c), fill, np.uint8
    )
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[top : top + h, left : left + w] = pixels[i]
    return grid


def save_image_grid(
    path: str | Path,
    images: Tensor | np.ndarray,
    nrow: int | None = None,
    *,
    padding: int = 2,
    pad_value: float = 1.0,
    scale: int = 1,
) -> Path:
    """Write :func:`image_grid` to ``path`` (format from the suffix, e.g. ``.png``), enlarged
    ``scale`` times with nearest-neighbour so small images stay sharp. Returns the path."""
    grid = image_grid(images, nrow, padding=padding, pad_value=pad_value)
    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as file:  # a killed writer never leaves a cut-off PNG
        image.save(file, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    return path
