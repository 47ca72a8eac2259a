"""Per-step time of a tiny training run with and without schedules (the cost of reading the
values in force at each step).

The circle config shrunk to a width-8 MLP, batch 16, R1, Adam, no evaluation, logs every 1000
steps, one checkpoint at the end: a step is a few hundred microseconds on a quiet core, so the
per-step work around the scheme step (building or reading the parts in force) shows. The
scheduled variant puts schedules on G's learning rate, D's Adam β2, γ and the EMA half-life.
Each variant runs ``--repeats`` times, alternating; the median per-step time is printed. Run it
under two source trees (PYTHONPATH) to compare revisions: the API it uses is stable.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from convergan.config import load_config
from convergan.runs import train

TINY = [
    "model.width=8",
    "model.depth=1",
    "model.latent_dim=2",
    "data.batch_size=16",
    "method=r1",
    "optim.g.name=adam",
    "optim.d.name=adam",
    "eval.metrics=[]",
    "eval.diagnostics.every=0",
    "train.progress=false",
    "train.log_every=1000",
    "train.eval_every=0",
    "train.sample_every=0",
    "train.checkpoint_every=0",
]
SCHEDULED = [
    "optim.g.lr={schedule: cosine, start: 0.004, end: 0.001, steps: 4000, warmup_steps: 100}",
    "optim.d.betas=[0.0, {schedule: linear, start: 0.9, end: 0.99, samples: 64000}]",
    "method.gamma={schedule: cosine, start: 6.0, end: 1.0, samples: 64000}",
    "ema.half_life_samples={schedule: linear, start: 40, end: 2000, samples: 64000}",
]


def per_step(out: Path, steps: int, scheduled: bool) -> float:
    overrides = [f"out_dir={out}", *TINY, f"train.steps={steps}"]
    config = load_config("toy2d/circle", overrides + (SCHEDULED if scheduled else []))
    start = time.perf_counter()
    train(config, progress=False)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as folder:
        per_step(Path(folder) / "warm-up", 20, True)
        for repeat in range(args.repeats):
            for scheduled in (False, True):
                out = Path(folder) / f"run-{repeat}-{scheduled}"
                times[scheduled].append(per_step(out, args.steps, scheduled))
    for scheduled, values in times.items():
        label = "with schedules" if scheduled else "without schedules"
        median = 1e6 * statistics.median(values)
        print(f"{label:>18}: {median:7.1f} us/step (median of {args.repeats})")


if __name__ == "__main__":
    main()
