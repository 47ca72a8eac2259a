"""Questions to a :class:`~convergan.api.Game`: its field, the leading eigenvalues of its
Jacobian, the spectral radius of an update scheme, the path-angle between two points, and the
verdict of a logged run. Each answer is a typed record with ``to_dict()``.

Every function is a thin layer over the library's own machinery, which the trainer and
``convergan spectrum``/``path-angle``/``verdict`` use too: the field is
:class:`~convergan.field.GameField`, the Jacobian products are
:class:`~convergan.analysis.spectrum.JacobianOperator`'s, the eigenvalues come from Krylov–Schur
through :func:`~convergan.analysis.eigensolver.leading_eigenvalues` (each with its residual),
the update operator is the scheme run on the linearised field
(:func:`~convergan.analysis.spectrum.update_spectrum`), the path-angle is
:func:`~convergan.analysis.path_angle.path_statistics` and the verdict's rules are
``convergan verdict``'s.

Nothing here changes the players: parameters are read as copies, and their buffers (BatchNorm
statistics) and the global torch RNGs are restored after each call
(:func:`~convergan.api.players.untouched`).

A method whose numbers follow a schedule is read at the game's step
(:meth:`Game.at_step <convergan.api.Game.at_step>`; 0 unless asked).

Points (``at``, ``start``, ``end``) are states of the game: ``None`` for the players' current
parameters, or anything :meth:`Game.state <convergan.api.Game.state>` takes (a pair of flat
tensors, of modules, or of ``state_dict()``s).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from convergan.analysis.eigensolver import Spectrum, arpack_tolerance
from convergan.analysis.path_angle import PathStatistics, path_statistics
from convergan.analysis.spectrum import (
    JacobianOperator,
    UpdateSpectrum,
    diagonal_preconditioner,
    field_spectrum,
    update_spectrum,
)
from convergan.api.game import Game
from convergan.api.players import untouched
from convergan.field import DISCRIMINATOR, GENERATOR, GameField, State
from convergan.runs.spectrum import evaluation_field
from convergan.schemes.spec import DEFAULT_SCHEME
from convergan.training.diagnostics import field_scalars


@dataclass(frozen=True)
class FieldValue:
    """The field ``v = (−∇_θ L_G, −∇_ψ L_D)`` of a game at one point, its norms and each
    player's loss terms (``adversarial``, each penalty's value, D's mean outputs)."""

    generator: Tensor = field(repr=False)  # v's generator part, −∇_θ L_G
    discriminator: Tensor = field(repr=False)  # v's discriminator part, −∇_ψ L_D
    norm: float  # ‖v‖
    norm_g: float
    norm_d: float
    generator_terms: dict[str, float]
    discriminator_terms: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "field_norm": self.norm,
            "field_norm_g": self.norm_g,
            "field_norm_d": self.norm_d,
            "generator_terms": dict(self.generator_terms),
            "discriminator_terms": dict(self.discriminator_terms),
        }


def field_value(game: Game, at: Any = None) -> FieldValue:
    """The field of ``game`` at ``at`` (default: the players' current parameters)."""
    x = _point(game, at)
    with untouched(game.generator, game.discriminator):
        v, (g_terms, d_terms) = game.field().evaluate(x)
    v = tuple(v_i.detach() for v_i in v)
    norms = field_scalars(v)
    return FieldValue(
        v[GENERATOR],
        v[DISCRIMINATOR],
        norms["diagnostics/field_norm"],
        norms["diagnostics/field_norm_g"],
        norms["diagnostics/field_norm_d"],
        _floats(g_terms),
        _floats(d_terms),
    )


def eigenvalues(
    game: Game,
    k: int = 6,
    which: str = "LR",
    *,
    at: Any = None,
    float64: bool = False,
    tol: float | None = None,
    seed: int = 0,
) -> Spectrum:
    """The ``k`` leading eigenvalues of the field's Jacobian ``J = v′(x)`` at ``at``, by
    ``which``: ``"LR"`` (largest real part: the most unstable direction), ``"LM"`` (largest
    magnitude: what limits the learning rate) or ``"LI"`` (largest |imaginary part|: the most
    rotational). Matrix-free (one backward per product, ``J`` never formed), each eigenvalue
    with its residual ``‖Ju − λu‖/‖u‖``; ``converged``: every pair met the tolerance.

    ``float64``: on float64 copies of the players and the batch (tighter residuals; the
    default tolerance is then tighter: :func:`~convergan.analysis.eigensolver.arpack_tolerance`).
    """
    field, x = _analysis_field(game, at, float64)
    with untouched(game.generator, game.discriminator):
        operator = JacobianOperator(field, x)
        return field_spectrum(operator, k, which, tol=arpack_tolerance(tol, float64), seed=seed)


