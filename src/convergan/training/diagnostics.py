"""Convergence diagnostics during training (``eval.diagnostics``): the field on a fixed
evaluation game, and how the players moved since the last look.

Every ``eval.diagnostics.every`` steps (and at the end) the main process evaluates the run's
method field ``v = (−∇_θ L_G, −∇_ψ L_D)`` once, at the current parameters, on the evaluation
game (:func:`~convergan.training.batches.evaluation_batch`: ``eval.diagnostics.samples``
samples, by default a training batch's worth, drawn from the run's ``seed``: the same game
at every step, so changes in ``‖v‖`` come from the players alone). Logged as

- ``diagnostics/field_norm``, ``diagnostics/field_norm_g``, ``diagnostics/field_norm_d``:
  ``‖v‖`` and its generator and discriminator parts;
- ``diagnostics/distance_per_step``: ``‖x_t − x_s‖ / (t − s)``, ``s`` the previous
  diagnostics step, or the start (:meth:`FieldDiagnostics.begin`); that position is part of
  the training state, so a resumed run logs what an uninterrupted one does;
- ``diagnostics/cosine``: ``cos∠(v(x_t), x_t − x_s)``: near 1 while the players move along
  the field; low or negative when the field turns between two looks (rotation).

With ``eval.diagnostics.games = K ≥ 2`` (default 2) the field is also evaluated on ``K − 1``
further evaluation games, independent of the first (:func:`evaluation_games`). The field on
an N-sample game is the true field plus sampling noise of order 1/√N, and the spread of the
K fields measures that noise (:func:`noise_scalars`):

- ``diagnostics/field_noise``: ``η``, the estimated norm of one game's sampling noise,
  ``η² = Σ_k ‖v_k − v̄‖² / (K − 1)`` (each game's noise has mean 0 and the same covariance,
  so this is unbiased for ``E ‖v_k − E v‖²``);
- ``diagnostics/field_signal_sq``: ``‖v̄‖² − η²/K``, unbiased for ``‖E v‖²``, the squared norm
  of the true field (it may come out negative when the true field is smaller than the noise).

For a game without sampling noise (the Dirac-GAN's exact expectations, a fixed finite game)
all K fields are equal and ``η = 0``. The verdict's rules (:mod:`convergan.analysis.verdict_rules`)
compare the two.

The field is the run's method at the step (a scheduled γ or σ at its value there, the value
:func:`~convergan.config.config_at` gives) at regularization gain 1 (under lazy regularization,
the average field the lazy steps follow), as plain gradients: the optimizer's preconditioner
is not applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from convergan.field import DISCRIMINATOR, GENERATOR, GameField, State
from convergan.training.batches import evaluation_batch
from convergan.training.callbacks import StepEvent

PREFIX = "diagnostics/"


LOOKS_PER_RUN = 80  # the default interval's target: the verdict's window then holds ~40
MIN_DEFAULT_EVERY = 10  # short runs: no more than one look every 10 steps by default


def diagnostics_samples(config) -> int:
    """The evaluation game's size: ``eval.diagnostics.samples``, else ``data.batch_size`` (a
    field evaluation then costs about one training step's, and any dataset a run trains on
    has that many samples)."""
    return config.eval.diagnostics.samples or config.data.batch_size


def diagnostics_every(config) -> int:
    """Steps between looks: ``eval.diagnostics.every``, else ``train.steps // 80`` (at least
    10), about 80 looks a run: the verdict's rules need 20 in the last half."""
    every = config.eval.diagnostics.every
    if every is not None:
        return every
    return max(MIN_DEFAULT_EVERY, config.train.steps // LOOKS_PER_RUN)


def game_seed(seed: int, game: int) -> int:
    """The seed of evaluation game ``game`` (0 is the run's own ``seed``; the others are
    offset far beyond any seed axis a sweep uses, so no two games of a run coincide)."""
    return seed if game == 0 else seed + 1_000_003 * game


def evaluation_games(config, method, latent_dim: int, problem=None) -> list:
    """The ``eval.diagnostics.games`` evaluation games of the diagnostics: the run's own
    (seed ``config.seed``, as the spectrum and the path-angle draw it) first, then the
    independent ones that measure the sampling noise."""
    samples = diagnostics_samples(config)
    return [
        evaluation_batch(config, method, latent_dim, samples, game_seed(config.seed, k), problem)
        for k in range(config.eval.diagnostics.games)
    ]


class FieldDiagnostics:
    """The ``eval.diagnostics`` callback (off at ``every = 0``)."""

    def __init__(self) -> None:
        self.fields: list[GameField] | None = None

    def begin(self, state) -> None:
        """Before the first step: a new run measures its first look's displacement from its
        start (a run resumed from a checkpoint of an older version, from the checkpoint)."""
        if state.diagnostics_from is None:
            state.diagnostics_from = (state.step, torch.cat(state.x).detach().clone())

    def __call__(self, event: StepEvent) -> dict[str, float] | None:
        run = event.run
        every = diagnostics_every(run.config)
        if not (every and run.dist.is_main and event.every(every)):
            return None
        state = event.state
        fields = self._fields(run, event.step)
        scalars, state.diagnostics_from = look(fields, state.x, event.step, state.diagnostics_from)
        return scalars

    def _fields(self, run, step: int) -> list[GameField]:
        """The fields at the state after ``step`` steps: the run's method (its scheduled
        numbers as in force there, as the spectrum takes them) on each evaluation game, the
        method built and the games drawn once."""
        if self.fields is None:
            config, device = run.config, run.dist.device
            method = config.method.build(config.data.batch_size * run.dist.world_size)
            games = evaluation_games(config, method, run.players.latent_dim, run.problem)
            self.fields = [
                GameField(
                    run.generator,
                    run.discriminator,
                    method,
                    game.to(device) if device.type != "cpu" else game,
                    route="eager",
                )
                for game in games
            ]
        return [field.at_step(step) for field in self.fields]


def look(
    fields: Sequence[Callable[[State], State]],
    x: State,
    step: int,
    since: tuple[int, torch.Tensor] | None,
) -> tuple[dict[str, float], tuple[int, torch.Tensor]]:
    """One look of the diagnostics at the state ``x`` after ``step`` steps: the logged scalars
    and the position the next look measures its displacement from. ``fields`` are the field
    on each evaluation game, the run's own first; ``since`` is ``(step, flat state)`` of the
    previous look (or the start), ``None`` for none. The trainer's callback and the
    training-loop monitor (:class:`convergan.api.Monitor`) both look through here."""
    x = tuple(x_i.detach() for x_i in x)
    values = [field(x) for field in fields]
    v = values[0]
    scalars = field_scalars(v)
    scalars.update(noise_scalars([torch.cat(value) for value in values]))
    flat = torch.cat(x)
    if since is not None and since[0] < step:
        before_step, before = since
        moved = flat - before
        distance = float(torch.linalg.vector_norm(moved))
        scalars[PREFIX + "distance_per_step"] = distance / (step - before_step)
        scalars[PREFIX + "cosine"] = cosine(torch.cat(v), moved)
    return scalars, (step, flat.clone())


def field_scalars(v) -> dict[str, float]:
    """``‖v‖`` and its players' parts, as logged."""
    g, d = (float(torch.linalg.vector_norm(v[i])) for i in (GENERATOR, DISCRIMINATOR))
    return {
        PREFIX + "field_norm": math.hypot(g, d),
        PREFIX + "field_norm_g": g,
        PREFIX + "field_norm_d": d,
    }


def noise_scalars(fields: list[torch.Tensor]) -> dict[str, float]:
    """The sampling noise of the field and the size of the true field, from its values
    ``fields`` (flat) on K ≥ 2 independent evaluation games (none for K = 1): ``η`` with
    ``η² = Σ_k ‖v_k − v̄‖² / (K − 1)`` and ``‖v̄‖² − η²/K``, unbiased for one game's
    ``E‖noise‖²`` and for ``‖E v‖²`` (the cross terms of independent zero-mean noises
    vanish in expectation)."""
    k = len(fields)
    if k < 2:
        return {}
    stacked = torch.stack([f.detach().double() for f in fields])
    mean = stacked.mean(dim=0)
    noise_sq = float(((stacked - mean) ** 2).sum()) / (k - 1)
    signal_sq = float((mean**2).sum()) - noise_sq / k
    return {PREFIX + "field_noise": math.sqrt(noise_sq), PREFIX + "field_signal_sq": signal_sq}


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    norms = float(torch.linalg.vector_norm(a)) * float(torch.linalg.vector_norm(b))
    return float(torch.dot(a, b)) / norms if norms > 0 else math.nan
