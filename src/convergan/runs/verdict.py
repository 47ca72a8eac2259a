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
from pathlib import Path

from convergan.analysis.verdict_rules import RULES, assess
from convergan.analysis.verdict_statistics import WINDOW
from convergan.wording import count


def run_verdict(run_dir: str | Path, **options) -> dict:
    """:func:`verdict_of_run`, again with the checkpoints then on disk when they changed under
    it (a run still training rotates its checkpoints: the one picked may be deleted while the
    verdict reads it)."""
    from convergan.checkpoint import CheckpointError
    from convergan.training.directory import RunDirectory

    for attempt in range(3):
        before = RunDirectory.open(run_dir).steps()
        try:
            return verdict_of_run(run_dir, **options)
        except (CheckpointError, FileNotFoundError):
            if attempt == 2 or RunDirectory.open(run_dir).steps() == before:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def verdict_of_run(
    run_dir: str | Path,
    *,
    window: float = WINDOW,
    k: int = 6,
    spectrum: bool | str = "auto",
    path_angle: bool = True,
    points: int = 21,
    show_progress: bool = False,
    reuse: bool = True,
    device: str = "auto",
) -> dict:
    """The verdict of the run in ``run_dir`` and all its evidence, as one JSON-ready record
    (``show_progress``: bars on stderr for the eigen-solves and the path points).

    ``spectrum``: ``"auto"`` computes the local picture only where it can change the verdict
    (:func:`~convergan.runs.verdict_local.local_can_change`), and reads it from the log where an
    in-training look (``eval.spectrum``) at the checkpoint converged
    (:func:`~convergan.runs.verdict_local.logged_local`); ``True`` always computes it, ``False``
    never; the record says which and why under ``"local_note"``. The last loadable checkpoint is
    opened once (:class:`~convergan.runs.at_step.CheckpointAt`): its evaluation game (the
    diagnostics', drawn from the run's seed) and its field serve the local picture and the
    path-angle. ``reuse``: the local picture and the path-angle are saved in the run directory
    (:mod:`convergan.runs.verdict_store`) and read back while the checkpoints, the settings and
    convergan's version are unchanged. ``device``: where the players and the products live
    (``auto``: a GPU when torch sees one)."""
    from convergan.runs.at_step import CheckpointAt
    from convergan.runs.verdict_local import (
        dirac_beside,
        local_picture,
        local_wanted,
        logged_local,
        no_local,
        path_angle_summary,
    )
    from convergan.runs.verdict_store import VerdictStore
    from convergan.training.diagnostics import diagnostics_samples
    from convergan.training.directory import RunDirectory

    run = RunDirectory.open(run_dir)
    config = run.config
    rows = run.metrics()
    logged = assess(rows, window)  # the rules on the logs alone: does ρ matter?
    latest = run.latest_step(loadable=True) if run.steps() else None
    steps = [] if latest is None else [s for s in run.steps() if s <= latest]
    if not steps and logged.trend is None:
        raise FileNotFoundError(f"{run.path} has no checkpoints and no diagnostics logged")
    step = steps[-1] if steps else logged.trend.last
    samples = diagnostics_samples(config)
    opened: list[CheckpointAt] = []

    def at() -> CheckpointAt:  # the last checkpoint, opened on first use, once
        if not opened:
            opened.append(CheckpointAt(run, step, device))
        return opened[0]

    store = VerdictStore(run, step, dict(k=k, samples=samples, seed=config.seed, points=points))
    wanted, note = local_wanted(spectrum, logged, bool(steps))
    local = no_local()
    read = logged_local(rows, at()) if wanted and spectrum == "auto" else None
    if read is not None:  # training already computed it at this checkpoint
        local, note = read
    elif wanted:
        local = store.read("local") if reuse else None
        if local is None:
            warm = store.start_vectors() if reuse else {}
            local = store.write("local", local_picture(at(), k, samples, show_progress, warm))
            store.save_start_vectors(warm)
    angle = None
    if path_angle and len(steps) >= 2:
        angle = store.read("path_angle", steps[-2]) if reuse else None
        if angle is None:
            angle = path_angle_summary(at(), steps[-2], points, samples, show_progress)
            store.write("path_angle", angle, steps[-2])
    world_size = at().world_size if steps else 1
    record: dict = {
        "run": str(run.path),
        "step": step,
        "checkpoint": bool(steps),
        "evaluation_game": {
            "samples": samples,
            "seed": config.seed,
            "games": config.eval.diagnostics.games,
        },
        "window": window,
        **local,
        "local_note": note,
        "path_angle": angle,
        **dirac_beside(config, step, world_size),
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
        samples = count(game["samples"], "sample")
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
    if record.get("spectral_radius_residual") is not None:
        lines.append(f"  accuracy    ρ to about {record['spectral_radius_residual']:.1e} "
                     "(residual ‖F′u − μu‖/‖u‖ of its eigenpair)")  # fmt: skip
    if record.get("local_note"):
        lines.append(f"{'local' if record['spectral_radius'] is None else ''}".ljust(14)
                     + record["local_note"])  # fmt: skip
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
