"""Training steps per second of the 2D MLP trainer, per method (same run, same machine).

Runs each method for a fixed number of steps on the circle problem with the shipped config
(MLP 3x256, batch 256, AltGD, RMSprop), with evaluation, samples and checkpoints off, and
reports steps/s and the ratio to the unregularized GAN. Writes
benchmarks/results/toy2d_speed.json.

The companion W1 study (the paper's §5 experiment in miniature) is a CLI command:
    convergan study toy2d --steps 2000 --out benchmarks/results/toy2d-study
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from convergan.config import load_config
from convergan.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "toy2d_speed.json"
METHODS = ["gan", "nsgan", "wgan", "wgan-gp", "consensus", "instance-noise", "r1", "r2"]


def steps_per_second(method: str, steps: int, out: Path) -> float:
    config = load_config(
        ROOT / "configs" / "toy2d" / "circle.yaml",
        [
            f"train.steps={steps}",
            "train.eval_every=0",
            "train.sample_every=0",
            "train.checkpoint_every=0",
            f"out_dir={out / method}",
            f"method={method}",  # the preset with its default hyperparameters
        ],
    )
    # The final-step hooks (one eval, one checkpoint) are timed too; they are amortised
    # over `steps`.
    start = time.perf_counter()
    train(config, progress=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: the first run in a process pays one-off imports (e.g. torch._dynamo via the
        # optimizers), which would otherwise be charged to the first method.
        steps_per_second("gan", 20, Path(tmp) / "warmup")
        rates = {m: steps_per_second(m, args.steps, Path(tmp)) for m in METHODS}
    base = rates["gan"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"steps": args.steps, "threads": args.threads, "steps_per_second": rates}, indent=1
        )
    )
    print("| method | steps/s | time per step vs gan |")
    print("|---|---|---|")
    for method, rate in rates.items():
        print(f"| {method} | {rate:.1f} | {base / rate:.2f}x |")


if __name__ == "__main__":
    main()
