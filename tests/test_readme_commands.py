"""The command blocks marked ``<!-- checked -->`` in the README and the docs pages print what
the pages say (the format and the comparison: ``doc_pages``)."""

import shlex
import sys

import pytest
from doc_pages import ROOT, checked_blocks, missing_lines, same

from convergan.cli.main import main

CHECKED = [(page, code.strip(), expected) for page, code, expected in checked_blocks("bash")]


def test_the_pages_have_checked_blocks():
    pages = {page for page, _, _ in CHECKED}
    assert len(CHECKED) >= 7 and {"README.md", "docs/guides/dirac.md"} <= pages


@pytest.mark.parametrize(
    ("page", "command", "expected"), CHECKED, ids=[f"{p}: {c}" for p, c, _ in CHECKED]
)
def test_a_checked_command_prints_what_its_page_says(
    page, command, expected, capsys, monkeypatch, isolated_registries
):
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/convergan" and "\n" not in command
    monkeypatch.chdir(ROOT)  # plugins=[examples/...] are relative to the checkout
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv[1:]))
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out.splitlines()
    line = missing_lines(expected, printed)
    assert line is None, f"{page}: line not printed (in order): {line!r}\n" + "\n".join(printed)


def test_the_comparison_catches_a_changed_number():
    assert same("rho  0.7500  converges  1e-16", "rho 0.75 converges 0e+00")
    assert same("-0.000+0.500i", "+0.000+0.500i")
    assert not same("rho  0.7500  converges", "rho  0.7501  converges")
    assert not same("rho  0.7500  converges", "rho  0.7500  diverges")
    assert not same("eigenvalues -1.000 -0.000", "eigenvalues -1.000 -0.000 -0.000")
    assert missing_lines("a 1\nb 2", ["a 1", "x", "b 2"]) is None
    assert missing_lines("b 2\na 1", ["a 1", "b 2"]) == "a 1"  # order matters
