"""``convergan study``: several training runs compared in one figure and table."""

from __future__ import annotations

from pathlib import Path

from convergan.cli.errors import UsageError

DEFAULT_METHODS = ["gan", "wgan-gp", "r1", "r2", "consensus", "instance-noise"]
DEFAULT_PROBLEMS = ["gaussian", "line", "circle", "four-lines"]


def register(commands) -> None:
    parser = commands.add_parser(
        "study",
        help="compare methods empirically (2D problems)",
        description="Compare training methods empirically.",
    )
    sub = parser.add_subparsers(dest="study_command", metavar="STUDY", required=True)
    toy = sub.add_parser(
        "toy2d",
        help="train methods on 2D problems; W1 curves, final samples and a table",
        description="Train each method on each 2D problem (configs/toy2d/<problem>.yaml with the "
        "method's preset defaults) and write w1-<problem>.png, samples-<problem>.png, "
        "study.md and study.json into --out. Each run keeps its own run directory.",
    )
    toy.add_argument(
        "--problems",
        nargs="+",
        default=DEFAULT_PROBLEMS,
        metavar="P",
        help=f"2D problems (default: {' '.join(DEFAULT_PROBLEMS)})",
    )
    toy.add_argument(
        "--methods",
        nargs="+",
        default=DEFAULT_METHODS,
        metavar="M",
        help=f"method presets (default: {' '.join(DEFAULT_METHODS)})",
    )
    toy.add_argument(
        "--steps", type=int, default=2000, help="training steps per run (default 2000)"
    )
    toy.add_argument("--out", default="out/toy2d", help="output folder (default out/toy2d)")
    toy.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides for every run, e.g. model.width=64",
    )
    toy.set_defaults(run=run_toy2d)


def run_toy2d(args) -> int:
    from convergan.config import ConfigError
    from convergan.registry import METHODS, PROBLEMS_2D
    from convergan.studies.toy2d import run_study

    if args.steps <= 0:
        raise UsageError(f"--steps must be > 0, got {args.steps}")
    for problem in args.problems:
        if problem not in PROBLEMS_2D:
            raise UsageError(PROBLEMS_2D.unknown(problem))
    for method in args.methods:
        if method not in METHODS:
            raise UsageError(METHODS.unknown(method))
    try:
        runs = run_study(args.problems, args.methods, args.steps, Path(args.out), args.overrides)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    print((Path(args.out) / "study.md").read_text())
    for problem in dict.fromkeys(r.problem for r in runs):
        print(Path(args.out) / f"w1-{problem}.png")
        print(Path(args.out) / f"samples-{problem}.png")
    return 0
