"""The spectrum study table and figure from ``convergan spectrum --json`` records.

Each ``benchmarks/results/spectrum/<problem>-<method>.jsonl`` holds the record of one run's
final checkpoint, computed by (run directories are the short runs of docs/results/results.md)::

    convergan spectrum RUN --k 6 --which LR LM --scheme run --preconditioned --samples 512 --json

This script writes ``table.md`` and ``final-eigenvalues.png`` next to them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "spectrum"
ROWS = [
    (problem, method)
    for problem in ("circle", "ring8")
    for method in ("gan", "r1", "r2", "wgan-gp")
] + [("fashion-mnist", "unregularized"), ("fashion-mnist", "r1")]


def load(problem: str, method: str) -> dict | None:
    path = RESULTS / f"{problem}-{method}.jsonl"
    if not path.is_file() or not path.read_text().startswith("{"):
        return None  # not computed (yet)
    return json.loads(path.read_text().splitlines()[-1])


def row(problem: str, method: str, r: dict) -> str:
    lr = np.array(r["spectra"]["LR"]["eigenvalues"])
    lm = np.array(r["spectra"]["LM"]["eigenvalues"])
    lm_values = lm[:, 0] + 1j * lm[:, 1]
    positive = int(np.sum(lm_values.real > 0))
    scheme = r["schemes"][0]
    residual = max(r["residuals"]) / max(r["max_abs"], 1e-30)
    ratio = r["max_imag_over_real"]
    cells = [
        problem,
        method,
        str(r["step"]),
        f"{r['n_parameters']:,}",
        f"{lr[0, 0]:+.3g}" + partial(r["spectra"]["LR"]),
        f"{lm_values[0].real:+.3g}{lm_values[0].imag:+.3g}i",
        f"{positive}/{len(lm_values)}",
        f"{r['max_abs_imag']:.3g}",
        "0" if not ratio else f"{ratio:.3g}",
        f"{scheme['spectral_radius']:.4f} ({scheme['verdict']})" + partial(scheme),
        simgd_radius(r, scheme),
        f"{residual:.0e}",
        "yes" if r["converged"] and scheme["converged"] else "no",
    ]
    return "| " + " | ".join(cells) + " |"


def partial(spectrum: dict) -> str:
    """Marks values from an ARPACK run that did not converge (only converged pairs are kept)."""
    if spectrum["converged"]:
        return ""
    found = spectrum.get("n_converged", len(spectrum.get("update_eigenvalues", [])))
    return f" (ARPACK: {found} pairs converged)"


def simgd_radius(r: dict, scheme: dict) -> str:
    """``max |1 + hλ|`` over the eigenvalues found: SimGD's update eigenvalues are exactly
    ``1 + hλ``, so this is a lower bound on its ρ from the top-k (equal rates only)."""
    if scheme["lr_g"] != scheme["lr_d"]:
        return "-"
    values = np.array(r["eigenvalues"])
    radius = np.abs(1 + scheme["lr_g"] * (values[:, 0] + 1j * values[:, 1])).max()
    return f"1 {'+' if radius >= 1 else '−'} {abs(radius - 1):.2g}"


def table(records) -> str:
    head = [
        "problem",
        "method",
        "step",
        "parameters",
        "max Re λ (LR)",
        "largest-modulus λ (LM)",
        "Re λ > 0 among the top-k by modulus",
        "max abs Im λ",
        "max abs(Im/Re)",
        "ρ(F′), trained scheme + lr, preconditioned",
        "SimGD ρ at the trained lr, no preconditioner (≥, top-k)",
        "max residual / max modulus",
        "ARPACK converged",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [row(p, m, r) for (p, m), r in records.items()]
    return "\n".join(lines) + "\n"


def figure(records) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({p for p, _ in records}, key=[p for p, _ in ROWS].index)
    fig, axes = plt.subplots(1, len(problems), figsize=(5 * len(problems), 4.2))
    for ax, problem in zip(np.atleast_1d(axes), problems):
        for (p, method), r in records.items():
            if p != problem:
                continue
            values = np.array(r["eigenvalues"])
            ax.scatter(values[:, 0], values[:, 1], s=22, label=method, alpha=0.75)
        ax.axvline(0, color="0.4", lw=0.8, ls="--")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_title(f"{problem}: leading eigenvalues of J (LR ∪ LM)")
        ax.set_xlabel("Re λ (symlog)")
        ax.set_ylabel("Im λ")
        ax.legend()
    fig.tight_layout()
    path = RESULTS / "final-eigenvalues.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    records = {(p, m): r for p, m in ROWS if (r := load(p, m)) is not None}
    text = table(records)
    (RESULTS / "table.md").write_text(text)
    print(text)
    print(figure(records))


if __name__ == "__main__":
    main()
