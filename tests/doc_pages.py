"""The documentation's pages (the README and the docs site's Markdown) and their checked blocks.

A checked block is the marker ``<!-- checked -->``, a fenced block of code (```bash with one
``.venv/bin/convergan ...`` command, or ```python) and a plain fenced block of expected lines.
Each expected line must appear, in order, among the lines the code prints (so an abridged table
is fine): the same words, and the same numbers as values (``-0.000`` equals ``+0.000``;
round-off below 1e-12, as in "max error 1e-16", matches any other round-off).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Every page a reader sees, README first; the hooks folder holds code, not pages.
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]
NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?")
ROUND_OFF = 1e-12


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def checked_blocks(language: str) -> list[tuple[str, str, str]]:
    """``(page, code, expected lines)`` of every checked block in ``language``."""
    block = re.compile(
        rf"<!-- checked -->\n```{language}\n(.*?)\n```\n```(?:text)?\n(.*?)```", re.S
    )
    found = [(name(p), code, expected) for p in PAGES for code, expected in block.findall(text(p))]
    return [(page, code.rstrip("\n") + "\n", expected) for page, code, expected in found]


def code_blocks(language: str) -> list[tuple[str, str]]:
    """``(page, code)`` of every fenced block in ``language``, checked or not."""
    block = re.compile(rf"^```{language}\n(.*?)^```", re.S | re.M)
    return [(name(p), code.rstrip("\n") + "\n") for p in PAGES for code in block.findall(text(p))]


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


def missing_lines(expected: str, printed: list[str]) -> str | None:
    """The first expected line not printed in order after the previous one, or ``None``."""
    at = 0
    for line in expected.splitlines():
        match = next((i for i in range(at, len(printed)) if same(line, printed[i])), None)
        if match is None:
            return line
        at = match + 1
    return None
