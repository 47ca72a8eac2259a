"""``convergan verdict RUN``: does this run converge? (:mod:`convergan.runs.verdict`)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from convergan.cli.errors import COUNT, UsageError, number
from convergan.cli.outputs import writable_file


def register(commands) -> None:
    from convergan.cli.spectrum import device_options

    parser = commands.add_parser(
        "verdict",
        help="does this run converge? one verdict with every number behind it",
        description="One verdict for a run (converging with its rate, oscillating, diverging or "
        "inconclusive) from the trend of the field norm logged on a fixed evaluation game "
        "(eval.diagnostics), the local picture at the last checkpoint (leading field "
        "eigenvalues and the spectral radius of the run's own update at its scheduled learning "
        "rates, the optimizer's second moments frozen), the path-angle between the last two "
        "checkpoints and the exact Dirac-GAN verdict of the same method, scheme and learning "
        "rates. The rules are printed with the verdict.",
    )
    parser.add_argument(
        "run_dir",
        help="run directory (config.yaml, metrics.jsonl, checkpoints/), or the folder of a "
        "training-loop monitor (convergan.api.Monitor: metrics.jsonl only; its logs alone)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--html",
        metavar="FILE",
        help="also write a self-contained HTML page with figures (one computation serves both)",
    )
    parser.add_argument(
        "--window",
        type=number(gt=0, le=1),
        default=0.5,
        metavar="F",
        help="fit the trend over the last F of the run's steps (default 0.5)",
    )
    parser.add_argument(
        "--k", type=COUNT, default=6, help="leading field eigenvalues per kind (default 6)"
    )
    local = parser.add_mutually_exclusive_group()
    local.add_argument(
        "--spectrum",
        choices=("auto", "always", "never"),
        default="auto",
        help="the local picture (the eigen-solves at the last checkpoint): auto computes it only "
        "where it can change the verdict (default), always, or never",
    )
    local.add_argument(
        "--no-spectrum",
        dest="spectrum",
        action="store_const",
        const="never",
        help="skip the local picture (same as --spectrum never)",
    )
    parser.add_argument(
        "--no-path-angle", action="store_true", help="skip the path-angle between checkpoints"
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="ignore the local picture and path-angle saved in RUN/verdict/ by an earlier call "
        "(they are reused only for the same checkpoints, settings and version)",
    )
    device_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(run=run_verdict)


def run_verdict(args) -> int:
    from convergan.cli.spectrum import set_threads
    from convergan.cli.train import _user_errors
    from convergan.runs.verdict import run_verdict as verdict
    from convergan.runs.verdict import verdict_text
    from convergan.training.directory import RunDirectory

    if not RunDirectory(args.run_dir).is_run():
        return log_folder_verdict(args)
    if args.html:
        writable_file(args.html, "--html")
    set_threads(args.threads, args.quiet)
    try:
        record = verdict(
            args.run_dir,
            window=args.window,
            k=args.k,
            spectrum=args.spectrum,
            path_angle=not args.no_path_angle,
            show_progress=not args.quiet,
            reuse=not args.recompute,
            device=args.device,
        )
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    print(json.dumps(record) if args.json else verdict_text(record))
    if args.html:
        write_page(args, record, RunDirectory.open(args.run_dir).metrics())
    return 0


def write_page(args, record: dict, rows: list[dict]) -> None:
    """``--html``: the verdict's page, written atomically."""
    from convergan.files import write_text
    from convergan.runs.verdict_page import verdict_html

    path = Path(args.html)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, verdict_html(record, rows))
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
    print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)


def log_folder_verdict(args) -> int:
    """A folder with a metrics log and no config (a training-loop monitor's): the verdict of
    its logs alone, with a note on what needs a convergan run."""
    from convergan.runs.log_verdict import log_folder_verdict as verdict
    from convergan.runs.verdict import verdict_text
    from convergan.training.directory import RunDirectory

    folder = RunDirectory(args.run_dir)
    if not folder.has_metrics():
        raise UsageError(
            f"{args.run_dir} is neither a run directory (no config.yaml) nor a monitor's "
            "folder (no metrics.jsonl)"
        )
    if args.html:
        writable_file(args.html, "--html")
    record = verdict(args.run_dir, window=args.window)
    print(json.dumps(record) if args.json else verdict_text(record))
    if args.html:
        write_page(args, record, folder.metrics())
    return 0
