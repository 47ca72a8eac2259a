"""Study tables: every method × scheme on a game, checked against the closed forms.

* ``dirac``: every registered preset on the Dirac-GAN (:func:`dirac_table`).
* ``two-points``: the non-saturating loss and RpGAN, each unregularized, with R1, with R2 and
  with R1 + R2, on the two-point game where the two losses differ (:func:`two_point_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

from convergan import theory
from convergan.analysis.local import LocalAnalysis, analyze
from convergan.games import dirac_gan
from convergan.games.two_points import two_point_game
from convergan.methods.parse import parse_method
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
    ``progress``: a bar of the rows on stderr (the table takes seconds: "Speed of dirac
    analyze" in docs/results/benchmarks.md)."""
    import sys

    from tqdm import tqdm

    game = dirac_gan()
    rows = []
    schemes = schemes or tuple(SCHEMES.names())
    with tqdm(total=len(METHODS.names()) * len(schemes), desc="dirac table", unit="row",
              disable=not progress, file=sys.stderr, leave=False) as bar:  # fmt: skip
        for name in METHODS.names():  # the bar is cleared also when an analysis raises
            spec = preset_spec(name)
            method = spec.build()
            for scheme_name in schemes:
                result = analyze(game, method, SCHEMES[scheme_name](lr=lr))
                closed, error = theory_check(spec, result)
                rows.append(TableRow(spec, result, closed, error))
                bar.update()
    return rows


# The two-point table: the standard (non-saturating) loss against RpGAN, with the penalties
# of R3GAN, each at the penalties' default γ.
TWO_POINT_LOSSES = ("nonsaturating", "rpgan")
TWO_POINT_PENALTIES = ((), ("r1",), ("r2",), ("r1", "r2"))


def two_point_specs() -> list[MethodSpec]:
    return [
        parse_method({"loss": loss, "penalties": list(penalties)})
        for loss in TWO_POINT_LOSSES
        for penalties in TWO_POINT_PENALTIES
    ]


def two_point_closed_form(spec: MethodSpec) -> list[complex] | None:
    """:func:`theory.two_point_eigenvalues` for a loss with zero-centred R1/R2 penalties (their
    weights add); ``None`` for anything else."""
    if spec.noise is not None or spec.clip is not None or spec.consensus is not None:
        return None
    if any(p.name not in ("r1", "r2") for p in spec.penalties):
        return None
    gamma = sum(float(p.gamma) for p in spec.penalties)
    return theory.two_point_eigenvalues(spec.loss, gamma)


def two_point_table(lr: float = 0.5, schemes: tuple[str, ...] | None = None) -> list[TableRow]:
    """Analyse :func:`two_point_specs` with every registered scheme at ``lr`` on the two-point
    game (:mod:`convergan.games.two_points`)."""
    game = two_point_game()
    rows = []
    for spec in two_point_specs():
        method = spec.build()
        for scheme_name in schemes or SCHEMES.names():
            result = analyze(game, method, SCHEMES[scheme_name](lr=lr))
            closed = two_point_closed_form(spec)
            error = None
            if closed is not None and result.jacobian_eigenvalues is not None:
                error = eigenvalue_error(result.jacobian_eigenvalues.tolist(), closed)
            rows.append(TableRow(spec, result, closed, error))
    return rows


TABLES = {"dirac": dirac_table, "two-points": two_point_table}
"""The tables by game name (``convergan dirac table --game NAME``)."""
