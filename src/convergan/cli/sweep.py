"""``convergan sweep SPEC.yaml`` (run a grid of runs) and ``convergan sweep status DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

from convergan.cli.errors import COUNT, UsageError
from convergan.cli.outputs import writable_folder

EPILOG = """\
examples:
  convergan sweep toy2d-methods --out out/toy2d-methods
  convergan sweep r1-gamma --jobs 2 train.steps=500 --axis seed=[0,1,2]
  convergan sweep my-sweep.yaml --launcher slurm --dry-run
  convergan sweep status out/toy2d-methods
"""


def register(commands) -> None:
    parser = commands.add_parser(
        "sweep",
        help="run a grid of training runs (local processes, SLURM or in-process)",
        description="Run every cell of a sweep spec as an ordinary run directory under "
        "OUT/runs/<cell>, with submitit (local: subprocesses, at most --jobs at a time; slurm: "
        "one job array; debug: in this process). Re-running skips finished cells and resumes "
        "interrupted ones. `convergan sweep status DIR` shows the cells' state.",
        epilog=EPILOG,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
        add_help=False,  # `sweep status --help` shows status's help: see run_sweep_command
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    parser.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC | status",
        help="sweep spec file or shipped spec name (`convergan configs`), or `status`",
    )
    parser.add_argument(
        "items",
        nargs="*",
        metavar="DIR | KEY=VALUE",
        help=("after `status`: the sweep directory; after a spec: overrides for every cell"),
    )
    parser.add_argument("--out", help="sweep directory (default out/sweeps/<spec name>)")
    parser.add_argument("--launcher", choices=("local", "slurm", "debug"))
    parser.add_argument("--jobs", type=COUNT, help="cells at once (local; default cores/threads)")
    parser.add_argument("--threads", type=COUNT, help="torch threads per cell (default 1)")
    parser.add_argument(
        "--axis",
        action="append",
        default=[],
        metavar="KEY=[V1,V2]",
        help="replace the spec's axis of KEY (base labels or config names for base; every "
        "key of a zip group together) or add one, e.g. --axis seed=[0,1,2]; may repeat",
    )
    parser.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    parser.add_argument(
        "--dry-run", action="store_true", help="show the cells (and the sbatch script); run none"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="slurm: return after submitting the array"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-estimate",
        action="store_true",
        help="start at once, without timing a few steps of the first cell to estimate the "
        "sweep's wall time",
    )
    parser.add_argument(
        "--max-cells",
        type=COUNT,
        default=None,
        metavar="N",
        help="refuse grids of more than N cells (default 100000)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="run a grid of more than 1000 cells without asking"
    )
    parser.set_defaults(run=run_sweep_command, parser=parser)


def _status_parser():
    from convergan.cli.errors import ArgumentParser

    parser = ArgumentParser(
        prog="convergan sweep status",
        description="A table of every cell of a sweep directory: its status, the step "
        "reached of the planned steps, the last value of each eval metric, the training time "
        "and the error of failed cells.",
        epilog="example:\n  convergan sweep status out/toy2d-methods",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", metavar="DIR", help="the sweep's --out directory")
    return parser


def run_sweep_command(args) -> int:
    if args.help:
        (_status_parser() if args.spec == "status" else args.parser).print_help()
        return 0
    if args.spec is None:
        args.parser.error("the following arguments are required: SPEC | status")
    if args.spec == "status":
        return _status(args)
    from convergan.options import ConfigError
    from convergan.studies.planning import MAX_CELLS, check_grid_size

    max_cells = MAX_CELLS if args.max_cells is None else args.max_cells
    try:
        spec = load_spec(args.spec, args.items, args.axis, args.launcher, args.jobs, args.threads)
        out = Path(args.out or Path("out") / "sweeps" / spec.name)
        count = check_grid_size(spec, max_cells)  # counted, not built
        if args.dry_run:
            print(f"sweep {spec.name}: {count} cells -> {out}", flush=True)  # before planning
            print(dry_run(spec, out, args.retry_failed, max_cells))
            return 0
        _confirm(count, args.yes)
        writable_folder(out, "--out")
        _check_slurm(spec.launcher.name)
        from convergan.studies.launch import run_sweep

        counts = run_sweep(
            spec,
            out,
            retry_failed=args.retry_failed,
            wait=not args.no_wait,
            progress=not args.no_progress,
            max_cells=max_cells,
            estimate=not args.no_estimate,
        )
    except ConfigError as error:  # SweepChanged, GridTooLarge and SweepBusy are ConfigErrors
        raise UsageError(str(error)) from None
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f" -> {out}")
    print(f"next: convergan report {out}")
    return 0 if counts.get("failed", 0) == 0 else 1


def _check_slurm(launcher: str) -> None:
    """The SLURM launcher submits with sbatch and its jobs run srun: refuse at once where
    they are missing (a laptop, a compute node without the client tools)."""
    import shutil

    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if launcher == "slurm" and missing:
        raise UsageError(
            f"the slurm launcher needs sbatch and srun, and {' and '.join(missing)} is not "
            "found here (not a SLURM login node): run the sweep there, or here with "
            "--launcher local (--dry-run shows the sbatch script)"
        )


def _confirm(count: int, yes: bool) -> None:
    """Above CONFIRM_CELLS cells: ask on a terminal, else require ``--yes``."""
    from convergan.studies.planning import CONFIRM_CELLS

    if count <= CONFIRM_CELLS or yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"this sweep has {count:,} cells (more than {CONFIRM_CELLS:,}); "
            "pass --yes to run them, or --dry-run to list them"
        )
    answer = input(f"this sweep has {count:,} cells (more than {CONFIRM_CELLS:,}); run? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("not run")


def load_spec(path, overrides, axes, launcher, jobs, threads):
    """The spec with the command line's overrides, axes and launcher settings."""
    from convergan.config.load import parse_overrides, parse_yaml
    from convergan.options import ConfigError
    from convergan.studies.spec import load_sweep_spec, with_command_line, with_launcher

    spec = load_sweep_spec(path)  # a file or a shipped name
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"expected KEY=VALUE overrides after the spec, got {item!r}")
    parse_overrides(overrides)  # checks the syntax; values are validated per cell
    extra = {}
    for item in overrides:
        key, _, text = item.partition("=")
        extra[key.strip()] = parse_yaml(text, key)
    new_axes = []
    for item in axes:
        key, sep, text = item.partition("=")
        values = parse_yaml(text, f"--axis {key}") if sep else None
        if not isinstance(values, list) or not values:
            raise ConfigError(f"--axis {item!r}: expected KEY=[V1,V2,...]")
        new_axes.append((key.strip(), values))
    spec = with_command_line(spec, extra, new_axes)
    return with_launcher(spec, name=launcher, jobs=jobs, threads=threads)


