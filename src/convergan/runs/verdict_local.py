"""The verdict's local picture, path-angle and Dirac-GAN verdict, and when to compute them.

:func:`~convergan.runs.verdict.run_verdict` opens the run's last checkpoint once
(:class:`~convergan.runs.at_step.CheckpointAt`) and hands it here: the field's LR and LM
eigenvalues and the run's update radius on one kept graph (:func:`local_picture`), the
path-angle from the previous checkpoint on the same evaluation game (:func:`path_angle_summary`)
and the exact Dirac-GAN verdict beside them (:func:`dirac_beside`). The local picture runs only
where it can change the verdict (:func:`local_can_change`, :func:`local_wanted`).
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager

import numpy as np

from convergan.analysis.verdict_rules import Assessment, decide


def local_can_change(logged: Assessment) -> bool:
    """Whether the local picture can change the verdict the logs give: the rules asked with
    ρ not computed, ρ = 0 and ρ = 10⁹ per step do not all give the same word."""
    words = {
        decide(logged.trend, logged.noise, logged.floor, radius)[0] for radius in (None, 0.0, 1e9)
    }
    return len(words) > 1


def local_wanted(spectrum: bool | str, logged: Assessment, checkpoint: bool) -> tuple[bool, str]:
    """Whether to compute the local picture, and the note that says why (or why not)."""
    if spectrum is False or spectrum == "never":
        return False, "not computed (--no-spectrum)"
    if not checkpoint:
        return False, "not computed: the run has no checkpoint yet"
    if spectrum is True or spectrum == "always":
        return True, "computed as asked (--spectrum always)"
    if not local_can_change(logged):
        word = logged.verdict
        return False, (
            f"not computed: the verdict is {word} whatever the local picture says "
            "(--spectrum always computes it)"
        )
    return True, "computed: the local picture can change this verdict"


def no_local() -> dict:
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
    "spectral_radius_residual",
    "spectrum_products",
    "spectrum_seconds",
)


def local_picture(at, k: int, samples: int, show_progress: bool = False, warm=None) -> dict:
    """The field's LR and LM eigenvalues and the run's update radius at the checkpoint ``at``
    (:class:`~convergan.runs.at_step.CheckpointAt`), on the diagnostics' evaluation game (the
    run's seed), all three solves on one kept graph; ``warm``: start vectors by solve, as
    :func:`~convergan.runs.spectrum.analyze_players` takes them, updated with these."""
    from convergan.runs.spectrum import SpectrumSettings, analyze_checkpoint

    settings = SpectrumSettings(
        k=min(k, at.n),
        which=("LR", "LM"),
        samples=samples,
        seed=at.config.seed,
        schemes=("run",),
        preconditioned=at.preconditioner is not None,  # plain gradient steps: none to freeze
        lr_bound=False,
    )
    result = analyze_checkpoint(at.run, at.step, settings, show_progress, warm, at=at)
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
        # how accurate ρ is: the residual ‖F′u − μu‖/‖u‖ of the eigenpair that sets it
        "spectral_radius_residual": radius_residual(scheme),
        # what it cost: the operator products of the three solves and their seconds
        "spectrum_products": result["matvecs"] + scheme["matvecs"],
        "spectrum_seconds": result["seconds"] + scheme["seconds"],
    }


def logged_local(rows: list[dict], at) -> tuple[dict, str] | None:
    """The local picture training already computed: the in-training look (``eval.spectrum``)
    logged at the checkpoint ``at``'s step, if its values converged, with the note that says
    so; ``None`` otherwise. ρ is the look's ``spectrum/update_radius`` (the run's scheme at its
    learning rates, preconditioned by the live optimizer state: what :func:`local_picture`
    computes) and its accuracy the look's ``spectrum/max_residual``; the look's evaluation
    game is ``eval.spectrum.samples`` from the run's seed, not the diagnostics'. No field
    eigenvalues: the log holds only their extremes."""
    from convergan.runs.spectrum import build_analysis_scheme

    look = next(
        (r for r in reversed(rows) if r.get("step") == at.step and "spectrum/update_radius" in r),
        None,
    )
    if look is None or look.get("spectrum/converged") != 1.0:
        return None
    now = at.config  # as in force at the checkpoint's step
    period = build_analysis_scheme(now, "run").period
    radius = float(look["spectrum/update_radius"])
    local = no_local() | {
        "spectral_radius": radius,
        "spectral_radius_per_step": radius ** (1.0 / period),
        "period": period,
        "lr": {"g": float(now.optim.g.lr), "d": float(now.optim.d.lr)},
        "preconditioned": at.preconditioner is not None,
        "leading_eigenvalues": {},
        "spectrum_converged": True,
        "spectral_radius_residual": look.get("spectrum/max_residual"),
        "spectrum_products": 0,
        "spectrum_seconds": 0.0,
    }
    note = (
        f"read from the in-training look at step {at.step} (eval.spectrum, N = "
        f"{now.eval.spectrum.samples}): no solve (--spectrum always computes it here)"
    )
    return local, note


def radius_residual(scheme: dict) -> float | None:
    values, residuals = scheme["update_eigenvalues"], scheme["update_residuals"]
    if not values:
        return None
    largest = max(range(len(values)), key=lambda j: math.hypot(*values[j]))
    return residuals[largest]


def path_angle_summary(
    at, start: int, points: int, samples: int, show_progress: bool = False
) -> dict | None:
    """The path-angle profile from checkpoint ``start`` to the last one, ``at``, on the
    local picture's evaluation game (the run's seed), summarised (Berard et al.: a cosine
    that changes sign once near α = 1 reads as descent, one that stays near 0 and bumps
    there as rotation)."""
    from convergan.checkpoint import CheckpointError
    from convergan.runs.path_angle import run_path_angle

    try:
        with points_bar(points, show_progress) as progress:
            stats = run_path_angle(
                at.run, start, at.step, points=points, samples=samples, seed=at.config.seed,
                progress=progress, at_end=at,
            )  # fmt: skip
    except CheckpointError:  # not "the same point": a checkpoint gone or damaged says so
        raise
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


def dirac_beside(config, step: int, world_size: int) -> dict:
    """The exact Dirac-GAN verdict of the run's method and scheme with the values in force at
    ``step`` (the spec at step t, as the local picture takes it)."""
    from convergan.analysis.dirac_verdict import dirac_verdict
    from convergan.config.schema import config_at
    from convergan.training.in_force import build_scheme

    in_force = config_at(config, step, world_size)
    scheme = build_scheme(in_force)
    verdict = dirac_verdict(in_force.method, scheme)
    period = scheme.period
    radius = None if verdict is None else verdict.spectral_radius
    return {
        "dirac_verdict": None if verdict is None else verdict.verdict,
        "dirac_spectral_radius": radius,
        "dirac_rate_per_step": None if radius is None else radius ** (1.0 / period),
    }


@contextmanager
def points_bar(points: int, enabled: bool):
    """A tqdm bar on stderr over the path-angle's points (``None`` when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=points, desc="path-angle", unit="point", file=sys.stderr) as bar:
        yield lambda done: bar.update(done - bar.n)
