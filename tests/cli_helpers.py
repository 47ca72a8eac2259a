"""Running ``convergan`` in-process from a test, and the one-line error contract."""

from __future__ import annotations

import sys

import pytest

from convergan.cli.main import main

# A run small enough for error-path tests: they check what the command says, not what it trains.
TINY = ["model.width=8", "model.depth=1", "train.sample_every=0", "eval.metrics=[]"]

# The circle problem on players small enough to train a few dozen steps in a second.
TINY_CIRCLE = [
    "model.width=8",
    "model.depth=1",
    "model.latent_dim=2",
    "data.batch_size=16",
    "eval.w1_samples=64",
    "train.progress=false",
    "train.sample_every=0",
]


def run(capsys, *argv) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``convergan ARGV``."""
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main([str(a) for a in argv]))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def one_line(capsys, *argv) -> str:
    """The single error line of a command that must fail as a user error: exit 2, no
    traceback, one line starting with ``convergan`` (a ``note:`` on a busy machine aside)."""
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note: ")]
    assert code == 2, (argv, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("convergan"), (argv, err)
    return lines[0]
