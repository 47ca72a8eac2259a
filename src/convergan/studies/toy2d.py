"""The paper's §5 experiment in miniature: train several methods on 2D problems, compare W1.

Every run is an ordinary :func:`convergan.training.loop.train` run with its own run directory
(so each can be inspected, resumed or sampled); the study only reads their ``metrics.jsonl``
and final checkpoints to draw the comparison.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from convergan.config import load_config
from convergan.config.schema import Config
from convergan.methods.presets import preset_spec
from convergan.training.report import read_metrics

# The shipped configs when running from a checkout; schema defaults otherwise.
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs" / "toy2d"


@dataclass(frozen=True)
class StudyRun:
    problem: str
    method: str
    run_dir: Path
    steps: list[int]
    w1: list[float]
    seconds: float

    @property
    def final_w1(self) -> float:
        return self.w1[-1] if self.w1 else float("nan")


def study_config(
    problem: str, method: str, steps: int, out_dir: Path, overrides: Sequence[str] = ()
) -> Config:
    """The shipped config of ``problem`` with ``method`` (preset defaults) and ``steps``."""
    path = CONFIG_DIR / f"{problem}.yaml"
    base = load_config(path if path.is_file() else None, [f"data.name={problem}", *overrides])
    spec = preset_spec(method)
    eval_every = max(1, steps // 20)
    return replace(
        base,
        method=spec,
        out_dir=str(out_dir / problem / method),
        train=replace(
            base.train,
            steps=steps,
            eval_every=eval_every,
            sample_every=0,
            checkpoint_every=0,
            log_every=eval_every,
            progress=False,
        ),
    )


def run_study(
    problems: Sequence[str],
    methods: Sequence[str],
    steps: int,
    out_dir: Path,
    overrides: Sequence[str] = (),
    log=lambda message: print(message, file=sys.stderr),
) -> list[StudyRun]:
    """Train every (problem, method) pair and write ``w1-<problem>.png``,
    ``samples-<problem>.png`` and ``study.json`` / ``study.md`` into ``out_dir``."""
    from convergan.training.loop import train

    out_dir = Path(out_dir)
    runs = []
    total = len(problems) * len(methods)
    for problem in problems:
        for method in methods:
            config = study_config(problem, method, steps, out_dir, overrides)
            if Path(config.out_dir).exists():
                import shutil

                shutil.rmtree(config.out_dir)  # a study always starts its runs afresh
            started = time.perf_counter()
            log(f"[{len(runs) + 1}/{total}] {problem} / {method}: {steps} steps ...")
            train(config, progress=False)
            seconds = time.perf_counter() - started
            records = [
                r for r in read_metrics(Path(config.out_dir) / "metrics.jsonl") if "eval/w1" in r
            ]
            run = StudyRun(
                problem,
                method,
                Path(config.out_dir),
                [r["step"] for r in records],
                [r["eval/w1"] for r in records],
                seconds,
            )
            log(f"    W1 = {run.final_w1:.4f} after {steps} steps ({seconds:.1f} s)")
            runs.append(run)
        _figures(out_dir, problem, [r for r in runs if r.problem == problem])
    _tables(out_dir, runs, steps, config.eval.w1_samples)
    return runs


def _figures(out_dir: Path, problem: str, runs: list[StudyRun]) -> None:
    import torch
    from matplotlib.figure import Figure

    from convergan.data.toy2d import make_toy2d
    from convergan.plots.toy2d import plot_samples, plot_w1_curves
    from convergan.training.evaluate import generate
    from convergan.training.problem import sample_latents
    from convergan.training.sampling import load_run, saved_generator

    plot_w1_curves(
        {r.method: (r.steps, r.w1) for r in runs},
        out_dir / f"w1-{problem}.png",
        title=f"{problem}: Wasserstein-1 to the data (EMA generator)",
    )
    figure = Figure(figsize=(3.2 * len(runs), 3.4), layout="constrained")
    axes = figure.subplots(1, len(runs), squeeze=False)[0]
    real = make_toy2d(problem).sample(1000, torch.Generator().manual_seed(0))
    for ax, run in zip(axes, runs):
        config, players, state, _ = load_run(run.run_dir)  # players hold the saved weights
        params = saved_generator(config, state)
        fake = generate(players.generator, params, sample_latents(1000, players.latent_dim, 1))
        plot_samples(
            real,
            fake,
            players.discriminator,
            ax=ax,
            title=f"{run.method}: W1 {run.final_w1:.3f}",
        )
    figure.suptitle(f"{problem}: final samples (orange) over the data (blue) and D's contour")
    figure.savefig(out_dir / f"samples-{problem}.png", dpi=110)


def _tables(out_dir: Path, runs: list[StudyRun], steps: int, w1_samples: int) -> None:
    problems = list(dict.fromkeys(r.problem for r in runs))
    methods = list(dict.fromkeys(r.method for r in runs))
    lookup = {(r.problem, r.method): r for r in runs}
    lines = [
        f"W1 (exact EMD, POT) between {w1_samples} generated (EMA) and {w1_samples} data "
        f"samples after {steps} steps.",
        "",
        "| method | " + " | ".join(problems) + " |",
        "|---|" + "---|" * len(problems),
    ]
    for m in methods:
        cells = [f"{lookup[(p, m)].final_w1:.3f}" if (p, m) in lookup else "" for p in problems]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    (out_dir / "study.md").write_text("\n".join(lines) + "\n")
    (out_dir / "study.json").write_text(
        json.dumps(
            [
                {
                    "problem": r.problem,
                    "method": r.method,
                    "steps": r.steps,
                    "w1": r.w1,
                    "final_w1": r.final_w1,
                    "seconds": r.seconds,
                    "run_dir": str(r.run_dir),
                }
                for r in runs
            ],
            indent=1,
        )
    )
