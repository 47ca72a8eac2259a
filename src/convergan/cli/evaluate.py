"""``convergan eval``: image metrics of a run's checkpoint (EMA and raw generator)."""

from __future__ import annotations

import json
from pathlib import Path

from convergan.cli.errors import UsageError

CHOICES = ("fid", "kid", "pr", "is", "w1", "modes")


def register(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="metrics of a run's latest checkpoint (FID/KID/PR for images, W1 for 2D)",
        description="Evaluate the latest checkpoint of RUN_DIR: FID, KID, precision/recall "
        "(and IS) for image runs in the feature space of eval.features, W1 and mode statistics "
        "for 2D runs. Both the EMA and the raw generator are evaluated unless --no-ema/--ema-only.",
    )
    parser.add_argument("run_dir", help="run directory")
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=CHOICES,
        default=None,
        metavar="M",
        help=f"metrics ({', '.join(CHOICES)}; default: the run's eval.metrics)",
    )
    parser.add_argument(
        "--n", type=int, default=None, help="generated samples (default: the run's eval.n_samples)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-ema", action="store_true", help="evaluate the raw generator only")
    which.add_argument("--ema-only", action="store_true", help="evaluate the EMA generator only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run_eval)


def run_eval(args) -> int:
    from dataclasses import replace

    from convergan.cli.train import _user_errors
    from convergan.training.evaluate import (
        evaluate_images,
        evaluate_toy2d,
        load_image_feature_extractor,
    )
    from convergan.training.problem import is_toy2d, make_real_stream
    from convergan.training.sampling import load_run, saved_generator

    if args.n is not None and args.n <= 0:
        raise UsageError(f"--n must be > 0, got {args.n}")
    try:
        config, players, state, step = load_run(Path(args.run_dir))
        evaluation = config.eval
        if args.metrics:
            evaluation = replace(evaluation, metrics=list(args.metrics))
        if args.n:
            evaluation = replace(evaluation, n_samples=args.n, w1_samples=args.n)
        config = replace(config, eval=evaluation)
        versions = {}
        if not args.no_ema and config.ema.enabled:
            versions["ema"] = saved_generator(config, state, use_ema=True)
        if not args.ema_only:
            versions["raw"] = saved_generator(config, state, use_ema=False)
        results = {}
        if is_toy2d(config):
            for name, params in versions.items():
                metrics = evaluate_toy2d(
                    config,
                    players.generator,
                    players.discriminator,
                    state["theta"],
                    state["psi"],
                    params,
                )
                results[name] = metrics
        else:
            import torch

            extractor = load_image_feature_extractor(config, torch.device("cpu"))
            if extractor is None:
                raise UsageError("no image metric requested; use --metrics fid kid pr")
            dataset = make_real_stream(config).dataset
            for name, params in versions.items():
                results[name] = evaluate_images(
                    config, players.generator, params, dataset, extractor, players.num_classes
                )
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
