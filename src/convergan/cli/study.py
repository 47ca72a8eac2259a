"""``convergan study toy2d``: the shipped 2D sweep, narrowed from the command line."""

from __future__ import annotations

from convergan.cli.errors import COUNT, UsageError
from convergan.cli.outputs import writable_folder
from convergan.registry import METHODS, PROBLEMS_2D

DEFAULT_METHODS = ["gan", "wgan-gp", "r1", "r2", "consensus", "instance-noise"]
DEFAULT_PROBLEMS = ["gaussian", "line", "circle", "four-lines"]


def register(commands) -> None:
    parser = commands.add_parser(
        "study",
        help="compare methods empirically (2D problems), over seeds",
        description="Compare training methods empirically.",
    )
    sub = parser.add_subparsers(dest="study_command", metavar="STUDY", required=True)
    toy = sub.add_parser(
        "toy2d",
        help="methods x 2D problems x seeds: W1 curves, samples, a table with intervals",
        description="Run the shipped sweep toy2d-methods with the problems, "
        "methods, seeds and steps given here (the same path as `convergan sweep`: resumable, "
        "one run directory per cell under --out/runs), then `convergan report` it and write "
        "study.md, study.json, w1-<problem>.png and samples-<problem>.png into --out.",
    )
    toy.add_argument(
        "--problems",
        nargs="+",
        default=DEFAULT_PROBLEMS,
        metavar="P",
        help=f"2D problems (default {' '.join(DEFAULT_PROBLEMS)}; registered: "
        f"{', '.join(PROBLEMS_2D.names())})",
    )
    toy.add_argument(
        "--methods",
        nargs="+",
        default=DEFAULT_METHODS,
        metavar="M",
        help=f"method presets (default {' '.join(DEFAULT_METHODS)}; registered: "
        f"{', '.join(METHODS.names())})",
    )
    toy.add_argument(
        "--seeds", type=COUNT, metavar="N", help="seeds 0..N-1 per cell (default 5, the spec's)"
    )
    toy.add_argument("--steps", type=COUNT, default=2000, help="steps per run (default 2000)")
    toy.add_argument("--out", default="out/toy2d", help="output folder (default out/toy2d)")
    toy.add_argument("--launcher", choices=("local", "debug"), help="default local")
    toy.add_argument("--jobs", type=COUNT, help="runs at once (default: cores)")
    toy.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides for every run, e.g. model.width=64",
    )
    toy.set_defaults(run=run_toy2d)


def run_toy2d(args) -> int:
    from convergan.config.load import parse_overrides, parse_yaml
    from convergan.options import ConfigError, each_once
    from convergan.studies.estimate import Overrides
    from convergan.studies.launch import run_sweep
    from convergan.studies.methods_2d import toy2d_spec, write_study_summary
    from convergan.studies.report import write_report
    from convergan.studies.spec import with_launcher

    try:  # a method or problem given twice would be one cell, or a cell counted twice
        each_once(args.problems, "--problems")
        each_once(args.methods, "--methods")
    except ConfigError as error:
        raise UsageError(str(error)) from None
    for problem in args.problems:
        if problem not in PROBLEMS_2D:
            raise UsageError(PROBLEMS_2D.unknown(problem))
    for method in args.methods:
        if method not in METHODS:
            raise UsageError(METHODS.unknown(method))
    out = writable_folder(args.out, "--out")
    try:
        parse_overrides(args.overrides)
        overrides = {}
        for item in args.overrides:
            key, _, text = item.partition("=")
            overrides[key.strip()] = parse_yaml(text, key)
        seeds = list(range(args.seeds)) if args.seeds else None
        spec = toy2d_spec(args.problems, args.methods, seeds, args.steps, overrides)
        spec = with_launcher(spec, name=args.launcher, jobs=args.jobs)
        flags = Overrides(
            "fewer --methods, --problems or --seeds", "--steps {steps}", "--jobs {jobs}"
        )
        run_sweep(spec, out, overrides=flags)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    report = write_report(out)
    study = write_study_summary(report, out)
    print(study.read_text())
    print((out / "verdicts.md").read_text())
    for problem in args.problems:
        for name in (f"w1-{problem}.png", f"samples-{problem}.png"):
            if (out / name).is_file():
                print(out / name)
    print(report.out / "report.html")
    return 0
