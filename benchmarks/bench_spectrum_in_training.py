"""What ``eval.spectrum`` costs against the training it watches: looks every 500 steps.

On a trained run's checkpoints (every 500 steps: the looks of ``eval.spectrum.every=500``),
in one process, interleaved:

Times are process CPU seconds of one thread (wall seconds are recorded too: on a loaded
machine they measure the other work as much as this one).

* the training time of 500 steps of the run's own config (timed over ``--steps`` steps with
  evaluation, samples and checkpoints off, diagnostics as configured, scaled to 500);
* the looks, in order over the checkpoints so each starts from the previous one's vectors,
  as the trainer runs them: ``eval.spectrum.products`` = 40 (Ritz values from 40 products per
  operator, the default) and 0 (solved to the float32 tolerance, what ``convergan spectrum``
  computes), with the products through the field's kept graph and the seconds per product;
* the Ritz look's logged values against the solved ones at the same checkpoint, and the residual
  it logged.

    OMP_NUM_THREADS=1 python benchmarks/bench_spectrum_in_training.py RUN_DIR [--steps 100]

Writes ``benchmarks/results/spectrum/in_training.json`` with the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import torch

import convergan.analysis.spectrum as spectrum_module
from convergan.config import config_at
from convergan.runs.at_step import CheckpointAt, optimizer_states
from convergan.runs.spectrum_in_training import InTrainingSpectrum
from convergan.training.diagnostics import diagnostics_every
from convergan.training.directory import RunDirectory
from convergan.training.loop import train

RESULTS = Path(__file__).parent / "results" / "spectrum" / "in_training.json"
EVERY = 500
OPERATORS: list = []


class CountedOperator(spectrum_module.JacobianOperator):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        OPERATORS.append(self)


def training_seconds(run: RunDirectory, steps: int) -> tuple[float, float]:
    """Wall and process CPU seconds of ``steps`` steps of the run's config, from a fresh
    start, with the diagnostics as often as in the run (its ``every`` resolved for its own
    length)."""
    config = run.config
    with tempfile.TemporaryDirectory() as out:
        train_options = dataclasses.replace(
            config.train, steps=steps, eval_every=0, sample_every=0, checkpoint_every=0
        )
        diagnostics = dataclasses.replace(config.eval.diagnostics, every=diagnostics_every(config))
        evaluation = dataclasses.replace(config.eval, diagnostics=diagnostics)
        fresh = dataclasses.replace(
            config, out_dir=str(Path(out) / "run"), train=train_options, eval=evaluation
        )
        start, cpu_start = time.perf_counter(), time.process_time()
        train(fresh, progress=False)
        return time.perf_counter() - start, time.process_time() - cpu_start


class _State:
    def __init__(self, moves) -> None:
        self.moves = moves


def looks(run: RunDirectory, steps: list[int], products: int) -> list[dict]:
    look = InTrainingSpectrum()
    rows = []
    for step in steps:
        at = CheckpointAt(run, step)
        spectrum = dataclasses.replace(at.config.eval.spectrum, products=products)
        config = dataclasses.replace(
            run.config, eval=dataclasses.replace(run.config.eval, spectrum=spectrum)
        )
        OPERATORS.clear()
        state = _State(optimizer_states(at.state))
        start, cpu_start = time.perf_counter(), time.process_time()
        scalars = look(config, at.players.generator, at.players.discriminator, at.x, step, state)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        count = sum(op.products for op in OPERATORS)
        rows.append(
            {"step": step, "seconds": seconds, "cpu_seconds": cpu, "products": count}
            | {"cpu_seconds_per_product": cpu / max(count, 1), "scalars": scalars}
        )
        print(products, json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    spectrum_module_operator = spectrum_module.JacobianOperator
    import convergan.runs.spectrum as runs_spectrum
    import convergan.runs.spectrum_in_training as in_training

    for module in (in_training, runs_spectrum):
        module.JacobianOperator = CountedOperator
    run = RunDirectory.open(args.run_dir)
    steps = [s for s in run.steps() if s % EVERY == 0]
    config = config_at(run.config, steps[-1])
    result = {
        "run": Path(args.run_dir).name,
        "checkpoints": steps,
        "k": config.eval.spectrum.k,
        "which": list(config.eval.spectrum.which),
        "samples": config.eval.spectrum.samples,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "load_average_at_start": os.getloadavg(),
    }
    first = training_seconds(run, args.steps)
    ritz = looks(run, steps, products=40)
    solved = looks(run, steps, products=0)
    second = training_seconds(run, args.steps)
    # CPU seconds (one thread): less moved than wall seconds by other work on the machine
    per_500 = EVERY * min(first[1], second[1]) / args.steps
    result["training_cpu_seconds_per_500_steps"] = per_500
    result["training_seconds_measured"] = {"wall": [first[0], second[0]]}
    result["training_seconds_measured"]["cpu"] = [first[1], second[1]]
    for name, rows in (("ritz_40", ritz), ("solved", solved)):
        warm = rows[1:] or rows  # the first look starts cold
        mean = sum(r["cpu_seconds"] for r in warm) / len(warm)
        result[name] = {
            "looks": rows,
            "warm_look_cpu_seconds": mean,
            "fraction_of_training": mean / per_500,
        }
    result["ritz_vs_solved"] = [
        {
            key: [r["scalars"][key], a["scalars"][key]]
            for key in ("spectrum/max_real", "spectrum/max_abs", "spectrum/update_radius")
        }
        | {"ritz_max_residual": r["scalars"]["spectrum/max_residual"]}
        for r, a in zip(ritz, solved)
    ]
    result["load_average_at_end"] = os.getloadavg()
    spectrum_module.JacobianOperator = spectrum_module_operator
    print(json.dumps({k: v for k, v in result.items() if k not in ("ritz_40", "solved")}))
    for name in ("ritz_40", "solved"):
        print(name, result[name]["warm_look_cpu_seconds"], result[name]["fraction_of_training"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
