"""Dirac-GAN analysis benchmarks (DESIGN.md §6); not run by CI.

Measures, in one run on this machine:

(a) a 1000 × 1000 (h, γ) stability map for R1 with SimGD and with AltGD (target < 2 s);
(b) batched trajectories against a straightforward per-trajectory Python loop (target ≥ 100×);
(c) the full Figure-3 grid, SimGD and AltGD figures together (target < 30 s).

Prints a markdown table and writes the JSON results to ``--out`` (default
``out/bench/dirac.json``, outside version control). Run with::

    python benchmarks/bench_dirac.py            # add --quick for a smoke run
    python benchmarks/bench_dirac.py --out benchmarks/results/dirac.json   # publish the numbers
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from convergan.analysis import simulate, stability_map
from convergan.field import GRADIENT_STEP, game_field
from convergan.games import dirac_gan
from convergan.methods import make_method
from convergan.plots.dirac import DEFAULT_LR, figure3_grid
from convergan.schemes import AltGD, SimGD

PUBLISHED = Path(__file__).parent / "results" / "dirac.json"  # the numbers in the docs
DEFAULT_OUT = Path("out") / "bench" / "dirac.json"


def timed(run: Callable[[], object], repeats: int) -> tuple[list[float], object]:
    """Wall times of ``repeats`` calls (``time.perf_counter``) and the last result."""
    times, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return times, result


def r1(gamma: torch.Tensor | float):
    return make_method("r1", gamma=gamma)


def bench_stability_map(size: int, repeats: int) -> dict:
    """First call (includes torch.func warm-up) and the median of ``repeats`` warm calls."""
    game = dirac_gan()
    lrs = torch.logspace(-2, 1, size, dtype=torch.float64)
    gammas = torch.logspace(-2, 1, size, dtype=torch.float64)
    out = {}
    for scheme in (SimGD(lr=1.0), AltGD(lr=1.0)):
        first, _ = timed(lambda s=scheme: stability_map(game, r1, s, lrs, gammas), 1)
        warm, result = timed(lambda s=scheme: stability_map(game, r1, s, lrs, gammas), repeats)
        assert result.radius.shape == (size, size)
        out[scheme.name] = {"first_s": first[0], "median_s": statistics.median(warm)}
    return out


def loop_with_simulate(game, starts, gammas, steps) -> torch.Tensor:
    """Baseline 1: the public API called once per trajectory (a batch of one)."""
    paths = [
        simulate(game, r1(float(g)), SimGD(lr=0.1), starts[i : i + 1], steps).path[0]
        for i, g in enumerate(gammas)
    ]
    return torch.stack(paths)


def loop_eager(game, starts, gammas, steps) -> torch.Tensor:
    """Baseline 2: the textbook loop, ``x, state = scheme.step(field, mover, x, state, t)`` on the
    exact field, without vmap."""
    scheme = SimGD(lr=0.1)
    paths = []
    for start, gamma in zip(starts, gammas):
        field = game_field(game, r1(float(gamma)))
        x = (start[:1].clone(), start[1:].clone())
        state = scheme.init(field, GRADIENT_STEP, x)
        path = [start]
        for t in range(steps):
            x, state = scheme.step(field, GRADIENT_STEP, x, state, t)
            path.append(torch.cat(x))
        paths.append(torch.stack(path))
    return torch.stack(paths)


def bench_trajectories(batch: int, loop_batch: int, steps: int, repeats: int) -> dict:
    """Per-trajectory time of one batched ``simulate`` (``batch`` trajectories, each with its
    own start and γ) against each loop baseline run on the first ``loop_batch`` of them.

    ratio = (loop seconds / loop_batch) / (batched seconds / batch), with the batched time the
    median of ``repeats`` calls and each loop timed once.
    """
    game = dirac_gan()
    generator = torch.Generator().manual_seed(0)
    starts = torch.rand(batch, 2, generator=generator, dtype=torch.float64) * 4 - 2
    gammas = torch.rand(batch, generator=generator, dtype=torch.float64) * 2
    simulate(game, r1, SimGD(lr=0.1), starts[:2], 2, method_params={"gamma": gammas[:2]})
    batched_times, batched = timed(
        lambda: simulate(game, r1, SimGD(lr=0.1), starts, steps, method_params={"gamma": gammas}),
        repeats,
    )
    per_batched = statistics.median(batched_times) / batch
    out = {
        "batch": batch,
        "steps": steps,
        "batched_s": statistics.median(batched_times),
        "batched_per_trajectory_s": per_batched,
        "loop_trajectories": loop_batch,
    }
    for name, loop in (("simulate", loop_with_simulate), ("eager", loop_eager)):
        (seconds,), paths = timed(
            lambda loop=loop: loop(game, starts[:loop_batch], gammas[:loop_batch], steps), 1
        )
        error = float((paths - batched.path[:loop_batch]).abs().max())
        per_loop = seconds / loop_batch
        out[f"loop_{name}"] = {
            "seconds": seconds,
            "per_trajectory_s": per_loop,
            "ratio": per_loop / per_batched,
            "max_abs_difference_to_batched": error,
        }
    out["ratio"] = min(out["loop_simulate"]["ratio"], out["loop_eager"]["ratio"])
    return out


def bench_figure3(steps: int) -> dict:
    """Both Figure-3 grids, from simulation to the saved PNG (one run each)."""
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for scheme in (SimGD(lr=DEFAULT_LR), AltGD(lr=DEFAULT_LR)):
            (seconds,), _ = timed(
                lambda s=scheme: figure3_grid(s, Path(folder) / f"{s.name}.png", steps=steps), 1
            )
            out[scheme.name] = seconds
    out["total_s"] = out["simgd"] + out["altgd"]
    out["steps"] = steps
    return out


def table(results: dict) -> str:
    maps, traj, fig3 = results["stability_map"], results["trajectories"], results["figure3"]
    size = results["config"]["map_size"]
    rows = [
        ("measurement", "value", "target", "met"),
        ("---", "---", "---", "---"),
    ]
    for name in ("simgd", "altgd"):
        m = maps[name]
        rows.append(
            (
                f"{size}×{size} R1 stability map, {name} (median warm; first call)",
                f"{m['median_s']:.2f} s; {m['first_s']:.2f} s",
                "< 2 s",
                "yes" if m["median_s"] < 2 else "no",
            )
        )
    rows.append(
        (
            f"batched simulate: {traj['batch']} trajectories × {traj['steps']} steps",
            f"{traj['batched_s']:.2f} s ({traj['batched_per_trajectory_s'] * 1e3:.2f} ms each)",
            "",
            "",
        )
    )
    for name, label in (("simulate", "simulate() per trajectory"), ("eager", "eager step loop")):
        loop = traj[f"loop_{name}"]
        rows.append(
            (
                f"loop baseline, {label} ({traj['loop_trajectories']} trajectories)",
                f"{loop['per_trajectory_s']:.3f} s each → {loop['ratio']:.0f}×",
                "≥ 100×",
                "yes" if loop["ratio"] >= 100 else "no",
            )
        )
    rows.append(
        (
            f"Figure-3 grids, SimGD + AltGD ({fig3['steps']} steps)",
            f"{fig3['total_s']:.1f} s ({fig3['simgd']:.1f} + {fig3['altgd']:.1f})",
            "< 30 s",
            "yes" if fig3["total_s"] < 30 else "no",
        )
    )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"JSON results file (default {DEFAULT_OUT}; {PUBLISHED} holds the published run)",
    )
    args = parser.parse_args()
    config = (
        {"map_size": 100, "batch": 50, "loop_batch": 2, "steps": 50, "figure_steps": 20}
        if args.quick
        else {"map_size": 1000, "batch": 1000, "loop_batch": 10, "steps": 500, "figure_steps": 300}
    )
    results = {
        "config": config,
        "environment": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "stability_map": bench_stability_map(config["map_size"], repeats=3),
        "trajectories": bench_trajectories(
            config["batch"], config["loop_batch"], config["steps"], repeats=3
        ),
        "figure3": bench_figure3(config["figure_steps"]),
    }
    results["ratio_definition"] = (
        "per-trajectory time of the loop baseline (its wall time / its trajectories) divided by "
        "per-trajectory time of one batched simulate call (median wall time / batch); the "
        "headline ratio is the smaller of the two baselines'"
    )
    print(table(results))
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
