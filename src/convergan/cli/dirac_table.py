"""``convergan dirac table``: every method x scheme as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import math
import sys
import time

from convergan import theory
from convergan.cli.errors import UsageError
from convergan.cli.threads import one_thread

# The games ``dirac table --game`` takes: the keys of convergan.analysis.table.TABLES (named
# here too so that --help imports no torch; a test checks the two agree).
TABLE_GAMES = ("dirac", "two-points")
GAME_TITLES = {
    "dirac": "Dirac-GAN",
    "two-points": "two-point game (data +-1, G = theta1 + theta2 z, D = psi1 x + psi2 x^2/2)",
}


def eigenvalue_pairs(values) -> list[list[float]] | None:
    """Complex eigenvalues as JSON-friendly [re, im] pairs."""
    if values is None:
        return None
    return [[float(z.real), float(z.imag)] for z in values.tolist()]


def readable(value: float, decimals: int = 6, sign: str = "") -> str:
    """``value`` with ``decimals`` decimals where that reads well (magnitudes 1e-4 to 1e6,
    and 0), else in ``%g`` form with as many significant digits: ``1e+308``, never a
    309-digit number. ``sign="+"`` always shows the sign."""
    if value == 0 or not math.isfinite(value) or 1e-4 <= abs(value) < 1e6:
        return f"{value:{sign}.{decimals}f}"
    return f"{value:{sign}.{decimals}g}"


def format_complex(pair, decimals: int = 6) -> str:
    re, im = pair
    return f"{readable(re, decimals, '+')}{readable(im, decimals, '+')}i"


def run_table(args) -> int:
    if not math.isfinite(args.lr) or args.lr <= 0:
        raise UsageError(f"--lr must be > 0, got {args.lr}")
    from convergan.analysis.table import TABLES  # torch: not needed for --help

    started = time.perf_counter()
    game = getattr(args, "game", "dirac")
    table = TABLES[game]
    options = {"progress": True} if table is TABLES["dirac"] else {}
    try:
        with one_thread():
            rows = table(lr=args.lr, **options)
    except ValueError as error:  # e.g. an update Jacobian that overflows float64
        raise UsageError(f"--lr {args.lr:g}: {error}") from None
    records = [
        {
            "method": row.method,
            "params": row.params,
            "scheme": row.analysis.scheme,
            "jacobian_eigenvalues": eigenvalue_pairs(row.analysis.jacobian_eigenvalues),
            "spectral_radius": row.analysis.spectral_radius,
            "verdict": row.analysis.verdict,
            "trajectory_verdicts": row.analysis.trajectory_verdicts,
            "converges": row.analysis.converges,
            "theory_max_error": row.theory_error,
        }
        for row in rows
    ]
    if args.json:
        print(json.dumps(records))
        return 0
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(
            [
                "method",
                "params",
                "scheme",
                "eigenvalues",
                "spectral_radius",
                "verdict",
                "theory_max_error",
            ]
        )
        for r in records:
            writer.writerow(
                [
                    r["method"],
                    _params_text(r["params"]),
                    r["scheme"],
                    " ".join(format_complex(p) for p in r["jacobian_eigenvalues"] or []),
                    "" if r["spectral_radius"] is None else readable(r["spectral_radius"], 10),
                    r["verdict"],
                    "" if r["theory_max_error"] is None else f"{r['theory_max_error']:.2e}",
                ]
            )
        return 0
    print(
        f"{GAME_TITLES[game]}, learning rate {args.lr:g}; "
        "AltGD = 1 generator step then 1 discriminator step."
    )
    print(
        "rho = spectral radius of the update operator; "
        "closed form = max |eigenvalue - paper's formula|\n"
    )
    width = 34 if game == "dirac" else 66  # two eigenvalues per line, or four
    header = (
        f"{'method':<22}{'params':<24}{'field eigenvalues':<{width}}{'scheme':<15}{'rho':>9}  "
        f"{'verdict':<22}{'closed form':>11}"
    )
    print(header)
    print("-" * len(header))
    previous = None
    for r in records:
        first = r["method"] != previous
        previous = r["method"]
        eig = "  ".join(format_complex(p, 3) for p in r["jacobian_eigenvalues"] or [])
        eig = eig if first else ""
        if first and r["jacobian_eigenvalues"] is None:
            eig = "no regular equilibrium"
        rho = "-" if r["spectral_radius"] is None else readable(r["spectral_radius"], 4)
        verdict = r["verdict"]
        if r["trajectory_verdicts"]:
            verdict = "trajectories " + "/".join(r["trajectory_verdicts"])
        err = "" if r["theory_max_error"] is None or not first else f"{r['theory_max_error']:.0e}"
        print(
            f"{r['method'] if first else '':<22}"
            f"{_params_text(r['params']) if first else '':<24}{eig:<{width}}"
            f"{r['scheme']:<15}{rho:>9}  {verdict:<22}{err:>11}".rstrip()
        )
    print(
        f"\n{len(records)} analyses in {time.perf_counter() - started:.1f} s. "
        f"{_table_footnote(game)}"
    )
    return 0


def _params_text(params: dict) -> str:
    return " ".join(f"{k}={v:g}" for k, v in params.items())


def _table_footnote(game: str) -> str:
    if game == "two-points":
        return (
            "Eigenvalues: location block (theta1, psi1), then scale block (theta2, psi2); "
            "closed form: convergan.theory.two_point_eigenvalues."
        )
    return f"Critical R1 damping at gamma = {theory.CRITICAL_GAMMA:g}."
