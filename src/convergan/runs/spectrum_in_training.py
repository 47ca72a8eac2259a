"""``eval.spectrum``: the local picture every few hundred steps, on a budget of products.

Each look builds the field's kept graph on the evaluation game (the run's seed, as
``convergan spectrum``) and spends ``eval.spectrum.products`` products on each of two
operators: ``Jᵀ`` (every ``which`` of the field from the same subspace) and the run's update
operator ``F′ᵀ`` (preconditioned by the live optimizer state, each product single backwards
through the kept graph: :func:`~convergan.analysis.spectrum.transposed_update_operator`).
Leading Ritz values come from Rayleigh–Ritz on those subspaces
(:mod:`convergan.analysis.ritz`), started from the previous look's Ritz vectors, and the log
states their accuracy: ``spectrum/max_residual``, the largest ``‖A u − θ u‖ / ‖u‖`` among the
Ritz pairs whose values are logged, and ``spectrum/converged`` (that residual within 1e-3 of
the largest |θ|).

``products: 0`` solves to the float32 tolerance instead: the numbers of
``convergan spectrum --scheme run --preconditioned`` at the same checkpoint, at several times
the cost (``benchmarks/bench_spectrum_in_training.py``).
"""

from __future__ import annotations

import numpy as np

from convergan.analysis.eigensolver import Spectrum
from convergan.analysis.ritz import krylov_subspace, ritz_spectrum, warm_rows
from convergan.analysis.spectrum import JacobianOperator, transposed_update_operator
from convergan.config.schema import config_at
from convergan.runs.at_step import preconditioner_from_states
from convergan.runs.spectrum import (
    SpectrumSettings,
    analyze_players,
    build_analysis_scheme,
    evaluation_field,
    evaluation_game,
)

TOLERANCE = 1e-3  # a logged Ritz value counts as converged within this of the largest |θ|


def _abs_imag(values: np.ndarray) -> np.ndarray:
    return np.abs(np.imag(values))


class InTrainingSpectrum:
    """The in-training record of ``eval.spectrum``, keeping each look's Ritz vectors (or
    ARPACK's eigenvectors) to start the next look from."""

    def __init__(self) -> None:
        self.warm: dict[str, list[Spectrum] | Spectrum] = {}

    def __call__(
        self, config, generator, discriminator, x, step: int, scheme_state, problem=None,
        world_size: int = 1,
    ) -> dict[str, float]:  # fmt: skip
        """The field's largest real part, largest |Im| and largest |λ| among the leading
        eigenvalues, the spectral radius of the run's scheme at its learning rates, and how
        accurate they are, all as in force at ``step``."""
        now = config_at(config, step, world_size)
        moves = getattr(scheme_state, "moves", None) or (None, None)
        sizes = (int(x[0].numel()), int(x[1].numel()))
        preconditioner = preconditioner_from_states(now, moves, sizes)
        if not now.eval.spectrum.products:
            return self._arpack(
                config, generator, discriminator, x, step, preconditioner, problem, world_size
            )
        return self._ritz(now, generator, discriminator, x, step, preconditioner, problem)

    def _ritz(self, now, generator, discriminator, x, step, preconditioner, problem) -> dict:
        options = now.eval.spectrum
        method = now.method.build()
        batch, _ = evaluation_game(
            now, method, generator.latent_dim, options.samples, now.seed, problem
        )
        batch = batch.to(x[0].device) if x[0].device.type != "cpu" else batch
        field = evaluation_field(generator, discriminator, method, batch, step)
        point = tuple(x_i.detach() for x_i in x)
        scheme = build_analysis_scheme(now, "run")
        gains = sorted({1.0, *scheme.regularization_gains})
        operators = {g: JacobianOperator(field.with_regularization_gain(g), point) for g in gains}
        jacobian = operators[1.0]
        budget = options.products

        def subspace(key: str, product, n: int):
            previous = self.warm.get(key, [])
            initial = warm_rows(previous, budget // 2)
            return krylov_subspace(product, n, budget, initial=initial, seed=now.seed)

        on_field = subspace("field", jacobian.rmatvec, jacobian.n)
        spectra = [ritz_spectrum(on_field, options.k, w, TOLERANCE) for w in options.which]
        self.warm["field"] = spectra
        products = {g: op.rmatvec for g, op in operators.items()}
        apply, m = transposed_update_operator(scheme, products, jacobian.sizes, preconditioner)
        update = ritz_spectrum(subspace("update", apply, m), options.k, "LM", TOLERANCE)
        self.warm["update"] = [update]
        values = np.concatenate([s.eigenvalues for s in spectra])
        residuals = np.concatenate([s.residuals for s in spectra])
        # the Ritz pairs whose values are logged, and how far each is from an eigenpair
        logged = [int(np.argmax(f(values))) for f in (np.real, _abs_imag, np.abs)]
        top = int(np.argmax(np.abs(update.eigenvalues)))
        worst = max(*(residuals[i] for i in logged), update.residuals[top])
        scale = max(float(np.abs(values).max()), float(np.abs(update.eigenvalues[top])))
        return {
            "spectrum/max_real": float(np.real(values[logged[0]])),
            "spectrum/max_abs_imag": float(abs(np.imag(values[logged[1]]))),
            "spectrum/max_abs": float(np.abs(values[logged[2]])),
            "spectrum/update_radius": float(np.abs(update.eigenvalues[top])),
            "spectrum/converged": float(worst <= TOLERANCE * scale),
            "spectrum/max_residual": float(worst),
        }

    def _arpack(
        self, config, generator, discriminator, x, step, preconditioner, problem, world_size
    ) -> dict:
        options = config.eval.spectrum
        settings = SpectrumSettings(
            k=options.k,
            which=tuple(options.which),
            samples=options.samples,
            seed=config.seed,
            schemes=("run",),
            preconditioned=True,
            lr_bound=False,  # not logged: two solves on H*P*J fewer
        )
        record = analyze_players(
            config, generator, discriminator, x, step, settings, preconditioner,
            problem=problem, world_size=world_size, warm=self.warm,
        )  # fmt: skip
        residuals = [*record["residuals"], *record["schemes"][0]["update_residuals"]]
        return {
            "spectrum/max_real": record["max_real"],
            "spectrum/max_abs_imag": record["max_abs_imag"],
            "spectrum/max_abs": record["max_abs"],
            "spectrum/update_radius": record["spectral_radius"],
            "spectrum/converged": float(record["converged"] and record["schemes"][0]["converged"]),
            "spectrum/max_residual": float(max(residuals)),
        }