def dry_run(spec, out: Path, retry_failed: bool, max_cells: int | None = None) -> str:
    from convergan.studies.estimate import estimate_line
    from convergan.studies.executors import sbatch_script
    from convergan.studies.grid import cell_overrides
    from convergan.studies.launch import cells_at_once
    from convergan.studies.planning import MAX_CELLS, plan, to_run
    from convergan.studies.workers import local_jobs

    planned = plan(spec, out, MAX_CELLS if max_cells is None else max_cells)
    todo = {id(p) for p in to_run(planned, retry_failed)}
    width = max(len(p.cell.name) for p in planned)
    lines = []  # after the header line, which the caller prints before planning
    for p in planned:
        action = ("resume" if p.status == "interrupted" else "run") if id(p) in todo else "skip"
        lines.append(f"  {p.cell.name.ljust(width)}  {p.status:<11}  {action}")
    first = planned[0]
    lines.append(
        f"cell config: {first.cell.base} "
        + " ".join(cell_overrides(spec, first.cell, first.run_dir))
    )
    if spec.launcher.name == "local":
        jobs, note = local_jobs(spec)
        lines.append(
            f"local: {jobs} jobs x {spec.launcher.threads} threads" + (f" ({note})" if note else "")
        )
    if todo:  # from the sweep's finished cells, if any: a dry run trains nothing
        todo_cells = [p for p in planned if id(p) in todo]
        lines.append(estimate_line(spec, planned, todo_cells, *cells_at_once(spec), probe=False))
    if spec.launcher.name == "slurm" and todo:
        lines += ["sbatch script submitit would submit:", sbatch_script(spec, out, len(todo))]
    return "\n".join(lines)


def _status(args) -> int:
    from convergan.studies.status import status_table

    if len(args.items) != 1:
        raise UsageError("usage: convergan sweep status DIR")
    try:
        print(status_table(args.items[0]))
    except ValueError as error:
        raise UsageError(str(error)) from None
    sys.stdout.flush()
    return 0
