"""``convergan spectrum`` and ``convergan path-angle``: local stability of a run's checkpoints.

``spectrum`` computes the leading eigenvalues of the field Jacobian on a fixed evaluation
game (Krylov–Schur, matrix-free) and, with ``--scheme``, those of the schemes' update operators;
``path-angle`` records the cosine between the field and the straight path between two
checkpoints (Berard et al., ICLR 2020). Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from convergan.cli.errors import COUNT, SEED, STEP, UsageError, integer, number
from convergan.cli.outputs import writable_file, writable_folder
from convergan.wording import count

WHICH_HELP = "LR: largest real part (most unstable), LM: largest |λ|, LI: largest |Im λ|"


def register(commands) -> None:
    from convergan.analysis.which import SOLVERS, WHICH
    from convergan.registry import SCHEMES

    parser = commands.add_parser(
        "spectrum",
        help="leading Jacobian and update-operator eigenvalues of a run's checkpoints",
        description="Leading eigenvalues of the Jacobian of the run's gradient field at a "
        "checkpoint, on a fixed seeded evaluation game, by Krylov-Schur on Jacobian-vector "
        "products "
        "(never forming J). Each eigenvalue comes with its residual |Ju - λu|/|u|. With "
        "--scheme, also the update operator's leading eigenvalues, spectral radius and verdict "
        "at the run's learning rates, and an upper bound (from the top-k eigenvalues, not a "
        "certificate) on the largest stable learning-rate scale.",
    )
    parser.add_argument("run_dir", help="run directory (config.yaml and checkpoints/)")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--step", type=STEP, nargs="+", metavar="S", help="checkpoint step(s)")
    steps.add_argument("--all", action="store_true", help="every checkpoint (default: the latest)")
    parser.add_argument("--k", type=COUNT, default=10, help="eigenvalues per kind (default 10)")
    parser.add_argument(
        "--which", nargs="+", choices=WHICH, default=["LR"], metavar="W", help=WHICH_HELP
    )
    parser.add_argument(
        "--scheme",
        nargs="+",
        default=[],
        choices=["run", *SCHEMES],
        metavar="NAME",
        help=f"update operators: run (the trainer's scheme as configured) or {', '.join(SCHEMES)}",
    )
    parser.add_argument(
        "--preconditioned",
        action="store_true",
        help="freeze the optimizers' second moments as a diagonal preconditioner (RMSprop/Adam)",
    )
    parser.add_argument(
        "--no-lr-bound",
        action="store_true",
        help="with --scheme, skip SimGD's upper bound on the stable learning-rate scale "
        "(two eigen-solves fewer)",
    )
    parser.add_argument(
        "--field-rate",
        action="store_true",
        help="with --scheme, also the update's spectral radius on the field (the range of J): "
        "the rate of |v| near an equilibrium, without the eigenvalues 1 of its continuous "
        "families (J u = 0), which the plain spectral radius shows",
    )
    _evaluation_game_options(parser)
    parser.add_argument(
        "--route",
        choices=("transpose", "double-backward", "forward"),
        default="transpose",
        help="field spectra on J^T, one backward per product through a graph built once "
        "(default); or on J by double backward, or by forward-over-reverse (nothing kept)",
    )
    device_options(parser)
    parser.add_argument(
        "--tol",
        type=number(ge=0, lt=1),
        default=None,
        metavar="T",
        help="relative tolerance: each residual ‖Au − λu‖ ≤ T·|λ| (default 1e-5 in float32, "
        "1e-10 with --float64)",
    )
    parser.add_argument(
        "--maxiter", type=COUNT, default=None, metavar="M", help="solver restarts at most"
    )
    parser.add_argument(
        "--solver",
        choices=SOLVERS,
        default=SOLVERS[0],
        help="Krylov-Schur (default: fewer products) or ARPACK (scipy's eigs)",
    )
    parser.add_argument("--plot", metavar="DIR", help="write eigenvalue figures into DIR")
    parser.add_argument(
        "--save-batch",
        metavar="FILE",
        help="write the evaluation game (the batch's tensors, torch.save) of the first step "
        "analysed, to rebuild the matrix elsewhere",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per step")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run_spectrum)

    angle = commands.add_parser(
        "path-angle",
        help="cosine between the field and the path between two checkpoints",
        description="Along x(α) = x0 + α(x1 - x0), α in [-0.1, 1.1], between the checkpoints "
        "--from and --to: the cosine between the gradient field and x1 - x0 (total and per "
        "player), the field's norm and both losses, on a fixed seeded evaluation game "
        "(Berard et al., ICLR 2020).",
    )
    angle.add_argument("run_dir", help="run directory")
    angle.add_argument(
        "--from",
        dest="start",
        type=STEP,
        required=True,
        metavar="S1",
        help="training step of the checkpoint at α = 0 (the steps of RUN/checkpoints/"
        "step-XXXXXXXX.pt; an unknown step lists them)",
    )
    angle.add_argument(
        "--to",
        dest="end",
        type=STEP,
        required=True,
        metavar="S2",
        help="training step of the checkpoint at α = 1",
    )
    angle.add_argument("--points", type=integer(ge=2), default=25, help="values of α (default 25)")
    _evaluation_game_options(angle)
    angle.add_argument("--plot", metavar="FILE", help="write the path-angle figure (.png)")
    angle.add_argument("--json", action="store_true", help="print one JSON object")
    angle.add_argument("--quiet", action="store_true", help="no progress bar")
    angle.set_defaults(run=run_path_angle)


def _evaluation_game_options(parser) -> None:
    parser.add_argument(
        "--samples",
        type=COUNT,
        default=None,
        help="evaluation game size N (default 2000 2D, 512 images)",
    )
    parser.add_argument(
        "--seed", type=SEED, default=0, metavar="S", help="evaluation game seed (default 0)"
    )
    parser.add_argument("--float64", action="store_true", help="players and data in float64")


def device_options(parser) -> None:
    """``--device`` and ``--threads``, shared with ``convergan verdict``."""
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        default="auto",
        help="where the players, the evaluation game and the Jacobian products live (default "
        "auto: a GPU when torch sees one, else the CPU); the solver's basis stays on the CPU",
    )
    parser.add_argument(
        "--threads",
        type=COUNT,
        default=None,
        metavar="N",
        help="torch's CPU threads (default: torch's own, or 1 when the machine's load average "
        "exceeds its cores: busy cores make multi-threaded products many times slower)",
    )


def set_threads(requested: int | None, quiet: bool = False) -> None:
    """``--threads``: torch's CPU threads. Without it, and without ``OMP_NUM_THREADS``, one
    thread when the 1-minute load average is above the core count (busy cores make each
    product many times slower: docs/guides/spectra.md), said on stderr unless ``quiet``."""
    import os

    import torch

    if requested is not None:
        torch.set_num_threads(requested)
        return
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if "OMP_NUM_THREADS" in os.environ or torch.get_num_threads() == 1 or load <= cores:
        return
    torch.set_num_threads(1)
    if quiet:
        return
    print(
        f"note: load average {load:.1f} on {cores} cores: 1 torch thread (--threads N to choose)",
        file=sys.stderr,
    )


def _open(run_dir: str):
    from convergan.cli.train import _user_errors
    from convergan.runs.spectrum import open_run

    try:
        return open_run(run_dir)
    except _user_errors() as error:
        raise UsageError(str(error)) from None


def _check_memory(run, samples: int | None, float64: bool) -> None:
    from convergan.runs.memory import EvaluationTooLarge, check_evaluation_memory

    try:
        check_evaluation_memory(run, samples, float64)
    except EvaluationTooLarge as error:
        raise UsageError(str(error)) from None


def _check_steps(run, steps: list[int]) -> None:
    available = run.steps()
    for step in steps:
        if step not in available:
            shown = ", ".join(map(str, available[-8:]))
            raise UsageError(f"{run.path} has no checkpoint for step {step} (has {shown})")


def run_spectrum(args) -> int:
    from convergan.cli.train import _user_errors
    from convergan.runs.spectrum import (
        SpectrumSettings,
        analyze_checkpoint,
        save_evaluation_batch,
    )

    if args.save_batch:
        writable_file(args.save_batch, "--save-batch")
    if args.plot:
        writable_folder(args.plot, "--plot")
    run = _open(args.run_dir)
    set_threads(args.threads, args.quiet)
    try:  # the newest checkpoint that loads (a truncated newest one: the one before)
        steps = run.steps() if args.all else (args.step or [run.latest_step(loadable=True)])
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    _check_steps(run, steps)
    _check_memory(run, args.samples, args.float64)
    players = run.players()
    n = sum(p.numel() for m in (players.generator, players.discriminator) for p in m.parameters())
    if args.k < 1 or args.k > n:
        raise UsageError(
            f"--k {args.k} is out of range for this model: 1 <= k <= n = {n} (k >= n - 1 "
            "solves the assembled matrix densely)"
        )
    settings = SpectrumSettings(
        k=args.k,
        which=tuple(dict.fromkeys(args.which)),
        samples=args.samples,
        seed=args.seed,
        schemes=tuple(dict.fromkeys(args.scheme)),
        preconditioned=args.preconditioned,
        float64=args.float64,
        route=args.route,
        tol=args.tol,
        maxiter=args.maxiter,
        solver=args.solver,
        lr_bound=not args.no_lr_bound,
        field_rate=args.field_rate,
        device=args.device,
    )
    if args.save_batch:
        path = save_evaluation_batch(run, steps[0], settings, args.save_batch)
        print(f"wrote the evaluation game of step {steps[0]} to {path}", file=sys.stderr)
    records, warm = [], {}  # each checkpoint's solves start from the previous one's
    for step in steps:
        try:
            record = analyze_checkpoint(run, step, settings, not args.quiet, warm)
        except _user_errors() as error:
            raise UsageError(str(error)) from None
        except ValueError as error:
            if "second moments" not in str(error):
                raise
            raise UsageError(str(error)) from None
        records.append(record)
        print(json.dumps(record) if args.json else format_record(record), flush=True)
    if args.plot:
        from convergan.plots.spectrum import plot_eigenvalues, plot_spectrum_over_training

        out = Path(args.plot)
        name = run.path.name
        paths = [
            plot_eigenvalues(records, out / "eigenvalues.png", title=f"{name}: leading eigenvalues")
        ]
        if len(records) > 1:
            paths.append(
                plot_spectrum_over_training(records, out / "over-training.png", title=name)
            )
        for path in paths:
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _complex(pair) -> str:
    return f"{pair[0]:+.6g}{pair[1]:+.6g}i"


def format_record(record: dict) -> str:
    lines = [
        f"step {record['step']}   n = {record['n_parameters']} parameters   evaluation game: "
        f"{count(record['samples'], 'sample')}, seed {record['seed']}   {record['dtype']}"
    ]
    for which, spectrum in record["spectra"].items():
        state = "converged" if spectrum["converged"] else "NOT CONVERGED (converged pairs only)"
        lines.append(
            f"  {which}  k={spectrum['k']}  {spectrum['solver']}  {state}  "
            f"{spectrum['matvecs']} matvecs  {spectrum['seconds']:.1f} s"
        )
        for pair, residual in zip(spectrum["eigenvalues"], spectrum["residuals"]):
            lines.append(f"      {_complex(pair):>28}   residual {residual:.1e}")
    lines.append(
        f"  max Re λ {record['max_real']:+.4g}   max |Im λ| {record['max_abs_imag']:.4g}   "
        f"max |λ| {record['max_abs']:.4g}"
    )
    for scheme in record.get("schemes", []):
        pre = ", preconditioned" if scheme["preconditioned"] else ""
        state = "" if scheme["converged"] else "  (not converged: lower bound)"
        lines.append(
            f"  {scheme['scheme']} (lr_g={scheme['lr_g']:g}, lr_d={scheme['lr_d']:g}{pre}): "
            f"spectral radius {scheme['spectral_radius']:.6f}  {scheme['verdict']}{state}"
        )
        if "on_field" in scheme:
            field = scheme["on_field"]
            lines.append(
                f"    on the field (the rate of ‖v‖): spectral radius "
                f"{field['spectral_radius']:.6f}, {field['rate_per_step']:.6f} per step  "
                f"{field['verdict']}  ({field['solver']})"
            )
    if "simgd_lr_scale_upper_bound" in record:
        scale = record["simgd_lr_scale_upper_bound"]
        text = "none (some Re η >= 0)" if scale is None else f"<= {scale:.4g}"
        if scale is not None and math.isinf(scale):
            text = "unbounded"
        lines.append(
            f"  SimGD lr scale bound {text}   (upper bound from the top-k, not a certificate)"
        )
    if "stable_lr_scale_intervals" in record:
        ranges = record["stable_lr_scale_intervals"]
        shown = ", ".join(
            f"({lo:.4g}, {'inf' if hi is None else format(hi, '.4g')})" for lo, hi in ranges
        )
        lines.append(
            f"  stable lr scales    {shown or 'none'}   (x the run's (lr_g, lr_d), SimGD's rule; "
            "the true stable scales lie within)"
        )
    return "\n".join(lines)


def run_path_angle(args) -> int:
    from tqdm import tqdm

    from convergan.cli.train import _user_errors
    from convergan.runs.path_angle import run_path_angle as path_angle

    if args.start == args.end:
        raise UsageError("--from and --to must be different checkpoints")
    if args.plot:
        writable_file(args.plot, "--plot")
    run = _open(args.run_dir)
    _check_steps(run, [args.start, args.end])
    _check_memory(run, args.samples, args.float64)
    bar = tqdm(
        total=args.points, desc="path-angle", unit="point", file=sys.stderr, disable=args.quiet
    )
    try:
        with bar:
            result = path_angle(
                run,
                args.start,
                args.end,
                points=args.points,
                samples=args.samples,
                seed=args.seed,
                float64=args.float64,
                progress=lambda _: bar.update(),
            )
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    print(json.dumps(result) if args.json else format_path(result))
    if args.plot:
        from convergan.plots.spectrum import plot_path_angle

        title = f"{run.path.name}: path-angle, step {args.start} → {args.end}"
        print(f"wrote {plot_path_angle(result, args.plot, title=title)}", file=sys.stderr)
    return 0


def format_path(result: dict) -> str:
    lines = [
        f"path from step {result['from']} to {result['to']}   |x1 - x0| = "
        f"{result['distance']:.4g}   evaluation game: {count(result['samples'], 'sample')}, "
        f"seed {result['seed']}",
        f"{'alpha':>7} {'cos':>8} {'cos G':>8} {'cos D':>8} {'|v|':>10} {'L_G':>10} {'L_D':>10}",
    ]
    keys = ("alphas", "cosine", "cosine_generator", "cosine_discriminator", "field_norm")
    keys += ("generator_loss", "discriminator_loss")
    for row in zip(*(result[k] for k in keys)):
        row = [float("nan") if v is None else v for v in row]
        lines.append(
            f"{row[0]:7.3f} {row[1]:8.4f} {row[2]:8.4f} {row[3]:8.4f} "
            + " ".join(f"{v:10.4g}" for v in row[4:])
        )
    return "\n".join(lines)
