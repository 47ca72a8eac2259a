"""The Dirac-GAN study table: every method × scheme, checked against the closed forms."""

from __future__ import annotations

from dataclasses import dataclass

from convergan import theory
from convergan.analysis.local import LocalAnalysis, analyze
from convergan.games import dirac_gan
from convergan.methods.presets import preset_spec
from convergan.methods.spec import MethodSpec
from convergan.registry import METHODS, SCHEMES


@dataclass(frozen=True)
class TableRow:
    spec: MethodSpec
    analysis: LocalAnalysis
    theory_eigenvalues: list[complex] | None
    theory_error: float | None  # max |λ_numeric − λ_closed form| over matched eigenvalues

    @property
    def method(self) -> str:
        return self.spec.name

    @property
    def params(self) -> dict[str, float]:
        return self.spec.hyperparameters


def eigenvalue_error(numeric: list[complex], closed: list[complex]) -> float:
    """Largest distance between the two sets, matched greedily (they are tiny)."""
    remaining = list(closed)
    worst = 0.0
    for value in numeric:
        nearest = min(remaining, key=lambda c: abs(c - value))
        remaining.remove(nearest)
        worst = max(worst, abs(nearest - value))
    return worst


def closed_form_eigenvalues(spec: MethodSpec) -> list[complex] | None:
    """The Dirac-GAN eigenvalues of ``spec`` by :func:`theory.composed_jacobian`, or ``None``
    where there is no closed form (a loss outside :data:`theory.LOSS_DERIVATIVES`, a penalty
    with a nonzero target)."""
    if spec.loss not in theory.LOSS_DERIVATIVES:
        return None
    a, b = theory.LOSS_DERIVATIVES[spec.loss]
    gamma = 0.0
    for p in spec.penalties:
        if float(dict(p.params).get("target", 0.0)) != 0.0:
            return None
        gamma += float(p.gamma)
    sigma = 0.0 if spec.noise is None else float(spec.noise.sigma)
    consensus = 0.0 if spec.consensus is None else float(spec.consensus)
    return theory.eigenvalues_2x2(theory.composed_jacobian(a, b, gamma, sigma, consensus))


def theory_check(spec: MethodSpec, result: LocalAnalysis):
    closed = closed_form_eigenvalues(spec)
    if closed is None or result.jacobian_eigenvalues is None:
        return closed, None
    return closed, eigenvalue_error(result.jacobian_eigenvalues.tolist(), closed)


def dirac_table(
    lr: float = 0.5, schemes: tuple[str, ...] | None = None, progress: bool = False
) -> list[TableRow]:
    """Analyse every preset (default hyperparameters) with every registered scheme at ``lr``;
    ``progress``: a bar of the rows on stderr (the table takes 10-30 s)."""
    import sys

    from tqdm import tqdm

    game = dirac_gan()
    rows = []
    schemes = schemes or tuple(SCHEMES.names())
    bar = tqdm(total=len(METHODS.names()) * len(schemes), desc="dirac table", unit="row",
               disable=not progress, file=sys.stderr, leave=False)  # fmt: skip
    for name in METHODS.names():
        spec = preset_spec(name)
        method = spec.build()
        for scheme_name in schemes:
            result = analyze(game, method, SCHEMES[scheme_name](lr=lr))
            closed, error = theory_check(spec, result)
            rows.append(TableRow(spec, result, closed, error))
            bar.update()
    bar.close()
    return rows
