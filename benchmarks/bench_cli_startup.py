"""Wall time of the ``convergan`` command, before and after a change, interleaved in one run.

Two suites: ``startup`` (default), ``--help`` of the top level and of two subcommands; and
``dirac-analyze``, a whole ``convergan dirac analyze`` run end to end (the issue-14 target is
under 1 s), beside ``python -c "import torch"`` as the floor no torch-based command can beat.

The ``--before`` revision's ``src`` is exported with ``git archive`` into a temporary folder;
each round runs every command once from each tree, alternating, in a fresh process with that
tree's ``src`` on ``PYTHONPATH``, so load from elsewhere on the machine hits both alike.
Reports the median and minimum wall time per command and tree, the import time of the whole
process as ``python -X importtime`` counts it (sum of the top-level imports, one extra run),
and whether torch was imported.

    python benchmarks/bench_cli_startup.py --before 0c44962 --rounds 10 \
        --out benchmarks/results/cli-startup.json
    python benchmarks/bench_cli_startup.py --suite dirac-analyze --before 142d6c5 \
        --rounds 10 --out benchmarks/results/dirac-analyze-wall.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRAC_ANALYZE = ["dirac", "analyze", "--method", "r1", "--gamma", "0.3", "--scheme", "simgd"]
SUITES = {
    "startup": {
        "convergan --help": ["--help"],
        "convergan train --help": ["train", "--help"],
        "convergan dirac analyze --help": ["dirac", "analyze", "--help"],
    },
    "dirac-analyze": {
        "convergan " + " ".join(DIRAC_ANALYZE) + " --lr 0.1": [*DIRAC_ANALYZE, "--lr", "0.1"],
        # not convergan: the floor, the same in both trees
        'python -c "import torch"': None,
    },
}
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def wall_time(src: Path, argv: list[str] | None) -> float:
    """One run of ``convergan ARGV`` (``None``: ``python -c "import torch"``), as a program."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = ["-c", "import torch"] if argv is None else ["-m", "convergan", *argv]
    started = time.perf_counter()
    subprocess.run([sys.executable, *command], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def import_profile(src: Path, argv: list[str] | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    heavy = ("torch", "scipy", "torch._dynamo", "sympy", "matplotlib", "pandas")
    run = "import torch" if argv is None else f"from convergan.cli.main import main; main({argv!r})"
    probe = (
        f"import sys\ntry: {run}\n"
        "except SystemExit: pass\n"
        f"loaded = ','.join(m for m in {heavy!r} if m in sys.modules)\n"
        "sys.stderr.write('\\nheavy: ' + loaded + '\\n')"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe], env=env, capture_output=True, text=True
    )
    total_us = 0
    for line in done.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match and match.group(3) == " ":  # a top-level import: its cumulative time
            total_us += int(match.group(2))
    # the line of its own (imports made at exit may follow it on stderr)
    lines = [line for line in done.stderr.splitlines() if line.startswith("heavy: ")]
    heavy = lines[-1].removeprefix("heavy: ").strip() if lines else ""
    return {"import_time_s": total_us / 1e6, "imports": heavy.split(",") if heavy else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="git revision to compare against")
    parser.add_argument("--suite", choices=sorted(SUITES), default="startup")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    commands = SUITES[args.suite]
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", args.before, "src"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees = {"before": Path(tmp) / "src", "after": ROOT / "src"}
        times = {tree: {name: [] for name in commands} for tree in trees}
        for argv in commands.values():  # warm-up: file caches, .pyc files
            for src in trees.values():
                wall_time(src, argv)
        for _ in range(args.rounds):
            for name, argv in commands.items():
                for tree, src in trees.items():
                    times[tree][name].append(wall_time(src, argv))
        results = {
            tree: {
                name: {
                    "wall_median_s": round(statistics.median(times[tree][name]), 4),
                    "wall_min_s": round(min(times[tree][name]), 4),
                    **import_profile(trees[tree], argv),
                }
                for name, argv in commands.items()
            }
            for tree in trees
        }
    ratios = {
        name: round(
            results["before"][name]["wall_median_s"] / results["after"][name]["wall_median_s"], 2
        )
        for name in commands
    }
    record = {
        "benchmark": "cli-startup" if args.suite == "startup" else f"cli-{args.suite}",
        "before": args.before,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [load_at_start, os.getloadavg()[0]],  # 1-minute, at start and end
        "results": results,
        "speedup_median": ratios,
    }
    text = json.dumps(record, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
