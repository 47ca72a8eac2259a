"""A fast command line: ``--help`` and argument errors import neither torch nor scipy.

Every command's help is built from the registries (names and descriptions) and every run
function imports the heavy modules itself; this holds that contract for every (sub)command
the parser has, found by walking it, so a new command is checked without being listed here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Runs in a fresh interpreter: this test process has torch imported already.
PROBE = r"""
import argparse, contextlib, io, json, sys

from convergan.cli.main import build_parser, main

HEAVY = ("torch", "scipy")


def command_paths(parser, prefix=()):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from command_paths(child, (*prefix, name))


calls = []
for path in command_paths(build_parser()):
    calls.append([*path, "--help"])
    calls.append([*path, "--no-such-option"])
calls.append(["no-such-command"])
calls += json.loads(sys.argv[1])  # extra calls, after the others

report = {"calls": [], "heavy": None}
for argv in calls:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
    report["calls"].append({"argv": argv, "code": code, "out": len(out.getvalue())})
    loaded = [name for name in HEAVY if name in sys.modules]
    if loaded:
        report["heavy"] = {"argv": argv, "modules": loaded}
        break
print(json.dumps(report))
"""


def probe(extra_calls=()):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(extra_calls))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_and_argument_errors_import_neither_torch_nor_scipy():
    report = probe()
    assert report["heavy"] is None, f"{report['heavy']['argv']} imported {report['heavy']}"
    calls = {tuple(c["argv"]): c for c in report["calls"]}
    # The walk found the nested commands, and each call did what it should: help exits 0 with
    # text on stdout, an unknown option exits 2 (argparse's usage error).
    assert ("dirac", "analyze", "--help") in calls and ("train", "--help") in calls
    assert len(calls) >= 2 * 15
    for argv, call in calls.items():
        if argv[-1] == "--help":
            assert call["code"] == 0 and call["out"] > 0, argv
        else:
            assert call["code"] == 2, argv


@pytest.mark.slow  # a subprocess imports torch
def test_the_probe_reports_a_command_that_imports_torch():
    # The check can fail: a real analysis (which needs torch) after the help calls is caught.
    analysis = ["dirac", "analyze", "--method", "r1", "--scheme", "simgd", "--lr", "0.5"]
    report = probe([analysis])
    assert report["heavy"]["argv"] == analysis and "torch" in report["heavy"]["modules"]
    assert report["calls"][-1]["code"] == 0


def test_every_declared_registry_entry_resolves_to_a_callable():
    # Built-ins declared by "module:attribute" (so --help lists them without torch) must name
    # something that exists: each is imported here and must be a class or a factory.
    from convergan.registry import REGISTRIES

    for kind, registry in REGISTRIES.items():
        for entry in registry.entries():
            assert callable(entry.value) or kind in ("methods", "metrics", "problem_families"), (
                kind,
                entry.name,
            )
