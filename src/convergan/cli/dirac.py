"""``convergan dirac``: the exact analysis of the Dirac-GAN from the command line."""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING

from convergan.cli.dirac_record import analysis_record, describe_scheme
from convergan.cli.dirac_table import TABLE_GAMES, format_complex, readable, run_table
from convergan.cli.errors import UsageError
from convergan.cli.names import ANALYSIS_KINDS, registered_names
from convergan.cli.outputs import writable_folder
from convergan.cli.threads import one_thread
from convergan.registry import METHODS, SCHEMES
from convergan.schemes.spec import MAX_STEPS_PER_PHASE

# The analysis imports torch: the run functions import it, so --help and argument errors
# stay fast (tests/test_cli_startup.py).
if TYPE_CHECKING:
    import torch

    from convergan.methods.spec import MethodSpec
    from convergan.schemes import SchemeSpec

OVERRIDE_SECTIONS = ("method", "scheme", "plugins")
DEFAULT_LR = 0.1  # both players' rate in `dirac analyze`/`figures` (the schemes have none)


def register(commands) -> None:
    parser = commands.add_parser(
        "dirac",
        help="exact convergence analysis on the Dirac-GAN",
        description="Exact convergence analysis on the Dirac-GAN (Mescheder et al., 2018).",
    )
    sub = parser.add_subparsers(dest="dirac_command", metavar="COMMAND", required=True)

    analyze_parser = sub.add_parser(
        "analyze",
        help="eigenvalues, spectral radius, verdict and largest stable learning rate",
        description="Linearise a method and a scheme at the equilibrium (0, 0) and report the "
        "eigenvalues of the field Jacobian and of the update operator, the spectral radius, "
        "the verdict and the largest stable learning rate. The method is a preset (--method) "
        "or any composition given as method.* overrides, as in a training config.",
        epilog=_registered_names(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _method_and_scheme_arguments(analyze_parser)
    analyze_parser.add_argument("--json", action="store_true", help="print one JSON object")
    analyze_parser.set_defaults(run=run_analyze)

    simulate_parser = sub.add_parser(
        "simulate",
        help="run the scheme from a starting point and report the trajectory",
        description="Iterate the scheme on the exact Dirac-GAN field from --start and classify "
        "the trajectory: converges (final distance < 1e-3 of the initial one), diverges "
        "(non-finite, or > 1.5x and still growing: the second half's peak distance > 1.1x the "
        "first half's) or oscillates (a bounded band or orbit).",
    )
    _method_and_scheme_arguments(simulate_parser)
    simulate_parser.add_argument(
        "--steps", type=int, default=500, help="number of scheme steps (default 500)"
    )
    simulate_parser.add_argument(
        "--start",
        nargs=2,
        metavar=("THETA", "PSI"),
        default=["1.0", "1.0"],
        help="starting point (default 1 1)",
    )
    simulate_parser.add_argument("--json", action="store_true", help="print one JSON object")
    simulate_parser.set_defaults(run=run_simulate)

    table_parser = sub.add_parser(
        "table",
        help="every method x scheme with eigenvalues, spectral radius and verdict",
        description="Analyse every method (default hyperparameters) with every scheme and check "
        "the Jacobian eigenvalues against the paper's closed forms.",
    )
    table_parser.add_argument("--lr", type=float, default=0.5, help="learning rate (default 0.5)")
    table_parser.add_argument(
        "--game",
        choices=TABLE_GAMES,
        default="dirac",
        help="dirac: every preset on the Dirac-GAN (default); two-points: the non-saturating "
        "loss and RpGAN with R1, R2 and R1 + R2 on the two-point game, where they differ",
    )
    output = table_parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON list")
    output.add_argument("--csv", action="store_true", help="print CSV")
    table_parser.set_defaults(run=run_table)

    figure_parser = sub.add_parser(
        "figure",
        help="write the Figure-3 grids, eigenvalue plot, stability maps and an animation",
        description="Write PNG figures (and a GIF) of the Dirac-GAN analysis into --out.",
    )
    figure_parser.add_argument(
        "--out", default="out/dirac", help="output folder (default out/dirac)"
    )
    figure_parser.set_defaults(run=run_figure)


def _method_and_scheme_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="method/scheme settings as in a training config, e.g. method.loss=hinge "
        "method.penalties=[r1:1,r2:2] scheme.d_steps=2 plugins=[my_loss.py]",
    )
    method = parser.add_argument_group("method (a preset, or method.* overrides)")
    method.add_argument("--method", metavar="NAME", help=f"a preset: {', '.join(METHODS.names())}")
    method.add_argument(
        "--gamma", type=float, help="regularization strength (r1, r2, nsgan-r1, consensus, wgan-gp)"
    )
    method.add_argument("--sigma", type=float, help="instance noise standard deviation")
    method.add_argument("--clip", type=float, help="WGAN weight clipping bound")
    method.add_argument("--target", type=float, help="WGAN-GP target gradient norm (default 1)")
    scheme = parser.add_argument_group("scheme")
    scheme.add_argument(
        "--scheme",
        metavar="NAME",
        help=f"update scheme: {', '.join(SCHEMES.names())} (default simgd)",
    )
    scheme.add_argument(
        "--lr",
        type=float,
        default=DEFAULT_LR,
        help=f"learning rate of both players (default {DEFAULT_LR})",
    )
    scheme.add_argument("--lr-g", type=float, help="generator learning rate (TTUR)")
    scheme.add_argument("--lr-d", type=float, help="discriminator learning rate (TTUR)")
    scheme.add_argument("--g-steps", type=int, help="altgd: generator steps per round")
    scheme.add_argument("--d-steps", type=int, help="altgd: discriminator steps per round")
    scheme.add_argument(
        "--lazy", type=int, metavar="K", help="apply regularizers every K steps with gain K"
    )


def _spec_settings(args) -> dict:
    """The flags and ``KEY=VALUE`` overrides as one settings layer (flags first, overrides
    on top), restricted to the sections the analysis reads."""
    from convergan.config.load import check_none_dropped, merge_layers, parse_overrides

    flags: dict = {}
    if args.method is not None:
        flags["method"] = {"name": args.method}
    for name in ("gamma", "sigma", "clip", "target"):
        value = getattr(args, name)
        if value is not None:
            if not math.isfinite(value) or value < 0 or (name == "clip" and value == 0):
                bound = "> 0" if name == "clip" else ">= 0"
                raise UsageError(f"--{name} must be a finite number {bound}, got {value}")
            flags.setdefault("method", {})[name] = value
    scheme = {"name": args.scheme or "simgd"}
    for flag, key in (("g_steps", "g_steps"), ("d_steps", "d_steps"), ("lazy", "lazy_every")):
        value = getattr(args, flag)
        if value is not None:
            if not 1 <= value <= MAX_STEPS_PER_PHASE:
                raise UsageError(
                    f"--{flag.replace('_', '-')} must be in [1, {MAX_STEPS_PER_PHASE}], got {value}"
                )
            scheme[key] = value
    flags["scheme"] = scheme
    try:
        layer = parse_overrides(args.overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None
    stray = [k for k in layer if k not in OVERRIDE_SECTIONS]
    if stray:
        raise UsageError(
            f"dirac commands take method.*, scheme.* and plugins overrides, not {stray[0]!r}"
        )
    settings = merge_layers(flags, layer)
    given = [k for k in flags.get("method", {}) if k != "name"]
    try:  # a flag's number that an override's composition replaces: one line, not dropped
        check_none_dropped(settings.get("method"), given)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return settings


def build_specs(args) -> tuple[MethodSpec, SchemeSpec]:
    """The method and scheme specs from ``--method``/``--scheme`` flags and overrides."""
    from convergan.methods.parse import parse_method
    from convergan.options import ConfigError
    from convergan.plugin_loading import PluginError, load_plugins
    from convergan.schemes.spec import parse_scheme

    settings = _spec_settings(args)
    if "method" not in settings:
        raise UsageError("name a method: --method NAME, or method.* overrides (see --help)")
    try:
        load_plugins(settings.get("plugins") or [])
        return parse_method(settings["method"]), parse_scheme(settings["scheme"])
    except (ConfigError, PluginError) as error:
        raise UsageError(str(error)) from None


def _registered_names() -> str:
    return "\n".join(
        [
            registered_names(ANALYSIS_KINDS),
            "examples:",
            "  convergan dirac analyze --method r1 --gamma 1 --scheme altgd --lr 0.5",
            "  convergan dirac analyze method.loss=nonsaturating method.penalties=[r1:1,r2:2] "
            "--scheme simgd --lr 0.5 --json",
        ]
    )


MAX_RATE_ORDERS = 15  # decimal orders of magnitude that float64 resolves (about 1e-16)


def _rates(args) -> dict:
    for flag in ("lr", "lr_g", "lr_d"):
        value = getattr(args, flag)
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise UsageError(f"--{flag.replace('_', '-')} must be > 0, got {value}")
    rates = {"lr": args.lr, "lr_g": args.lr_g, "lr_d": args.lr_d}
    lr_g, lr_d = rates["lr_g"] or rates["lr"], rates["lr_d"] or rates["lr"]
    if lr_g is not None and lr_d is not None:
        # The analysis rescales both rates by the larger one; a ratio beyond double precision
        # would turn the smaller into 0 (or its effect into rounding noise).
        orders = abs(math.log10(lr_g) - math.log10(lr_d))
        if orders > MAX_RATE_ORDERS:
            raise UsageError(
                f"--lr-g {lr_g:g} and --lr-d {lr_d:g} differ by a factor of 1e{orders:.0f}; "
                f"the analysis needs them within 1e{MAX_RATE_ORDERS} of each other "
                "(double precision)"
            )
    return {k: v for k, v in rates.items() if v is not None}


def run_analyze(args) -> int:
    from convergan.analysis import analyze
    from convergan.games import dirac_gan

    spec, scheme_spec = build_specs(args)
    scheme = scheme_spec.build(**_rates(args))
    try:
        with one_thread():
            result = analyze(dirac_gan(), spec.build(), scheme, progress=True)
    except ValueError as error:
        raise UsageError(str(error)) from None
    record = analysis_record(result, spec, scheme)
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"method      {spec}")
    print(
        f"scheme      {describe_scheme(scheme)}  lr_g={record['lr_g']:g}  lr_d={record['lr_d']:g}"
        f"  period={record['period']}"
    )
    if not record["regular_equilibrium"]:
        print(f"note        {record['note']}")
        counts = ", ".join(f"{n} {v}" for v, n in record["trajectory_verdicts"].items())
        print(f"trajectories from 8 starts at distance 0.5, 300 steps: {counts}")
        return 0
    print(
        "field eigenvalues    "
        + "  ".join(format_complex(p) for p in record["jacobian_eigenvalues"])
    )
    if record["theory_eigenvalues"] is not None:
        print(
            "closed form          "
            + "  ".join(format_complex(p) for p in record["theory_eigenvalues"])
            + f"   (max error {record['theory_max_error']:.1e})"
        )
    print(
        "update eigenvalues   " + "  ".join(format_complex(p) for p in record["update_eigenvalues"])
    )
    print(
        f"spectral radius      {readable(record['spectral_radius'])}"
        f"  (per step {readable(record['rate_per_step'])})"
    )
    print(f"verdict              {record['verdict']}")
    print(
        "continuous time      "
        + ("stable" if record["continuous_time_stable"] else "not asymptotically stable")
    )
    if record["max_stable_lr_unbounded"]:
        print("max stable lr        unbounded (converges at every larger rate)")
    elif not record["stable_lr_intervals"]:
        print("max stable lr        none (no learning rate converges)")
    elif record["max_stable_lr"] is not None:
        print(f"max stable lr        {record['max_stable_lr']:.6g}")
    else:
        print(f"max stable lr        {record['max_stable_lr_scale']:.6g} x (lr_g, lr_d)")
    if record["stable_lr_intervals"]:
        which = "lr" if record["lr_g"] == record["lr_d"] else "max(lr_g, lr_d), ratio kept"
        how = "" if record["stable_lr_exact"] else f"; {GRID_NOTE}"
        shown = ", ".join(format_range(lo, hi) for lo, hi in record["stable_lr_intervals"])
        print(f"stable lr ranges     {shown}  ({which}{how})")
    if record["note"] != "regular equilibrium":
        print(f"note                 {record['note']}")
    return 0


GRID_NOTE = "grid search over a long period: a range narrower than 1.2% can be missed"


def format_range(lo: float, hi: float | None) -> str:
    """``(lo, hi)`` to 6 significant digits, or more where a narrow range needs them to show
    two different ends."""
    if hi is None:
        return f"({lo:.6g}, inf)"
    digits = 6
    while digits < 17 and f"{lo:.{digits}g}" == f"{hi:.{digits}g}":
        digits += 1
    return f"({lo:.{digits}g}, {hi:.{digits}g})"


def _parse_start(values) -> torch.Tensor:
    import torch

    try:
        start = [float(v) for v in values]
    except ValueError:
        raise UsageError(f"--start needs two numbers THETA PSI, got {' '.join(values)}") from None
    if not all(math.isfinite(v) for v in start):
        raise UsageError("--start must be finite")
    return torch.tensor([start], dtype=torch.float64)


def run_simulate(args) -> int:
    from convergan.analysis import simulate
    from convergan.games import dirac_gan

    spec, scheme_spec = build_specs(args)
    method, scheme = spec.build(), scheme_spec.build(**_rates(args))
    if args.steps <= 0:
        raise UsageError(f"--steps must be > 0, got {args.steps}")
    start = _parse_start(args.start)
    try:
        with one_thread():
            result = simulate(
                dirac_gan(), method, scheme, start, args.steps, progress=not args.json
            )
    except ValueError as error:
        raise UsageError(str(error)) from None
    path = result.path[0]
    record = {
        "method": method.name,
        "method_params": spec.hyperparameters,
        "method_spec": spec.to_dict(),
        "scheme": scheme.name,
        "steps": args.steps,
        "start": start[0].tolist(),
        "trajectory": [[_json_float(v) for v in row] for row in path.tolist()],
        "initial_distance": float(result.initial_distance[0]),
        "final_distance": _json_float(float(result.final_distance[0])),
        "verdict": result.verdicts[0],
    }
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"{method.name} with {scheme.name}: {record['verdict']}")
    print(
        f"distance to equilibrium {record['initial_distance']:.6g} -> "
        f"{float(result.final_distance[0]):.6g} after {args.steps} steps"
    )
    for t in sorted({0, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps}):
        theta, psi = path[t].tolist()
        print(f"  step {t:>7d}  theta={theta:+.6g}  psi={psi:+.6g}")
    return 0


def _json_float(value: float):
    return value if math.isfinite(value) else None


def run_figure(args) -> int:
    try:
        from convergan.plots.dirac import write_all_figures
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency
        raise UsageError(f"figures need matplotlib: {error}") from None
    out = writable_folder(args.out, "--out")
    try:
        paths = write_all_figures(out)
    except OSError as error:  # read-only or full disk
        raise UsageError(f"--out: cannot write into {out} ({error.strerror or error})") from None
    for path in paths:
        print(path)
    return 0
