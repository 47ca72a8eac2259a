"""``convergan verdict RUN``: does this run converge? (:mod:`convergan.runs.verdict`)"""

from __future__ import annotations

import json
from pathlib import Path

from convergan.cli.errors import COUNT, UsageError, number
from convergan.cli.outputs import writable_file


def register(commands) -> None:
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
    parser.add_argument("run_dir", help="run directory (config.yaml, metrics.jsonl, checkpoints/)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML page with figures"
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
    parser.add_argument(
        "--no-spectrum",
        action="store_true",
        help="skip the local picture (the ARPACK runs at the last checkpoint)",
    )
    parser.add_argument(
        "--no-path-angle", action="store_true", help="skip the path-angle between checkpoints"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(run=run_verdict)


def run_verdict(args) -> int:
    from convergan.cli.train import _user_errors
    from convergan.runs.verdict import run_verdict as verdict
    from convergan.runs.verdict import verdict_text

    if not (Path(args.run_dir) / "config.yaml").is_file():
        raise UsageError(f"{args.run_dir} is not a run directory (no config.yaml)")
    if args.html:
        writable_file(args.html, "--html")
    try:
        record = verdict(
            args.run_dir,
            window=args.window,
            k=args.k,
            spectrum=not args.no_spectrum,
            path_angle=not args.no_path_angle,
            show_progress=not args.quiet,
        )
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps(record))
        return 0
    print(verdict_text(record))
    if args.html:
        from convergan.runs.verdict_page import verdict_html
        from convergan.training.directory import RunDirectory

        rows = RunDirectory.open(args.run_dir).metrics()
        path = Path(args.html)
        path.write_text(verdict_html(record, rows), encoding="utf-8")
        print(f"wrote {path}")
    return 0
