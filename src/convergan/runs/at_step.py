"""A run at one checkpoint: what every run-level analysis of step ``t`` shares, built once.

:class:`CheckpointAt` holds the checkpoint of step ``t`` (loaded once), the config in force
there (:func:`~convergan.config.config_at`: the γ, σ, learning rates and Adam β's of the update
that would move it next), the run's players, the point ``x = (θ, ψ)``, and, built on first use
and kept, the frozen preconditioner, the evaluation game of each ``(N, seed)`` (drawn once, by
:func:`~convergan.runs.spectrum.evaluation_game`), the field on it and the field's kept graph
(:class:`~convergan.analysis.spectrum.JacobianOperator`) per regularization gain. The spectrum,
the path-angle and the verdict's local picture all take one: the verdict loads its last
checkpoint once, draws its evaluation game once, and its LR, LM and update-operator solves all
run on one graph.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor

from convergan.analysis.spectrum import JacobianOperator, ProductRoute, diagonal_preconditioner
from convergan.config.schema import config_at
from convergan.field import GameField, State
from convergan.methods.batch import Batch
from convergan.problems import Problem, make_problem
from convergan.training.directory import RunDirectory
from convergan.training.distributed import resolve_device
from convergan.training.optim import build_optimizer
from convergan.training.state_checkpoints import check_fits


class CheckpointAt:
    """Checkpoint ``step`` of ``run`` with everything derived from it cached.

    ``device``: where the players, the point, the game and the graph live (``cpu``, ``cuda``
    or ``auto``); the solver's basis stays on the CPU. The raw generator is analysed, not the EMA:
    the EMA is not a point the scheme visits."""

    def __init__(
        self,
        run: RunDirectory,
        step: int,
        device: str = "cpu",
        problem: Problem | None = None,
        players=None,
    ) -> None:
        self.run, self.step = run, step
        _, self.state = run.load(step)
        self.world_size = int(self.state.get("world_size") or 1)
        self.config = config_at(run.config, step, self.world_size)
        self.device = resolve_device(device)
        self.players = run.players() if players is None else players
        check_fits(self.players, self.state)
        self.players.generator.to(self.device), self.players.discriminator.to(self.device)
        self.x: State = (self.state["theta"].to(self.device), self.state["psi"].to(self.device))
        self._problem = problem
        self._games: dict[tuple, tuple[Batch, int]] = {}
        self._fields: dict[tuple, GameField] = {}
        self._operators: dict[tuple, JacobianOperator] = {}

    def next(self, step: int) -> CheckpointAt:
        """Checkpoint ``step`` of the same run, sharing the players and the problem."""
        return CheckpointAt(self.run, step, str(self.device), self._problem, self.players)

    @property
    def problem(self) -> Problem:
        if self._problem is None:
            self._problem = make_problem(self.config)
        return self._problem

    @cached_property
    def method(self):
        """The run's method as in force at the step."""
        return self.config.method.build()

    @property
    def n(self) -> int:
        return sum(int(x_i.numel()) for x_i in self.x)

    def evaluation_game(self, samples: int | None, seed: int) -> tuple[Batch, int]:
        """The evaluation game of ``samples`` (``None``: the problem's ``spectrum_samples``)
        drawn from ``seed``, and its N; drawn once per ``(samples, seed)``."""
        from convergan.runs.spectrum import evaluation_game

        key = (samples, seed)
        if key not in self._games:
            latent_dim = self.players.generator.latent_dim
            batch, n = evaluation_game(
                self.config, self.method, latent_dim, samples, seed, self.problem
            )
            batch = batch.to(self.device) if self.device.type != "cpu" else batch
            self._games[key] = (batch, n)
        return self._games[key]

    def field(self, samples: int | None, seed: int, float64: bool = False) -> GameField:
        """The run's method on the evaluation game, at this step (float64: cast copies)."""
        from convergan.runs.spectrum import evaluation_field

        key = (samples, seed, float64)
        if key not in self._fields:
            batch, _ = self.evaluation_game(samples, seed)
            generator, discriminator = self.players.generator, self.players.discriminator
            self._fields[key] = evaluation_field(
                generator, discriminator, self.method, batch, self.step, float64
            )
        return self._fields[key]

    def point(self, float64: bool = False) -> State:
        dtype = torch.float64 if float64 else self.x[0].dtype
        return tuple(x_i.detach().to(dtype) for x_i in self.x)

    def jacobian(
        self,
        samples: int | None,
        seed: int,
        float64: bool = False,
        route: ProductRoute = "transpose",
        gain: float = 1.0,
    ) -> JacobianOperator:
        """``J = v′(x)`` on the evaluation game at regularization gain ``gain``, its graph
        built once and kept for every solve that asks for it."""
        key = (samples, seed, float64, route, float(gain))
        if key not in self._operators:
            field = self.field(samples, seed, float64).with_regularization_gain(gain)
            self._operators[key] = JacobianOperator(field, self.point(float64), route)
        return self._operators[key]

    @cached_property
    def preconditioner(self) -> tuple[Tensor, Tensor] | None:
        """The optimizers' second moments frozen as a diagonal preconditioner (``None`` for
        optimizers without them)."""
        return run_preconditioner(self.config, self.state)


def optimizer_states(checkpoint: dict) -> tuple:
    """Each player's optimizer state in a checkpoint: the movers' states in the scheme state
    (``(None, None)`` when it holds none)."""
    scheme_state = checkpoint.get("scheme_state")
    if scheme_state and scheme_state.get("moves"):
        return tuple(scheme_state["moves"])
    return (None, None)


def run_preconditioner(config, checkpoint: dict) -> tuple[Tensor, Tensor] | None:
    """The frozen diagonal preconditioner of a checkpoint's optimizers."""
    sizes = (checkpoint["theta"].numel(), checkpoint["psi"].numel())
    return preconditioner_from_states(config, optimizer_states(checkpoint), sizes)


def preconditioner_from_states(config, states, sizes) -> tuple[Tensor, Tensor] | None:
    """Both players' frozen diagonal preconditioners from their optimizer states (ones for a
    player without second moments); ``None`` if neither optimizer keeps any."""

    optimizers = (build_optimizer(config.optim.g), build_optimizer(config.optim.d))
    factors = [diagonal_preconditioner(s, o) for s, o in zip(states, optimizers)]
    if all(f is None for f in factors):
        return None
    return tuple(
        torch.ones(n, dtype=torch.float64) if f is None else f for f, n in zip(factors, sizes)
    )
