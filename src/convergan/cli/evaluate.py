"""``convergan eval``: metrics of a run's checkpoint (EMA and raw generator)."""

from __future__ import annotations

import json

from convergan.cli.errors import COUNT, UsageError


def register(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="metrics of a run's latest checkpoint (FID/KID/PR for images, W1 for 2D)",
        description="Evaluate the latest checkpoint of RUN_DIR with registered metrics: FID, "
        "KID, precision/recall (and IS) for image runs in the feature space of eval.features, "
        "W1 and mode statistics for 2D runs, and any metric a plugin registers. Both the EMA "
        "and the raw generator are evaluated unless --no-ema/--ema-only.",
    )
    parser.add_argument("run_dir", help="run directory")
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        metavar="M",
        help="registered metrics, e.g. w1 modes or fid kid pr (default: the run's "
        "eval.metrics); see `convergan --help` for the registered names",
    )
    parser.add_argument(
        "--n",
        type=COUNT,
        default=None,
        help="generated samples (default: the run's eval.n_samples)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-ema", action="store_true", help="evaluate the raw generator only")
    which.add_argument("--ema-only", action="store_true", help="evaluate the EMA generator only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run_eval)


def run_eval(args) -> int:
    from convergan.cli.train import _user_errors
    from convergan.runs.evaluation import evaluate_run

    versions = ("ema",) if args.ema_only else ("raw",) if args.no_ema else ("ema", "raw")
    try:
        step, results = evaluate_run(args.run_dir, args.metrics, args.n, versions)
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps({"run_dir": args.run_dir, "step": step, **results}))
        return 0
    print(f"{args.run_dir} at step {step}")
    names = sorted({k for r in results.values() for k in r})
    print(f"  {'metric':<28}" + "".join(f"{v:>14}" for v in results))
    for metric in names:
        cells = "".join(f"{results[v].get(metric, float('nan')):>14.6g}" for v in results)
        print(f"  {metric:<28}{cells}")
    return 0
