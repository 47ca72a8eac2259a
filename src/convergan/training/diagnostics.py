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

The field is the method in force at the step (:func:`~convergan.config.config_at`: a
scheduled γ or σ at its value there) at regularization gain 1 (under lazy regularization,
the average field the lazy steps follow), as plain gradients: the optimizer's preconditioner
is not applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from convergan.config.schema import config_at
from convergan.field import DISCRIMINATOR, GENERATOR, GameField, State
from convergan.training.batches import evaluation_batch
from convergan.training.callbacks import StepEvent

PREFIX = "diagnostics/"


def diagnostics_samples(config) -> int:
    """The evaluation game's size: ``eval.diagnostics.samples``, else ``data.batch_size`` (a
    field evaluation then costs about one training step's, and any dataset a run trains on
    has that many samples)."""
    return config.eval.diagnostics.samples or config.data.batch_size


class FieldDiagnostics:
    """The ``eval.diagnostics`` callback (off at ``every = 0``)."""

    def __init__(self) -> None:
        self.field: GameField | None = None

    def begin(self, state) -> None:
        """Before the first step: a new run measures its first look's displacement from its
        start (a run resumed from a checkpoint of an older version, from the checkpoint)."""
        if state.diagnostics_from is None:
            state.diagnostics_from = (state.step, torch.cat(state.x).detach().clone())

    def __call__(self, event: StepEvent) -> dict[str, float] | None:
        run = event.run
        every = run.config.eval.diagnostics.every
        if not (every and run.dist.is_main and event.every(every)):
            return None
        state = event.state
        field = self._field(run, event.step)
        since = state.diagnostics_from
        scalars, state.diagnostics_from = look([field], state.x, event.step, since)
        return scalars

    def _field(self, run, step: int) -> GameField:
        """The field at the state after ``step`` steps: the method in force there (the spec
        at step t, as the spectrum takes it) on the evaluation game, drawn once."""
        config = config_at(run.config, step, run.dist.world_size)
        method = config.method.build()
        if self.field is None:
            batch = evaluation_batch(
                config,
                method,
                run.players.latent_dim,
                diagnostics_samples(config),
                config.seed,
                run.problem,
            )
            device = run.dist.device
            batch = batch.to(device) if device.type != "cpu" else batch
            self.field = GameField(run.generator, run.discriminator, method, batch, route="eager")
        return self.field.at_step(step, method)


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
    v = fields[0](x)
    scalars = field_scalars(v)
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


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    norms = float(torch.linalg.vector_norm(a)) * float(torch.linalg.vector_norm(b))
    return float(torch.dot(a, b)) / norms if norms > 0 else math.nan
