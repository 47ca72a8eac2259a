"""Spectra of a run's checkpoints: the evaluation game, the schemes and one JSON record per step.

The evaluation game is a fixed :class:`~convergan.methods.Batch` drawn by the trainer's own
data stream and :class:`~convergan.training.batches.BatchSampler` (N real samples, N latents,
noise draws and interpolation coefficients) from ``seed``; N and the seed are recorded with
every result, and the same checkpoint and seed give the same eigenvalues. The field is the
run's method (``config.method.build()``), so ``method=r1`` means the same here as in training;
the schemes are the trainer's (``run``) or any registered scheme at the run's learning rates.
Where the config has schedules, all of this is "the spec at step t"
(:func:`~convergan.config.config_at`): the γ, σ, learning rates and Adam β's in force at the
checkpoint's step, the ones of the update that would move it next.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from convergan.analysis.eigensolver import (
    Spectrum,
    arpack_tolerance,
    check_k,
    leading_eigenvalues,
    start_vector,
)
from convergan.analysis.field_rate import field_scheme_spectrum
from convergan.analysis.spectrum import (
    JacobianOperator,
    ProductRoute,
    field_spectrum,
    scaled_field_operator,
    simgd_lr_scale_upper_bound,
    stable_lr_scale_intervals,
    update_spectrum,
)
from convergan.config.schema import config_at
from convergan.field import GameField, State
from convergan.methods.batch import Batch
from convergan.problems import Problem, make_problem
from convergan.runs.at_step import CheckpointAt
from convergan.training.batches import evaluation_batch
from convergan.training.directory import RunDirectory
from convergan.training.in_force import build_scheme

UPPER_BOUND_NOTE = (
    "simgd_lr_scale_upper_bound is an upper bound from the top-k eigenvalues (SimGD's rule "
    "2|Re eta|/|eta|^2 on H*P*J), not a certificate; stable_lr_scale_intervals, from the same "
    "eigenvalues, contains the true stable scales"
)


@dataclass(frozen=True)
class SpectrumSettings:
    """What to compute at each checkpoint. ``samples=None``: the problem's
    ``spectrum_samples`` (2000 for 2D problems, 512 for images)."""

    k: int = 10
    which: tuple[str, ...] = ("LR",)
    samples: int | None = None
    seed: int = 0
    schemes: tuple[str, ...] = ()  # "run" (the trainer's scheme) or registered scheme names
    preconditioned: bool = False
    float64: bool = False
    route: ProductRoute = "transpose"
    # Update operators on F′ᵀ (single backwards, no second graph) instead of F′ (J u by
    # double backward): no consistent gain (benchmarks/bench_spectrum_products.py), so off.
    update_transposed: bool = False
    tol: float | None = None  # None: by the dtype (analysis.eigensolver.arpack_tolerance)
    maxiter: int | None = None  # restarts at most (None: the solver's default)
    solver: str = "krylov-schur"  # or "arpack" (analysis.eigensolver.SOLVERS)
    lr_bound: bool = True  # with schemes: simgd_lr_scale_upper_bound (2 more solves, H*P*J)
    field_rate: bool = False  # with schemes: their spectral radius on the field (field_rate.py)
    device: str = "auto"  # where the products run: cpu, cuda or auto (the basis stays on the CPU)


def open_run(run_dir: str | Path) -> RunDirectory:
    """``run_dir`` with its checkpoints listed (one-line errors if it has none)."""
    run = RunDirectory.open(run_dir)
    if not run.steps():
        raise FileNotFoundError(f"{run.path} has no checkpoints")
    return run


def default_samples(config) -> int:
    return make_problem(config).spectrum_samples


def _cast(batch: Batch, dtype: torch.dtype) -> Batch:
    moved = {
        k: v.to(dtype) if isinstance(v, Tensor) and v.is_floating_point() else v
        for k, v in batch.__dict__.items()
    }
    return dataclasses.replace(batch, **moved)


def evaluation_field(
    generator, discriminator, method, batch: Batch, step: int = 0, float64: bool = False
) -> GameField:
    """The run's method on the fixed ``batch`` (the torch.func route); with
    ``float64`` the players and the batch are cast copies."""
    if float64:
        generator, discriminator = (
            copy.deepcopy(generator).double(),
            copy.deepcopy(discriminator).double(),
        )
        batch = _cast(batch, torch.float64)
    return GameField(generator, discriminator, method, batch, step=step)


def build_analysis_scheme(config, name: str):
    """``run``: the trainer's scheme as configured (order, steps, lazy regularization);
    otherwise the registered scheme ``name`` with its defaults. Both at ``optim.*.lr``."""
    from convergan.schemes.spec import parse_scheme

    if name == "run":
        return build_scheme(config)
    return parse_scheme(name).build(lr_g=config.optim.g.lr, lr_d=config.optim.d.lr)


def evaluation_game(
    config, method, latent_dim: int, samples: int | None, seed: int, problem: Problem | None = None
) -> tuple[Batch, int]:
    """The evaluation game of ``samples`` (``None``: the problem's ``spectrum_samples``) drawn
    from ``seed``, for ``config`` as in force at the step analysed, and its N. The one place
    a run's evaluation game is drawn for an analysis (:class:`~convergan.runs.at_step.
    CheckpointAt` draws it through here, once)."""
    problem = make_problem(config) if problem is None else problem
    samples = samples or problem.spectrum_samples
    return evaluation_batch(config, method, latent_dim, samples, seed, problem), samples


def analyze_players(
    config,
    generator,
    discriminator,
    x: State,
    step: int,
    settings: SpectrumSettings,
    preconditioner: tuple[Tensor, Tensor] | None = None,
    show_progress: bool = False,
    problem: Problem | None = None,
    world_size: int = 1,
    warm: dict[str, Spectrum] | None = None,
) -> dict:
    """Field and update-operator spectra of the players at ``x``: one JSON-ready record, with
    the config's values at ``step`` (``world_size``: the run's processes, for schedules in
    samples) and the learning rates used under ``"lr"``.

    ``warm``: the spectra of a previous checkpoint of the same run (or their start vectors),
    by ``which`` and ``"<scheme> update[ transposed]"``; each solve starts from their
    eigenvectors (fewer products: neighbouring checkpoints have nearby leading
    eigenvectors), and ``warm`` is updated with this checkpoint's."""
    config = config_at(config, step, world_size)
    method = config.method.build()
    batch, samples = evaluation_game(
        config, method, generator.latent_dim, settings.samples, settings.seed, problem
    )
    batch = batch.to(x[0].device) if x[0].device.type != "cpu" else batch
    field = evaluation_field(generator, discriminator, method, batch, step, settings.float64)
    dtype = torch.float64 if settings.float64 else x[0].dtype
    x = tuple(x_i.detach().to(dtype) for x_i in x)
    operators: dict[float, JacobianOperator] = {}

    def jacobian_at(gain: float) -> JacobianOperator:
        if gain not in operators:
            operators[gain] = JacobianOperator(
                field.with_regularization_gain(gain), x, settings.route
            )
        return operators[gain]

    return analyze_operators(
        config, jacobian_at, step, samples, settings, preconditioner, show_progress, warm
    )


def analyze_operators(
    config,
    jacobian_at: Callable[[float], JacobianOperator],
    step: int,
    samples: int,
    settings: SpectrumSettings,
    preconditioner: tuple[Tensor, Tensor] | None = None,
    show_progress: bool = False,
    warm: dict[str, Spectrum] | None = None,
) -> dict:
    """The record of :func:`analyze_players` from ``config`` as in force at ``step`` and the
    field's kept graphs (``jacobian_at(gain)``, built on first use and shared by every solve)."""
    schemes = [build_analysis_scheme(config, name) for name in settings.schemes]
    gains = sorted({1.0, *(g for s in schemes for g in s.regularization_gains)})
    jacobian = jacobian_at(1.0)
    check_k(settings.k, jacobian.n)
    dtype = jacobian.dtype
    tol = arpack_tolerance(settings.tol, dtype == torch.float64)
    solver = dict(tol=tol, maxiter=settings.maxiter, seed=settings.seed, solver=settings.solver)

    def solve(label: str, run):
        with _Progress(f"step {step} {label}", show_progress) as progress:
            return run(progress)

    warm = {} if warm is None else warm

    def field_solve(which: str, progress) -> Spectrum:
        initial = _start(warm.get(which), jacobian.n)
        spectrum = field_spectrum(
            jacobian, settings.k, which, progress=progress, initial=initial, **solver
        )
        warm[which] = spectrum
        return spectrum

    def update_solve(scheme, progress):
        key = f"{scheme.name} update{' transposed' if transposed else ''}"
        result = update_spectrum(
            scheme, products, sizes, settings.k, preconditioner, transposed, progress=progress,
            initial=_start(warm.get(key), None), **solver,
        )  # fmt: skip
        warm[key] = result.spectrum
        return result

    spectra = {
        which: solve(which, lambda p, w=which: field_solve(w, p)) for which in settings.which
    }
    record = _field_record(step, samples, settings, spectra, jacobian.n)
    record["lr"] = {"g": float(config.optim.g.lr), "d": float(config.optim.d.lr)}
    if schemes:
        # F′ by J u (a backward through a backward of the kept graph), or with
        # update_transposed F′ᵀ by Jᵀw alone: the same eigenvalues, no second graph.
        transposed = settings.update_transposed and settings.route == "transpose"
        operators = {g: jacobian_at(g) for g in gains}
        products = {g: op.rmatvec if transposed else op.matvec for g, op in operators.items()}
        sizes = jacobian.sizes
        results = [
            solve(f"{s.name} update", lambda p, s=s: update_solve(s, p)).to_dict() for s in schemes
        ]
        if settings.field_rate:
            matvecs = {g: op.matvec for g, op in operators.items()}
            for scheme, result in zip(schemes, results):
                on_field = solve(
                    f"{scheme.name} on the field",
                    lambda p, s=scheme: field_scheme_spectrum(
                        s, matvecs, sizes, settings.k, preconditioner, settings.seed
                    ),
                )
                result["on_field"] = {**on_field.to_dict(), "solver": on_field.spectrum.solver}
        record["schemes"] = results
        record.update(
            {k: results[0][k] for k in ("update_eigenvalues", "spectral_radius", "verdict")}
        )
        if not settings.lr_bound:
            return record
        values = _step_eigenvalues(config, jacobian, preconditioner, settings, solve, solver)
        record["simgd_lr_scale_upper_bound"] = simgd_lr_scale_upper_bound(values)
        # the ranges of scales, as dirac analyze reports rates; a null end is unbounded
        record["stable_lr_scale_intervals"] = [
            [lo, hi if math.isfinite(hi) else None] for lo, hi in stable_lr_scale_intervals(values)
        ]
        record["simgd_lr_scale_upper_bound_note"] = UPPER_BOUND_NOTE
    return record


def _start(previous, n: int | None) -> np.ndarray | None:
    """The start vector from a previous solve of the same kind: its :class:`Spectrum`
    (:func:`start_vector`) or the vector itself (saved by an earlier verdict); ``None`` when
    there is none, or it is not finite or not of length ``n`` (``None``: the solver checks)."""
    vector = start_vector(previous) if isinstance(previous, Spectrum) else previous
    if vector is None or not np.all(np.isfinite(vector)):
        return None
    if n is not None and np.shape(vector) != (n,):
        return None
    return np.asarray(vector, dtype=np.float64)


def _step_eigenvalues(config, jacobian, preconditioner, settings, solve, solver) -> np.ndarray:
    lrs = (config.optim.g.lr, config.optim.d.lr)
    transposed = jacobian.route == "transpose"
    step_operator = scaled_field_operator(
        jacobian.spectrum_product, jacobian.sizes, lrs, preconditioner, transposed
    )
    values = [
        solve(
            f"H*P*J {w}",
            lambda p, w=w: leading_eigenvalues(
                step_operator, jacobian.n, settings.k, w, progress=p, **solver
            ),
        ).eigenvalues
        for w in ("LR", "LM")
    ]
    return np.concatenate(values)


def _field_record(step, samples, settings, spectra: dict[str, Spectrum], n: int) -> dict:
    values = np.concatenate([s.eigenvalues for s in spectra.values()])
    residuals = np.concatenate([s.residuals for s in spectra.values()])
    found = _distinct(values)
    real, imag = np.real(found), np.abs(np.imag(found))
    leading = spectra.get("LM", next(iter(spectra.values()))).eigenvalues
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = imag / np.abs(real)
    return {
        "step": step,
        "samples": samples,
        "seed": settings.seed,
        "which": list(settings.which),
        "k": settings.k,
        "n_parameters": n,
        "dtype": "float64" if settings.float64 else "float32",
        "route": settings.route,
        "solver": settings.solver,
        "tol": arpack_tolerance(settings.tol, settings.float64),
        "eigenvalues": [[float(v.real), float(v.imag)] for v in values],
        "residuals": [float(r) for r in residuals],
        "eigenvalue_which": [w for w, s in spectra.items() for _ in s.eigenvalues],
        "converged": all(s.converged for s in spectra.values()),
        "matvecs": sum(s.matvecs for s in spectra.values()),
        "seconds": sum(s.seconds for s in spectra.values()),
        "max_real": float(real.max()) if len(found) else None,
        "max_abs_imag": float(imag.max()) if len(found) else None,
        "max_abs": float(np.abs(found).max()) if len(found) else None,
        "positive_real_fraction": float(np.mean(np.real(leading) > 0)) if len(leading) else None,
        "max_imag_over_real": float(np.nanmax(ratios)) if len(found) else None,
        "spectra": {w: s.to_dict() for w, s in spectra.items()},
    }


def _distinct(values: np.ndarray) -> np.ndarray:
    """The eigenvalues found by several ``which`` runs, each once."""
    kept: list[complex] = []
    for v in values:
        if not any(abs(v - w) <= 1e-8 * max(1.0, abs(v)) for w in kept):
            kept.append(v)
    return np.array(kept, dtype=complex)


def analyze_checkpoint(
    run: RunDirectory,
    step: int,
    settings: SpectrumSettings,
    show_progress: bool = False,
    warm: dict[str, Spectrum] | None = None,
    at: CheckpointAt | None = None,
) -> dict:
    """:func:`analyze_players` at checkpoint ``step`` of ``run`` (the raw generator, not the
    EMA: the EMA is not a point the scheme visits); ``warm`` as there. ``at``: the
    checkpoint already opened (its game, field and graphs are reused and kept)."""
    at = CheckpointAt(run, step, settings.device) if at is None else at
    preconditioner = at.preconditioner if settings.preconditioned else None
    if settings.preconditioned and preconditioner is None:
        raise ValueError("the run's optimizers keep no second moments to precondition with")
    _, samples = at.evaluation_game(settings.samples, settings.seed)

    def jacobian_at(gain: float) -> JacobianOperator:
        return at.jacobian(settings.samples, settings.seed, settings.float64, settings.route, gain)

    return analyze_operators(
        at.config, jacobian_at, step, samples, settings, preconditioner, show_progress, warm
    )


def save_evaluation_batch(run: RunDirectory, step: int, settings: SpectrumSettings, path) -> Path:
    """Write the evaluation game :func:`analyze_checkpoint` uses at ``step`` to ``path``
    (``torch.save`` of a dict: the batch's tensors by field name, ``None`` for unused draws,
    plus ``samples``, ``seed`` and ``step``), atomically. With the checkpoint's parameters
    and the run's method, it rebuilds the matrix ``J`` the spectrum is of."""
    from convergan.checkpoint import save_checkpoint

    batch, samples = CheckpointAt(run, step).evaluation_game(settings.samples, settings.seed)
    record = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}
    record.update(samples=samples, seed=settings.seed, step=step)
    return save_checkpoint(path, record)


class _Progress:
    """A tqdm bar on stderr counting the operator products as the solver asks for them, out of
    those planned for its current Krylov basis (so tqdm's estimate is that basis's), with the
    implicit restarts so far."""

    def __init__(self, description: str, enabled: bool) -> None:
        self.description, self.enabled, self.bar = description, enabled, None

    def __enter__(self):
        if not self.enabled:
            return None
        from tqdm import tqdm

        self.bar = tqdm(desc=self.description, unit="matvec", file=sys.stderr, dynamic_ncols=True)
        return self._update

    def _update(self, count: int, planned: int, restarts: int) -> None:
        if self.bar.total != max(planned, count):
            self.bar.total = max(planned, count)  # the residual checks come after the plan
            self.bar.set_postfix(restarts=restarts, refresh=False)
        self.bar.update(count - self.bar.n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
