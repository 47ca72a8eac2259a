"""The README's command blocks marked ``<!-- checked -->`` print what the README says.

A checked block is the marker, a ```bash block of one ``.venv/bin/convergan ...`` command and
a plain ``` block of expected lines. Each expected line must appear, in order, among the lines
the command prints (so an abridged table is fine): the same words, and the same numbers as
values (``-0.000`` equals ``+0.000``; round-off below 1e-12, as in "max error 1e-16", matches
any other round-off)."""

import re
import shlex
import sys
from pathlib import Path

import pytest

from convergan.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- checked -->\n```bash\n(.*?)\n```\n```\n(.*?)```", flags=re.S)
NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?")
ROUND_OFF = 1e-12
CHECKED = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def parts(line: str) -> tuple[str, list[float]]:
    """The line's words with every number replaced by ``#``, and the numbers."""
    numbers = [float(n) for n in NUMBER.findall(line)]
    return " ".join(NUMBER.sub("#", line).split()), numbers


def same(expected: str, printed: str) -> bool:
    (words, numbers), (printed_words, printed_numbers) = parts(expected), parts(printed)
    if words != printed_words or len(numbers) != len(printed_numbers):
        return False
    return all(
        a == b or (abs(a) < ROUND_OFF and abs(b) < ROUND_OFF)
        for a, b in zip(numbers, printed_numbers, strict=True)
    )


def test_the_readme_has_checked_blocks():
    assert len(CHECKED) >= 5


@pytest.mark.parametrize(("command", "expected"), CHECKED, ids=[c for c, _ in CHECKED])
def test_a_checked_readme_command_prints_what_the_readme_says(
    command, expected, capsys, monkeypatch, isolated_registries
):
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/convergan" and "\n" not in command
    monkeypatch.chdir(ROOT)  # plugins=[examples/...] are relative to the checkout
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv[1:]))
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.splitlines()
    at = 0
    for line in expected.splitlines():
        match = next((i for i in range(at, len(printed)) if same(line, printed[i])), None)
        assert match is not None, f"README line not printed (in order): {line!r}\n" + "\n".join(
            printed
        )
        at = match + 1


def test_the_comparison_catches_a_changed_number():
    assert same("rho  0.7500  converges  1e-16", "rho 0.75 converges 0e+00")
    assert same("-0.000+0.500i", "+0.000+0.500i")
    assert not same("rho  0.7500  converges", "rho  0.7501  converges")
    assert not same("rho  0.7500  converges", "rho  0.7500  diverges")
    assert not same("eigenvalues -1.000 -0.000", "eigenvalues -1.000 -0.000 -0.000")
