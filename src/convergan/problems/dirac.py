"""The Dirac-GAN as a trainable problem: where the verdict of a run can be checked exactly.

Data ``p_D = δ_0`` at the origin of R^d; the players (architecture ``dirac``) are
``G_θ(z) = θ ∈ R^d``, ignoring its latent, and ``D_ψ(x) = ψᵀx``
(:mod:`convergan.games.dirac`'s modules). ``dirac`` is d = 1, the game of Mescheder et al.
(2018) that ``convergan dirac analyze`` solves; ``dirac-<d>d`` is d copies of it, coupled
only through the non-linearity of the loss, so its Jacobian at the equilibrium is d copies of
the 1D one and every spectral radius is the 1D one.

Every batch is the exact expectation (all real samples are 0 and G ignores its latent), so
training with plain gradient steps (``optim.*.name=sgd``) runs the analysed scheme itself,
in float64 like the analysis: a run's measured rate is the exact ``ρ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from convergan.problems.base import DataInfo, Problem

DIMENSIONS = (1, 2, 3, 5, 10)  # data.name dirac, dirac-2d, dirac-3d, ...
DTYPE = torch.float64  # as in the exact analysis (games.dirac.dirac_gan)


def problem_name(dim: int) -> str:
    return "dirac" if dim == 1 else f"dirac-{dim}d"


class DiracProblem(Problem):
    """Data at the origin of R^``dim``."""

    metric_domain = "dirac"
    default_metrics = ()
    default_architecture = "dirac"
    sample_view = "dirac-state"
    display_count = 1  # every generated sample is θ
    spectrum_samples = 8  # every row of the evaluation game is the same

    def __init__(self, config: Any, dim: int) -> None:
        super().__init__(config)
        self.dim = dim
        # float64 is the Dirac players' precision (the exact analysis'); other architectures
        # (an MLP fitting the point mass) are float32 and take their data so.
        own = config.model.name == self.default_architecture
        self.dtype = DTYPE if own else torch.float32

    def info(self) -> DataInfo:
        return DataInfo((self.dim,), None)

    def real_stream(self, global_batch: int, seed: int, num_workers: int = 0) -> OriginStream:
        return OriginStream(global_batch, self.dim, self.dtype)

    def real_samples(self, n: int, seed: int) -> Tensor:
        return torch.zeros(n, self.dim, dtype=self.dtype)

    def evaluator(self, metrics: Sequence[str], device: Any) -> None:
        return None  # no registered metric applies: the diagnostics measure the game itself


class OriginStream:
    """Batches of the data point 0: stateless, so resuming it is trivial."""

    def __init__(self, batch: int, dim: int, dtype: torch.dtype = DTYPE) -> None:
        self.shape, self.dtype = (batch, dim), dtype

    def __iter__(self) -> OriginStream:
        return self

    def __next__(self) -> Tensor:
        return torch.zeros(self.shape, dtype=self.dtype)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class DiracFamily:
    """The Dirac-GAN in each of ``dims`` dimensions (a user wanting another d registers
    ``DiracFamily((d,))`` under a family name of their own)."""

    def __init__(self, dims: Sequence[int] = DIMENSIONS) -> None:
        self.dims = {problem_name(d): int(d) for d in dims}

    def names(self) -> tuple[str, ...]:
        return tuple(self.dims)

    def build(self, config: Any) -> DiracProblem:
        return DiracProblem(config, self.dims[config.data.name])


FAMILY = DiracFamily()  # registered (declared) in convergan.registry.PROBLEM_FAMILIES
