"""Fashion-MNIST at a fixed CPU budget: unregularized vs WGAN-GP vs R1 (DESIGN.md §6).

Trains configs/fashion-mnist/dcgan-{unregularized,wgangp,r1}.yaml for the same wall-clock
budget each, then measures FID / KID / precision-recall of the EMA generator in the feature
space of the project's Fashion-MNIST classifier (`convergan features train fashion-mnist`
first). Writes benchmarks/results/fashion-mnist/{results.json,results.md,<method>.png}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from convergan.config import load_config
from convergan.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "fashion-mnist"
CONFIGS = ["dcgan-unregularized", "dcgan-wgangp", "dcgan-r1"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0, help="budget per method")
    parser.add_argument("--n", type=int, default=5000, help="samples for FID/KID/PR")
    parser.add_argument("--runs", default="runs/fashion-mnist-budget", help="run directories")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in CONFIGS:
        run_dir = ROOT / args.runs / name
        shutil.rmtree(run_dir, ignore_errors=True)
        config = load_config(
            ROOT / "configs" / "fashion-mnist" / f"{name}.yaml",
            [
                f"out_dir={run_dir}",
                "train.steps=1000000",
                f"train.time_budget_minutes={args.minutes}",
                "train.eval_every=0",
                "train.sample_every=0",
                "train.checkpoint_every=1000",
                "eval.metrics=[fid,kid,pr]",
                f"eval.n_samples={args.n}",
                "device=cpu",
            ],
        )
        started = time.perf_counter()
        result = train(config, progress=False)
        seconds = time.perf_counter() - started
        metrics = {
            k.removeprefix("eval/"): v
            for k, v in result.last_metrics.items()
            if k.startswith("eval/")
        }
        results[name] = {"steps": result.steps, "seconds": seconds, **metrics}
        print(name, json.dumps(results[name]), flush=True)
        grid = sorted((run_dir / "samples").glob("step-*[0-9].png"))
        if grid:
            shutil.copy(grid[-1], OUT / f"{name}.png")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    lines = [
        f"| method | steps in {args.minutes:g} min | FID | KID | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['steps']} | {r.get('fid', float('nan')):.1f} | "
            f"{r.get('kid_mean', float('nan')):.3f} | {r.get('precision', float('nan')):.3f} | "
            f"{r.get('recall', float('nan')):.3f} |"
        )
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
