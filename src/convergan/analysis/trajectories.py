"""Trajectories of a scheme on a game, batched over starts and parameter values.

One ``torch.func.vmap`` over ``(start, method parameters, learning-rate factor)`` runs every
trajectory at once; Python only loops over time steps, so Ctrl-C stops a run between steps.
A trajectory may take at most :data:`MAX_SIMULATION_MOVES` player moves (steps × moves per
step); longer requests raise ``ValueError`` instead of running for days without output.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm import tqdm

from convergan.analysis.moves import moves_per_period
from convergan.field import GameField, GradientStep, flatten, unflatten
from convergan.methods.method import Method
from convergan.schemes import Scheme

CONVERGED_RATIO = 1e-3
DIVERGED_RATIO = 1.5
STILL_GROWING = 1.1
"""A trajectory that ended beyond ``DIVERGED_RATIO`` × its start distance diverges only if its
peak distance over the second half of the run exceeds the first half's by this factor; one
that moved out to a bounded orbit (WGAN-GP on the Dirac-GAN: 1.000-1.002 over 300 steps for
every scheme at h = 0.1-0.5) oscillates. A geometric growth ρᵗ > 1.1 per half run diverges."""
MAX_SIMULATION_MOVES = 1_000_000
"""The most player moves one simulated trajectory may take (``steps`` × moves per step; an
AltGD step with ``d_steps = 5`` makes 6). About half an hour on a laptop core."""


@dataclass(frozen=True)
class Trajectories:
    """``path`` has shape ``(batch, steps + 1, n)`` (``steps`` counts scheme steps)."""

    path: Tensor
    equilibrium: Tensor

    @property
    def initial_distance(self) -> Tensor:
        return torch.linalg.vector_norm(self.path[:, 0] - self.equilibrium, dim=-1)

    @property
    def final_distance(self) -> Tensor:
        return torch.linalg.vector_norm(self.path[:, -1] - self.equilibrium, dim=-1)

    @property
    def late_growth(self) -> Tensor:
        """Peak distance over the second half of each path divided by the first half's peak
        (both halves hold the middle point): about 1 on a bounded orbit, ``ρ^(steps/2)`` for
        a geometric growth."""
        distance = torch.linalg.vector_norm(self.path - self.equilibrium, dim=-1)
        middle = (distance.shape[1] - 1) // 2
        first = distance[:, : middle + 1].amax(dim=1)
        second = distance[:, middle:].amax(dim=1)
        return second / first

    @property
    def verdicts(self) -> list[str]:
        return [
            trajectory_verdict(float(a), float(b), float(g))
            for a, b, g in zip(self.initial_distance, self.final_distance, self.late_growth)
        ]


def trajectory_verdict(
    initial_distance: float, final_distance: float, late_growth: float | None = None
) -> str:
    """The one rule every consumer reads (``dirac simulate``, the analysis' fallback without
    a regular equilibrium, ``dirac table``, the Figure-3 titles):

    * ``converges``: the final distance is below 1e-3 of the initial one;
    * ``diverges``: the final distance is not finite, or above 1.5× the initial one while the
      distance is still growing: ``late_growth`` (:attr:`Trajectories.late_growth`) above
      1.1, or not given (then the two distances decide alone);
    * ``oscillates`` otherwise: neither converged nor escaped, the trajectory stays in a
      bounded band: an orbit (AltGD on the unregularized GAN) or a limit cycle it moved out
      to (WGAN-GP, whose penalty pushes |ψ| towards g₀).
    """
    if not math.isfinite(final_distance):
        return "diverges"
    if final_distance <= CONVERGED_RATIO * initial_distance:
        return "converges"
    growing = late_growth is None or not late_growth <= STILL_GROWING  # nan: not bounded
    if final_distance > DIVERGED_RATIO * initial_distance and growing:
        return "diverges"
    return "oscillates"


def simulate(
    game,
    method: Method | Callable[..., Method],
    scheme: Scheme,
    starts: Tensor,
    steps: int,
    *,
    method_params: Mapping[str, Tensor] | None = None,
    lr_factors: Tensor | None = None,
    progress: bool = False,
) -> Trajectories:
    """Run ``scheme`` from every row of ``starts`` (shape ``(batch, n)``) for ``steps`` steps.

    ``method`` is a :class:`Method`, or a factory called with one value from each tensor in
    ``method_params`` (each of shape ``(batch,)``) so that every trajectory may have its own γ
    or σ; ``lr_factors`` (shape ``(batch,)``) scales each trajectory's learning rates.
    ``progress`` shows a progress bar on stderr.

    Raises ``ValueError`` when ``steps < 1`` or the run would take more than
    :data:`MAX_SIMULATION_MOVES` player moves per trajectory.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    moves = steps * moves_per_period(scheme) // max(1, int(scheme.period))
    if moves > MAX_SIMULATION_MOVES:
        raise ValueError(
            f"{steps:,} steps of {scheme.name} take {moves:,} player moves, more than the "
            f"limit of {MAX_SIMULATION_MOVES:,} per trajectory"
        )
    starts = starts.to(torch.float64) if starts.dtype != torch.float64 else starts
    batch = starts.shape[0]
    params = {
        k: torch.as_tensor(v, dtype=starts.dtype).expand(batch)
        for k, v in (method_params or {}).items()
    }
    factors = (
        torch.ones(batch, dtype=starts.dtype)
        if lr_factors is None
        else torch.as_tensor(lr_factors, dtype=starts.dtype).expand(batch)
    )
    probe = (
        method(**{k: v[0] for k, v in params.items()})
        if callable(method) and not isinstance(method, Method)
        else method
    )
    batch_template = game.expectation_batch(probe)
    sizes = tuple(int(s.numel()) for s in game.equilibrium())
    equilibrium = flatten(game.equilibrium())

    def run(start: Tensor, factor: Tensor, param_values: dict[str, Tensor]) -> Tensor:
        m = method(**param_values) if not isinstance(method, Method) else method
        s = scheme.scaled(factor)
        x = unflatten(start, sizes)
        field = GameField(game.generator, game.discriminator, m, batch_template)
        mover = GradientStep(clip=m.clip)
        state = s.init(field, mover, x)
        path = [start]
        bar = tqdm(
            range(steps),
            disable=not progress,
            desc="simulate",
            unit="step",
            file=sys.stderr,
            delay=1.0,  # only when it takes long
        )
        for t in bar:
            x, state = s.step(field, mover, x, state, t)
            path.append(flatten(x))
        return torch.stack(path)

    path = torch.func.vmap(run)(starts, factors, params)
    return Trajectories(path=path, equilibrium=equilibrium)