def spectral_radius(
    game: Game,
    lr_g: float | None = None,
    lr_d: float | None = None,
    *,
    scheme: Any = DEFAULT_SCHEME,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    k: int = 6,
    at: Any = None,
    float64: bool = False,
    tol: float | None = None,
    seed: int = 0,
) -> UpdateSpectrum:
    """The spectral radius ρ of one period of an update scheme's Jacobian ``F′`` at ``at``,
    with learning rates ``lr_g``, ``lr_d`` (``lr_d`` defaults to ``lr_g``): below 1 the
    scheme converges locally at rate ρ per period (``ρ^(1/period)`` per step, the record's
    ``rate_per_step``), above 1 it moves away.

    ``scheme``: a registered scheme's name or mapping, as in a config's ``scheme:`` section
    (``"altgd"``: alternating, discriminator first, as training loops usually do; ``"simgd"``,
    ``"extragradient"``, ``{"name": "altgd", "d_steps": 2}``, ``{"name": "altgd",
    "lazy_every": 16}``), or a :class:`~convergan.schemes.Scheme` object.

    ``optimizers``: the ``torch.optim`` optimizers of the players (Adam, AdamW or RMSprop; one
    holding both players' parameters, or one each). Their second moments are frozen as a
    diagonal preconditioner ``1/(√v̂ + ε)`` of the gradient steps: the step an adaptive
    optimizer takes now, without momentum. Learning rates not given are read from them.

    The radius is the largest |μ| among the ``k`` largest-magnitude eigenvalues found
    (Krylov–Schur on the update operator, matrix-free): when the solve does not converge
    it is a lower bound.
    """
    lr_g, lr_d = _learning_rates(game, lr_g, lr_d, optimizers)
    built = _scheme(scheme, lr_g, lr_d)
    field, x = _analysis_field(game, at, float64)
    preconditioner = torch_preconditioner(game, optimizers) if optimizers else None
    gains = sorted({1.0, *built.regularization_gains})
    tol = arpack_tolerance(tol, float64)
    with untouched(game.generator, game.discriminator):
        operators = {g: JacobianOperator(field.with_regularization_gain(g), x) for g in gains}
        matvecs = {g: op.matvec for g, op in operators.items()}
        sizes = operators[1.0].sizes
        return update_spectrum(built, matvecs, sizes, k, preconditioner, tol=tol, seed=seed)


def path_angle(
    game: Game,
    start: Any,
    end: Any = None,
    *,
    points: int = 21,
    alphas: Sequence[float] | None = None,
    float64: bool = False,
) -> PathStatistics:
    """Path-angle along ``x(α) = start + α (end − start)`` (Berard et al., ICLR 2020), α in
    [−0.1, 1.1] at ``points`` values unless ``alphas`` are given: ``cos∠(v(x(α)), end −
    start)`` for the whole state and per player, ``‖v‖`` and both losses at each point.

    Read it as Berard et al. do: in a minimisation the cosine changes sign once, near α = 1,
    with a loss minimum there; a rotational game shows a bump: the cosine stays near 0 and
    peaks around α = 1 while ``‖v‖`` dips. ``end`` defaults to the current parameters."""
    field, first = _analysis_field(game, start, float64)
    _, last = _analysis_field(game, end, float64, field=field)
    with untouched(game.generator, game.discriminator):
        return path_statistics(field, first, last, alphas=alphas, points=points)


def torch_preconditioner(
    game: Game, optimizers: Sequence[torch.optim.Optimizer]
) -> tuple[Tensor, Tensor] | None:
    """Both players' frozen diagonal preconditioners ``1/(√v̂ + ε)``, read from ``torch.optim``
    optimizers (ones for a player whose optimizer keeps no second moments, e.g. SGD); ``None``
    if no player's does. Adam's ``v̂`` is bias-corrected, as its step uses it."""
    from convergan.optimizers import Adam, RMSprop

    factors = []
    for layout, name in zip(game.layouts, ("generator", "discriminator")):
        moments, settings = [], set()
        for parameter in layout.module.parameters():
            group, state = _optimizer_state(parameter, optimizers, name)
            key = next((k for k in ("exp_avg_sq", "square_avg") if k in state), None)
            if key is None:
                moments = None
                break
            if group.get("amsgrad") or group.get("centered"):
                raise ValueError(f"the {name}'s optimizer (amsgrad or centered) is not supported")
            moments.append(state[key].detach().reshape(-1))
            step = int(state.get("step", 0))
            settings.add((key, step, tuple(group.get("betas", ())), float(group["eps"])))
        if moments is None:
            factors.append(None)
            continue
        if len(settings) != 1:
            raise ValueError(f"the {name}'s parameters are at different optimizer settings")
        key, step, betas, eps = settings.pop()
        rule = Adam(betas=betas, eps=eps) if key == "exp_avg_sq" else RMSprop(eps=eps)
        state = {key: torch.cat(moments), "step": step}
        factors.append(diagonal_preconditioner(state, rule))
    if all(f is None for f in factors):
        return None
    return tuple(
        torch.ones(layout.size, dtype=torch.float64) if f is None else f
        for f, layout in zip(factors, game.layouts)
    )


