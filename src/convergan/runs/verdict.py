"""Does a run converge? One verdict from the run's own evidence, every deciding number shown.

The evidence (docs: "Does my run converge?"):

- **the logged diagnostics** on fixed evaluation games (:mod:`convergan.training.diagnostics`):
  the trend of ``ln ‖v‖`` and the field against its sampling noise, over the last part of
  training, judged by the rules of :mod:`convergan.analysis.verdict_rules`;
- **the local picture** at the last checkpoint (:func:`~convergan.runs.spectrum.analyze_checkpoint`
  on the same evaluation game): leading eigenvalues of the field Jacobian (LR, LM) and the
  spectral radius ``ρ`` of the run's own update operator with the values in force there (the
  spec at step t), the optimizer's second moments frozen as a preconditioner, per step
  (``ρ^(1/period)``): it can veto a trend it contradicts;
- the **path-angle** between the last two checkpoints and the **exact Dirac verdict** of the
  same method, scheme and learning rates: shown beside the verdict, never deciding it.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from convergan.analysis.verdict_rules import RULES, WINDOW, assess


def run_verdict(
    run_dir: str | Path,
    *,
    window: float = WINDOW,
    k: int = 6,
    spectrum: bool = True,
    path_angle: bool = True,
    points: int = 21,
    show_progress: bool = False,
) -> dict:
    """The verdict of the run in ``run_dir`` and all its evidence, as one JSON-ready record
    (``show_progress``: bars on stderr for the ARPACK runs and the path points)."""
    from convergan.runs.spectrum import open_run

    run = open_run(run_dir)
    config = run.config
    step = run.latest_step(loadable=True)  # a truncated newest checkpoint: the one before
    steps = [s for s in run.steps() if s <= step]
    rows = run.metrics()
    from convergan.training.diagnostics import diagnostics_samples

    samples = diagnostics_samples(config)
    record: dict = {
        "run": str(run.path),
        "step": step,
        "evaluation_game": {
            "samples": samples,
            "seed": config.seed,
            "games": config.eval.diagnostics.games,
        },
        "window": window,
        **(_local(run, step, k, samples, show_progress) if spectrum else _no_local()),
        "path_angle": (
            _path_angle(run, steps, points, samples, show_progress) if path_angle else None
        ),
        **_dirac(run, step),
    }
    result = assess(rows, window, record["spectral_radius_per_step"])
    trend, noise, floor = result.trend, result.noise, result.floor
    record.update(
        verdict=result.verdict,
        reason=result.reason,
        measured_rate_per_step=result.rate,
        field_norm_last=None if trend is None else trend.field_norm_last,
        trend=None if trend is None else trend.to_dict(),
        noise=None if noise is None else noise.to_dict(),
        floor=None if floor is None else floor.to_dict(),
        rules=list(RULES),
    )
    return json_ready(record)


def json_ready(value):
    """``value`` with every non-finite float as ``None`` (strict JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def verdict_text(record: dict) -> str:
    """The record as the text ``convergan verdict`` prints: the verdict first, then every
    number behind it, then the rules."""
    lines = [
        f"verdict       {record['verdict']}  ({record['reason']})",
        f"run           {record['run']}",
    ]
    game = record["evaluation_game"]
    trend = record["trend"]
    if trend is not None:
        samples = f"{game['samples']} sample" + ("s" if game["samples"] != 1 else "")
        games = game.get("games") or 1
        lines.append(
            f"trend         ln‖v‖ over steps {trend['first']}-{trend['last']} "
            f"({trend['points']} looks; evaluation game: {samples}, seed {game['seed']}"
            + (f", {games} independent games a look)" if games > 1 else ")")
        )
        if trend["slope"] is not None:
            low, high = trend["rate_interval"]
            lines += [
                f"  rate        e^s = {trend['rate_per_step']:.6g} per step "
                f"(95% interval {low:.6g} to {high:.6g}, {trend['effective_points']:.1f} "
                "effective looks)",
                f"  change Δ    {trend['change']:+.4g}   scatter σ {trend['scatter']:.4g}"
                "   (ln units; a trend counts when |Δ| > 2σ)",
            ]
        lines.append(f"  ‖v‖ last    {_number(trend['field_norm_last'])}")
    noise = record.get("noise")
    if noise is None:
        lines.append("noise         not measured (eval.diagnostics.games = 1, or too few looks)")
    elif noise["noise_free"]:
        lines.append("noise         none: every evaluation game gives the same field")
    else:
        state = {
            "within": "within the sampling noise",
            "above": "distinguishable from 0",
            "undetermined": "not placed by the noise test",
        }[noise["state"]]
        lines += [
            f"noise         Q = {noise['ratio']:.3g} (95% interval {noise['ratio_low']:.3g} to "
            f"{noise['ratio_high']:.3g}; last block {noise['ratio_last']:.3g}): the true "
            f"field is {state}",
            f"  η last      {noise['noise_last']:.4g} (norm of one game's sampling noise)",
        ]
    floor = record.get("floor")
    if floor is not None:
        verb = "stayed at" if floor["stayed"] else "rose above"
        lines.append(
            f"floor         ‖v‖ {verb} its floor: median {floor['level']:.4g} in the window, "
            f"{floor['floor']:.4g} before it (R = {floor['rise']:+.3f}, ln units)"
        )
    if record["spectral_radius"] is not None:
        kind = "preconditioned" if record["preconditioned"] else "plain gradient steps"
        lines += [
            f"local         at checkpoint {record['step']}, lr_g {record['lr']['g']:.4g}, "
            f"lr_d {record['lr']['d']:.4g}, {kind}",
            f"  ρ           {record['spectral_radius']:.6g} per period of {record['period']} "
            f"= {record['spectral_radius_per_step']:.6g} per step",
        ]
        for which, values in record["leading_eigenvalues"].items():
            lines.append(f"  field {which:<5s} " + "  ".join(_complex(v) for v in values))
    angle = record["path_angle"]
    if angle is not None:
        lines.append(
            f"path-angle    checkpoints {angle['from']}-{angle['to']}: cos at the end "
            f"{angle['cosine_at_end']:+.3f}, range [{angle['cosine_min']:+.3f}, "
            f"{angle['cosine_max']:+.3f}], ‖v‖ smallest at α = {angle['field_norm_min_alpha']:.2f}"
        )
    dirac = record["dirac_verdict"] or "not available for this method or scheme"
    if record["dirac_spectral_radius"] is not None:
        dirac += f" (ρ = {record['dirac_spectral_radius']:.6g}, per step "
        dirac += f"{record['dirac_rate_per_step']:.6g})"
    lines.append(f"Dirac-GAN     {dirac}")
    lines.append("rules, in order:")
    lines += [f"  {i}. {rule}" for i, rule in enumerate(record["rules"], 1)]
    return "\n".join(lines)


def _number(value) -> str:
    return "not finite" if value is None else f"{value:.4g}"


def _complex(pair) -> str:
    re, im = pair
    return f"{re:+.4g}{im:+.4g}i"


def _no_local() -> dict:
    return {key: None for key in LOCAL_KEYS}


LOCAL_KEYS = (
    "spectral_radius",
    "spectral_radius_per_step",
    "period",
    "lr",
    "preconditioned",
    "leading_eigenvalues",
    "update_eigenvalues",
    "spectrum_converged",
)


def _local(run, step: int, k: int, samples: int, show_progress: bool = False) -> dict:
    """The field's LR and LM eigenvalues and the run's update radius at checkpoint ``step``,
    on the diagnostics' evaluation game."""
    from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint

    _, checkpoint = run.load(step)
    n = checkpoint["theta"].numel() + checkpoint["psi"].numel()
    settings = SpectrumSettings(
        k=min(k, n),
        which=("LR", "LM"),
        samples=samples,
        seed=run.config.seed,
        schemes=("run",),
        preconditioned=True,
        lr_bound=False,
    )
    try:
        result = analyze_checkpoint(run, step, settings, show_progress)
    except ValueError:  # plain gradient steps: no second moments to freeze
        settings = SpectrumSettings(**{**asdict(settings), "preconditioned": False})
        result = analyze_checkpoint(run, step, settings, show_progress)
    scheme = result["schemes"][0]
    spectra = result["spectra"]
    return {
        "spectral_radius": scheme["spectral_radius"],
        "spectral_radius_per_step": scheme["rate_per_step"],
        "period": scheme["period"],
        "lr": result["lr"],
        "preconditioned": scheme["preconditioned"],
        "leading_eigenvalues": {w: spectra[w]["eigenvalues"] for w in ("LR", "LM")},
        "update_eigenvalues": scheme["update_eigenvalues"],
        "spectrum_converged": bool(result["converged"] and scheme["converged"]),
    }


def _path_angle(
    run, steps: list[int], points: int, samples: int, show_progress: bool = False
) -> dict | None:
    """The path-angle profile between the last two checkpoints, summarised (Berard et al.:
    a cosine that changes sign once near α = 1 reads as descent, one that stays near 0 and
    bumps there as rotation)."""
    if len(steps) < 2:
        return None
    from convergan.runs.path_angle import run_path_angle

    try:
        with _points_bar(points, show_progress) as progress:
            stats = run_path_angle(
                run, steps[-2], steps[-1], points=points, samples=samples, progress=progress
            )
    except ValueError:  # the two checkpoints are the same point
        return None
    alphas, cosine = np.array(stats["alphas"]), np.array(stats["cosine"], dtype=np.float64)
    end = int(np.argmin(np.abs(alphas - 1.0)))
    norms = np.array(stats["field_norm"], dtype=np.float64)
    return {
        "from": stats["from"],
        "to": stats["to"],
        "distance": stats["distance"],
        "cosine_at_end": float(cosine[end]),
        "cosine_min": float(np.nanmin(cosine)),
        "cosine_max": float(np.nanmax(cosine)),
        "field_norm_min_alpha": float(alphas[int(np.nanargmin(norms))]),
        "profile": {key: stats[key] for key in ("alphas", "cosine", "field_norm")},
    }


def _dirac(run, step: int) -> dict:
    """The exact Dirac-GAN verdict of the run's method and scheme with the values in force at
    checkpoint ``step`` (the spec at step t, as the local picture takes it)."""
    from convergan.config.schema import config_at, config_to_dict
    from convergan.studies.theory import dirac_verdict
    from convergan.training.in_force import build_scheme

    _, checkpoint = run.load(step)
    in_force = config_at(run.config, step, int(checkpoint.get("world_size") or 1))
    verdict = dirac_verdict(config_to_dict(in_force))
    period = build_scheme(in_force).period
    radius = None if verdict is None else verdict.spectral_radius
    return {
        "dirac_verdict": None if verdict is None else verdict.verdict,
        "dirac_spectral_radius": radius,
        "dirac_rate_per_step": None if radius is None else radius ** (1.0 / period),
    }


@contextmanager
def _points_bar(points: int, enabled: bool):
    """A tqdm bar on stderr over the path-angle's points (``None`` when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=points, desc="path-angle", unit="point", file=sys.stderr) as bar:
        yield lambda done: bar.update(done - bar.n)
