"""The 2D distributions of the toy problems, generated in code, and a resumable batch stream.

Mescheder et al. (2018, §5) test their theory on small 2D problems because there the
distance between the generator and the data distribution can be *measured* (see
:mod:`convergan.metrics.point_clouds`). The distributions fall into two kinds, and the
difference is the point of the paper:

* **Absolutely continuous** (they have a density on R²): ``gaussian`` and the Gaussian
  mixtures ``ring8`` and ``grid25``.
* **Concentrated on a 1D manifold** (no density on R²): ``line``, ``circle`` and
  ``four-lines``. Unregularized GAN training is not locally convergent here: at the equilibrium
  the discriminator can still be non-constant off the support, and nothing pulls it back. R1/R2
  restore local convergence (the paper's Theorem 4.1).

Every problem has ``sample(n, generator, dtype=torch.float32) -> Tensor (n, 2)``. All
randomness comes from the ``torch.Generator`` passed in, so a fixed generator state gives a
fixed batch; samples are created on the generator's device. Mixtures also expose ``modes``
(a float64 ``(k, 2)`` tensor) and ``mode_std`` for
:func:`convergan.metrics.point_clouds.mode_coverage`.

Build one by name with :func:`make_distribution_2d`; :data:`~convergan.registry.PROBLEMS_2D`
lists the names. The 2D *problem* (data, metrics and views of a config) is
:class:`convergan.problems.toy2d.Toy2DProblem`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from convergan.registry import PROBLEMS_2D

__all__ = [
    "Circle",
    "FourLines",
    "Gaussian2D",
    "GaussianMixture2D",
    "Line",
    "Distribution2D",
    "Toy2DStream",
    "grid_of_gaussians",
    "make_distribution_2d",
    "ring_of_gaussians",
]


@runtime_checkable
class Distribution2D(Protocol):
    """What the trainer needs from a 2D distribution."""

    name: str
    absolutely_continuous: bool

    def sample(self, n: int, generator: torch.Generator, dtype: torch.dtype = ...) -> Tensor:
        """``n`` i.i.d. samples, shape ``(n, 2)``, drawn with ``generator`` only."""
        ...


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"number of samples must be a non-negative int, got {n!r}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _uniform(n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
    return torch.rand(n, generator=generator, dtype=dtype, device=generator.device)


class Gaussian2D:
    """Isotropic Gaussian ``N(mean, std² I)`` on R² (absolutely continuous).

    The control case: the data distribution has a density, so even unregularized training
    has a chance to converge locally.
    """

    absolutely_continuous = True

    def __init__(self, mean: tuple[float, float] = (0.0, 0.0), std: float = 1.0) -> None:
        _check_positive("std", std)
        self.name = "gaussian"
        self.mean = torch.tensor(mean, dtype=torch.float64)
        if self.mean.shape != (2,):
            raise ValueError(f"mean must have 2 coordinates, got {tuple(mean)!r}")
        self.std = float(std)

    def sample(
        self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        _check_count(n)
        noise = torch.randn(n, 2, generator=generator, dtype=dtype, device=generator.device)
        return self.mean.to(dtype=dtype, device=generator.device) + self.std * noise


class Line:
    """Uniform on the segment ``{(x, 0) : -half_length ≤ x ≤ half_length}``.

    A 1D manifold in R²: the distribution is **not absolutely continuous** (it has no density
    on the plane), which is exactly the situation in which the paper shows unregularized GAN
    training fails to converge locally.
    """

    absolutely_continuous = False

    def __init__(self, half_length: float = 1.0) -> None:
        _check_positive("half_length", half_length)
        self.name = "line"
        self.half_length = float(half_length)

    def sample(
        self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        _check_count(n)
        x = (2.0 * _uniform(n, generator, dtype) - 1.0) * self.half_length
        return torch.stack([x, torch.zeros_like(x)], dim=1)


class Circle:
    """Uniform on the circle of radius ``radius`` around the origin (uniform in angle).

    A closed 1D manifold: **not absolutely continuous**. Unlike :class:`Line` it cannot be
    the image of a Gaussian latent under a homeomorphism onto its support, so generators
    typically leave a small gap or a fold.
    """

    absolutely_continuous = False

    def __init__(self, radius: float = 1.0) -> None:
        _check_positive("radius", radius)
        self.name = "circle"
        self.radius = float(radius)

    def sample(
        self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        _check_count(n)
        angle = 2.0 * math.pi * _uniform(n, generator, dtype)
        return self.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


class FourLines:
    """Uniform on the union of four segments of equal length (a 1D manifold).

    **Not absolutely continuous.** Two layouts, each four segments of length 2·``scale``:

    * ``"square"`` (default): the four sides of the square ``[-scale, scale]²`` — a closed
      curve with corners;
    * ``"star"``: four segments through the origin, at angles 0°, 45°, 90° and 135°
      (the axes and the diagonals), crossing at the origin.

    The paper names a "four lines" problem without giving coordinates; these layouts are
    our choice, not a verified reproduction of its data. Each segment gets probability 1/4
    (equal lengths, so this is the uniform distribution on the union).
    """

    absolutely_continuous = False
    LAYOUTS = ("square", "star")

    def __init__(self, layout: str = "square", scale: float = 1.0) -> None:
        if layout not in self.LAYOUTS:
            raise ValueError(f"unknown four-lines layout {layout!r}; choose one of {self.LAYOUTS}")
        _check_positive("scale", scale)
        self.name = "four-lines"
        self.layout = layout
        self.scale = float(scale)
        self.segments = self._segments(layout, self.scale)

    @staticmethod
    def _segments(layout: str, s: float) -> Tensor:
        """Endpoints, float64 of shape ``(4, 2, 2)``: ``segments[i] = (start, end)``."""
        if layout == "square":
            corners = [(-s, -s), (s, -s), (s, s), (-s, s)]
            ends = [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
        else:
            ends = []
            for k in range(4):
                c, d = s * math.cos(k * math.pi / 4), s * math.sin(k * math.pi / 4)
                ends.append(((-c, -d), (c, d)))
        return torch.tensor(ends, dtype=torch.float64)

    def sample(
        self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        _check_count(n)
        device = generator.device
        which = torch.randint(4, (n,), generator=generator, device=device)
        t = _uniform(n, generator, dtype).unsqueeze(1)
        seg = self.segments.to(dtype=dtype, device=device)[which]
        return seg[:, 0] + t * (seg[:, 1] - seg[:, 0])


class GaussianMixture2D:
    """Equal-weight mixture of isotropic Gaussians ``N(modes[i], mode_std² I)``.

    Absolutely continuous, but with ``mode_std`` small relative to the mode spacing it is
    nearly singular and strongly multimodal: the standard test for mode collapse. Use
    :func:`convergan.metrics.point_clouds.mode_coverage` with ``modes`` and ``mode_std``.
    """

    absolutely_continuous = True

    def __init__(self, modes: Tensor, mode_std: float, name: str = "mixture") -> None:
        modes = torch.as_tensor(modes, dtype=torch.float64)
        if modes.ndim != 2 or modes.shape[1] != 2 or modes.shape[0] == 0:
            raise ValueError(f"modes must have shape (k, 2) with k ≥ 1, got {tuple(modes.shape)}")
        _check_positive("mode_std", mode_std)
        self.name = name
        self.modes = modes
        self.mode_std = float(mode_std)

    def sample(
        self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        _check_count(n)
        device = generator.device
        which = torch.randint(len(self.modes), (n,), generator=generator, device=device)
        noise = torch.randn(n, 2, generator=generator, dtype=dtype, device=device)
        return self.modes.to(dtype=dtype, device=device)[which] + self.mode_std * noise


def ring_of_gaussians(
    num_modes: int = 8, radius: float = 2.0, std: float = 0.02
) -> GaussianMixture2D:
    """``num_modes`` Gaussians evenly spaced on a circle, the first at ``(radius, 0)``.

    Defaults give the classic "ring8" of Metz et al. (2017): radius 2, std 0.02.
    """
    if isinstance(num_modes, bool) or not isinstance(num_modes, int) or num_modes < 1:
        raise ValueError(f"num_modes must be a positive int, got {num_modes!r}")
    _check_positive("radius", radius)
    angles = torch.arange(num_modes, dtype=torch.float64) * (2.0 * math.pi / num_modes)
    modes = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture2D(modes, std, name=f"ring{num_modes}")


def grid_of_gaussians(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    """``side × side`` Gaussians on a centred square grid.

    Defaults give the classic "grid25": modes at ``{-4, -2, 0, 2, 4}²``, std 0.05.
    """
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise ValueError(f"side must be a positive int, got {side!r}")
    _check_positive("spacing", spacing)
    ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2.0) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    modes = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return GaussianMixture2D(modes, std, name=f"grid{side * side}")


def make_distribution_2d(name: str, **kwargs: Any) -> Distribution2D:
    """Build the 2D problem called ``name``, e.g. ``make_distribution_2d("ring8", std=0.05)``.

    Raises ``ValueError`` with one line naming the valid choices for an unknown name or an
    option the factory does not take.
    """
    if name not in PROBLEMS_2D:
        raise ValueError(PROBLEMS_2D.unknown(name))
    factory = PROBLEMS_2D[name]
    signature = inspect.signature(factory)
    try:
        signature.bind(**kwargs)
    except TypeError:
        options = ", ".join(signature.parameters) or "none"
        raise ValueError(
            f"invalid options {sorted(kwargs)} for 2D problem {name!r}; it takes: {options}"
        ) from None
    return factory(**kwargs)


class Toy2DStream(Iterator[Tensor]):
    """Infinite stream of ``(batch_size, 2)`` batches with an exactly resumable state.

    The stream owns a CPU ``torch.Generator`` seeded with ``seed``; it is the only source of
    randomness, so the k-th batch is a function of ``(problem, batch_size, seed, k)``.
    :meth:`state_dict` stores the generator state as a ``uint8`` tensor (plus plain ints and a
    string, so it round-trips through ``torch.load(weights_only=True)``); after
    :meth:`load_state_dict` the stream continues with exactly the batches the original would
    have produced next.

    ``problem`` is a problem object or a name for :func:`make_distribution_2d`.
    """

    def __init__(
        self,
        problem: Distribution2D | str,
        batch_size: int,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.problem = make_distribution_2d(problem) if isinstance(problem, str) else problem
        self.batch_size = batch_size
        self.seed = seed
        self.dtype = dtype
        self.batches_drawn = 0
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Toy2DStream:
        return self

    def __next__(self) -> Tensor:
        batch = self.problem.sample(self.batch_size, self.generator, dtype=self.dtype)
        self.batches_drawn += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the same sequence of batches."""
        return {
            "problem": self.problem.name,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "batches_drawn": self.batches_drawn,
            "generator_state": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; refuses one from a different problem or batch size."""
        missing = {"problem", "batch_size", "generator_state"} - set(state)
        if missing:
            raise ValueError(f"2D stream state is missing keys {sorted(missing)}")
        if state["problem"] != self.problem.name or state["batch_size"] != self.batch_size:
            raise ValueError(
                f"2D stream state is for problem {state['problem']!r} with batch size "
                f"{state['batch_size']}, not {self.problem.name!r} with {self.batch_size}"
            )
        generator_state = state["generator_state"]
        if not isinstance(generator_state, Tensor) or generator_state.dtype != torch.uint8:
            raise ValueError("2D stream state has no valid generator_state (uint8 tensor)")
        self.generator.set_state(generator_state.clone())
        self.seed = int(state.get("seed", self.seed))
        self.batches_drawn = int(state.get("batches_drawn", 0))