def _optimizer_state(parameter, optimizers, name: str) -> tuple[Mapping, Mapping]:
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            if any(parameter is p for p in group["params"]):
                state = optimizer.state.get(parameter)
                if not state:
                    raise ValueError(
                        f"the {name}'s optimizer has taken no step yet: no second moments"
                    )
                return group, state
    raise ValueError(f"none of the optimizers given holds the {name}'s parameters")


def _learning_rates(game, lr_g, lr_d, optimizers) -> tuple[float, float]:
    if lr_g is None and optimizers:
        lr_g, lr_d_read = (_group_lr(layout, optimizers) for layout in game.layouts)
        lr_d = lr_d_read if lr_d is None else lr_d
    if lr_g is None:
        raise ValueError("spectral_radius needs the learning rates (lr_g, lr_d) or optimizers")
    lr_d = lr_g if lr_d is None else lr_d
    for name, lr in (("lr_g", lr_g), ("lr_d", lr_d)):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"{name} must be a positive number, got {lr!r}")
    return float(lr_g), float(lr_d)


def _group_lr(layout, optimizers) -> float:
    parameter = next(layout.module.parameters())
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            if any(parameter is p for p in group["params"]):
                return float(group["lr"])
    raise ValueError("none of the optimizers given holds the player's parameters")


def _scheme(scheme: Any, lr_g: float, lr_d: float):
    from convergan.schemes.core import Scheme
    from convergan.schemes.spec import TRAINING_SCHEME_DEFAULTS, parse_scheme

    if isinstance(scheme, Scheme):
        return scheme.with_rates(lr_g, lr_d)
    return parse_scheme(scheme, defaults=TRAINING_SCHEME_DEFAULTS).build(lr_g=lr_g, lr_d=lr_d)


def _point(game: Game, at: Any) -> State:
    return game.parameters() if at is None else game.state(at)


def _analysis_field(
    game: Game, at: Any, float64: bool, field: GameField | None = None
) -> tuple[GameField, State]:
    """The field the spectra and the path-angle differentiate (``torch.func`` route, as
    ``convergan spectrum``'s) at the game's step, float64 copies of the players when asked,
    and the point."""
    if field is None:
        field = evaluation_field(
            game.generator,
            game.discriminator,
            game.method,
            game.batch,
            step=game.step,
            float64=float64,
        )
    dtype = torch.float64 if float64 else game.batch.real.dtype
    device = game.batch.real.device
    return field, tuple(x_i.detach().to(device, dtype) for x_i in _point(game, at))


def _floats(terms: Mapping[str, Tensor]) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in terms.items()}


# ---------------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Verdict:
    """``convergan verdict``'s answer from a log of diagnostics (one of
    :data:`~convergan.analysis.verdict_rules.VERDICTS`: converging with its measured rate per
    step, at equilibrium, at noise floor, oscillating, diverging, inconclusive), the reason,
    the statistics behind it (the trend of ``ln ‖v‖``, the sampling-noise test, the floor)
    and the rules, in order."""

    verdict: str
    reason: str
    measured_rate_per_step: float | None
    trend: dict | None
    noise: dict | None
    floor: dict | None
    rules: tuple[str, ...]
    radius_per_step: float | None = None  # the local ρ^(1/period) the rules were given

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "measured_rate_per_step": self.measured_rate_per_step,
            "trend": self.trend,
            "noise": self.noise,
            "floor": self.floor,
            "spectral_radius_per_step": self.radius_per_step,
            "rules": list(self.rules),
        }


def verdict(
    source: Any,
    *,
    window: float = 0.5,
    radius_per_step: float | None = None,
) -> Verdict:
    """The verdict of a logged run: ``source`` is a :class:`~convergan.api.Monitor`, a folder
    (a monitor's or a convergan run's; its ``metrics.jsonl``) or the metrics rows themselves
    (dicts with ``step`` and the ``diagnostics/*`` values), judged over the last ``window``
    of the steps by ``convergan verdict``'s rules
    (:func:`~convergan.analysis.verdict_rules.assess`). ``radius_per_step``, a local
    ``ρ^(1/period)`` from :func:`spectral_radius` (its ``to_dict()["rate_per_step"]``), lets
    the rules check the trend against the local picture, as ``convergan verdict`` does at a
    checkpoint."""
    from convergan.analysis.verdict_rules import RULES, assess
    from convergan.training.directory import RunDirectory

    source = getattr(source, "folder", source)  # a Monitor: its folder
    if isinstance(source, (str, Path)):
        rows = RunDirectory(source).logged_metrics()
    else:
        rows = [dict(row) for row in source]
    result = assess(rows, window, radius_per_step)
    parts = (result.trend, result.noise, result.floor)
    trend, noise, floor = (None if part is None else part.to_dict() for part in parts)
    return Verdict(
        result.verdict, result.reason, result.rate, trend, noise, floor, tuple(RULES),
        radius_per_step,
    )  # fmt: skip
