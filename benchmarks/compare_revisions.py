"""Before/after speed of two revisions, measured in one run, alternating.

Checks out ``--before`` (a git revision) into a temporary worktree and runs the same
benchmark of both trees alternately, ``--rounds`` times, each in a fresh process with the
tree's own ``src`` first on ``PYTHONPATH``: load from elsewhere on the machine hits both alike.
Reports the median of each number over the rounds and the after/before ratios.

    python benchmarks/compare_revisions.py --before e3d6ed3 --rounds 3

Benchmarks compared: ``bench_train_step.py`` (DCGAN D step, ms) and ``bench_toy2d.py``
(2D trainer steps/s), both at ``--threads`` torch threads. Each tree runs its own copy of
the script (the API changed between them); the quantities measured are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = {
    "train_step": ("bench_train_step.py", "train_step.json", ["--repeats", "10"]),
    "toy2d": ("bench_toy2d.py", "toy2d_speed.json", ["--steps", "200"]),
}


def run(tree: Path, name: str, threads: int) -> dict:
    script, result, extra = BENCHMARKS[name]
    extra = [*extra, "--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "MPLBACKEND": "Agg"}
    subprocess.run(
        [sys.executable, str(tree / "benchmarks" / script), *extra],
        cwd=tree,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads((tree / "benchmarks" / "results" / result).read_text())


def flat(record: dict, prefix: str = "") -> dict[str, float]:
    values = {}
    for key, value in record.items():
        if isinstance(value, dict):
            values.update(flat(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values[prefix + key] = float(value)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both benchmarks")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "revisions.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(before), args.before],
                       cwd=ROOT, check=True)  # fmt: skip
        try:
            samples: dict[str, dict[str, dict[str, list[float]]]] = {}
            for round_ in range(args.rounds):
                for name in BENCHMARKS:
                    for label, tree in (("before", before), ("after", ROOT)):
                        print(
                            f"round {round_ + 1}/{args.rounds}: {name} ({label})", file=sys.stderr
                        )
                        for key, value in flat(run(tree, name, args.threads)).items():
                            samples.setdefault(name, {}).setdefault(key, {}).setdefault(
                                label, []
                            ).append(value)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT)
    report = {}
    for name, keys in samples.items():
        for key, by_label in keys.items():
            if set(by_label) != {"before", "after"}:
                continue
            b, a = statistics.median(by_label["before"]), statistics.median(by_label["after"])
            report[f"{name}.{key}"] = {
                "before": b,
                "after": a,
                "after_over_before": a / b if b else None,
            }
    summary = {"before": args.before, "rounds": args.rounds, "threads": args.threads}
    Path(args.out).write_text(json.dumps({**summary, "medians": report}, indent=1))
    print("| quantity | before | after | after / before |")
    print("|---|---|---|---|")
    for key, row in report.items():
        ratio = row["after_over_before"]
        print(f"| {key} | {row['before']:.4g} | {row['after']:.4g} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
