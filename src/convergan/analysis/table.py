"""The Dirac-GAN study table: every method × scheme, checked against the closed forms."""

from __future__ import annotations

from dataclasses import dataclass

from convergan import theory
from convergan.analysis.local import LocalAnalysis, analyze
from convergan.games import dirac_gan
from convergan.methods.presets import PRESETS, make_method
from convergan.schemes import AltGD, Extragradient, Optimistic, Scheme, SimGD

TABLE_SCHEMES = {
    "simgd": SimGD,
    "altgd": AltGD,
    "extragradient": Extragradient,
    "optimistic": Optimistic,
}


@dataclass(frozen=True)
class TableRow:
    method: str
    params: dict[str, float]
    analysis: LocalAnalysis
    theory_eigenvalues: list[complex] | None
    theory_error: float | None  # max |λ_numeric − λ_closed form| over matched eigenvalues


def eigenvalue_error(numeric: list[complex], closed: list[complex]) -> float:
    """Largest distance between the two sets, matched greedily (they are tiny)."""
    remaining = list(closed)
    worst = 0.0
    for value in numeric:
        nearest = min(remaining, key=lambda c: abs(c - value))
        remaining.remove(nearest)
        worst = max(worst, abs(nearest - value))
    return worst


def theory_check(name: str, params: dict[str, float], result: LocalAnalysis):
    closed = theory.jacobian_eigenvalues(
        name, gamma=params.get("gamma", 0.0), sigma=params.get("sigma", 0.0)
    )
    if closed is None or result.jacobian_eigenvalues is None:
        return closed, None
    return closed, eigenvalue_error(result.jacobian_eigenvalues.tolist(), closed)


def dirac_table(lr: float = 0.5, schemes: dict[str, type[Scheme]] | None = None) -> list[TableRow]:
    """Analyse every preset (default hyperparameters) with every scheme at learning rate ``lr``."""
    game = dirac_gan()
    rows = []
    for name, preset in PRESETS.items():
        method = make_method(name)
        for scheme_cls in (schemes or TABLE_SCHEMES).values():
            result = analyze(game, method, scheme_cls(lr=lr))
            closed, error = theory_check(name, preset.defaults, result)
            rows.append(TableRow(name, dict(preset.defaults), result, closed, error))
    return rows
