"""``convergan train``, ``resume`` and ``sample``: training real GANs from YAML configs."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from convergan.cli.errors import COUNT, SEED, UsageError
from convergan.cli.names import registered_names
from convergan.cli.outputs import writable_file

DIVERGED_EXIT = 3


def register(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a GAN from a YAML config with key=value overrides",
        description="Train a GAN. CONFIG is a YAML file or a shipped config's name (e.g. "
        "toy2d/circle; `convergan configs` lists them); overrides are dotted "
        "key=value pairs, e.g. `method=r1 method.gamma=1 train.steps=2000 out_dir=runs/r1` or "
        "`method.loss=hinge method.penalties=[r1:10]`, in any order with the options.",
        epilog=registered_names(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("config", nargs="?", help="YAML config file or shipped config name")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    # `dirac analyze --method r1` is the habit; here it is one line pointing to the override
    # (otherwise argparse lumps the valid overrides after it into "unrecognized arguments").
    for flag in ("--method", "--scheme"):
        train.add_argument(flag, dest=f"{flag[2:]}_flag", help=argparse.SUPPRESS)
    train.set_defaults(run=run_train, parser=train)

    resume = commands.add_parser(
        "resume",
        help="continue a run from its latest checkpoint",
        description="Continue the run in RUN_DIR from its latest checkpoint, bit-identically on "
        "CPU. Overrides apply on top of the run's config.yaml, e.g. a larger train.steps.",
    )
    resume.add_argument("run_dir", help="run directory (holds config.yaml and checkpoints/)")
    resume.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    resume.set_defaults(run=run_resume)

    sample = commands.add_parser(
        "sample",
        help="draw samples from a run's generator",
        description="Draw N samples from the latest checkpoint of RUN_DIR (EMA generator by "
        "default). FILE ending in .png writes a figure, in .npy the raw samples.",
    )
    sample.add_argument("run_dir", help="run directory")
    sample.add_argument("--n", type=COUNT, default=1000, help="number of samples (default 1000)")
    sample.add_argument("--out", required=True, metavar="FILE", help="output .png or .npy file")
    sample.add_argument("--seed", type=SEED, default=0, help="latent seed (default 0)")
    sample.add_argument("--no-ema", action="store_true", help="use the raw generator, not the EMA")
    sample.set_defaults(run=run_sample)


def _user_errors():
    """Exceptions that mean the user gave us something wrong (one line, exit 2)."""
    from convergan.checkpoint import CheckpointError
    from convergan.config import ConfigError
    from convergan.data.image_formats import DatasetError

    # WeightsNotFoundError (a missing feature extractor) is a FileNotFoundError.
    return (ConfigError, CheckpointError, DatasetError, FileExistsError, FileNotFoundError)


def _load(config_path: Path, overrides: list[str]):
    from convergan.config import load_config

    return load_config(config_path, overrides)


def _run_training(config, resume: bool, quiet: bool) -> int:
    from convergan.field import DivergenceError
    from convergan.runs import train

    try:
        result = train(config, resume=resume, progress=False if quiet else None)
    except DivergenceError as error:
        kept = getattr(error, "last_checkpoint_step", None)
        note = (
            f"the last good checkpoint (step {kept}) is kept"
            if kept is not None
            else "no checkpoint had been written yet"
        )
        sys.stderr.write(f"convergan: {error}; {note}\n")
        return DIVERGED_EXIT
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Checkpoints are written atomically, so a full disk cannot have damaged one.
        raise UsageError(
            f"disk full while writing {error.filename or config.out_dir}; the checkpoints "
            f"already written are intact, nothing was lost: free space, then "
            f"`convergan resume {config.out_dir}`"
        ) from None
    if not result.is_main_process:
        return 0
    print(f"run directory: {result.run_dir}")
    evals = {k: v for k, v in result.last_metrics.items() if k.startswith("eval/")}
    for name, value in evals.items():
        print(f"  {name:<28} {value:.6g}")
    return 0


def _refuse_empty(config_path: Path) -> None:
    """An empty config file would silently train the schema's defaults (2000 steps of a 2D
    MLP): the library allows it (``load_config``), the command refuses it."""
    from convergan.config import read_config_file
    from convergan.config.shipped import find_config

    if not read_config_file(config_path):
        raise UsageError(
            f"{find_config(config_path)} holds no settings (an empty config would train the "
            "built-in defaults); give at least data.name, or start from a shipped config "
            "(`convergan configs`)"
        )


def run_train(args) -> int:
    for key in ("method", "scheme"):
        value = getattr(args, f"{key}_flag")
        if value is not None:
            raise UsageError(f"--{key}: train takes it as an override, {key}={value}")
    if args.config is None:
        return _usage_and_configs(args.parser)
    _config_first(args)
    try:
        _refuse_empty(Path(args.config))
        config = _load(Path(args.config), args.overrides)
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    return _run_training(config, resume=False, quiet=args.quiet)


def _usage_and_configs(parser) -> int:
    """``convergan train`` alone: the usage and the shipped configs' names, on stderr."""
    from convergan.config.shipped import CONFIGS, shipped

    names = [name for name in shipped(CONFIGS) if not name.endswith("/base")]
    parser.print_usage(sys.stderr)
    sys.stderr.write(
        f"{parser.prog}: give a config: a YAML file or one of {', '.join(names)} "
        f"(`convergan configs` describes them), e.g. `{parser.prog} toy2d/circle`\n"
    )
    return 2


def _config_first(args) -> None:
    """Options and ``KEY=VALUE`` pairs come in any order, so the config may too: argparse
    takes the first positional for it; when that is an override, take the first word that is
    not one (``train model.width=16 --quiet toy2d/circle``)."""
    if "=" not in args.config:
        return
    files = [word for word in args.overrides if "=" not in word]
    if not files:
        raise UsageError(
            f"no config file given (every positional is a KEY=VALUE override, the first "
            f"{args.config}); name a YAML file or a shipped config (`convergan configs`)"
        )
    args.overrides.remove(files[0])
    args.overrides.insert(0, args.config)
    args.config = files[0]


def run_resume(args) -> int:
    from convergan.training.directory import RunDirectory

    run_dir = Path(args.run_dir)
    try:
        directory = RunDirectory.open(run_dir)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    try:
        config = _load(directory.config_file, [*args.overrides, f"out_dir={run_dir}"])
    except _user_errors() as error:
        raise UsageError(str(error)) from None
    if directory.latest_step() is None:
        raise UsageError(f"{run_dir} has no checkpoints to resume from")
    return _run_training(config, resume=True, quiet=args.quiet)


def run_sample(args) -> int:
    from convergan.runs.memory import EvaluationTooLarge
    from convergan.runs.sampling import SampleWriteError, load_generator_samples

    out = Path(args.out)
    if out.suffix not in (".png", ".npy"):
        raise UsageError(f"--out must end in .png or .npy, got {out.name}")
    writable_file(out, "--out")
    try:
        path = load_generator_samples(Path(args.run_dir), args.n, out, args.seed, not args.no_ema)
    except (*_user_errors(), EvaluationTooLarge, SampleWriteError) as error:
        raise UsageError(str(error)) from None
    print(path)
    return 0
