"""What the source cites exists: every ``tests/test_*.py`` and ``benchmarks/*.py`` file named
in a docstring or comment, and every section of docs/results/benchmarks.md cited by its
title ("Speed of dirac analyze" in docs/results/benchmarks.md)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "src" / "convergan").rglob("*.py"))
CITED_FILE = re.compile(r"\b(?:tests/test_\w+\.py|benchmarks/\w+\.py)")
CITED_SECTION = re.compile(r'"([^"]{3,80})" in docs/results/benchmarks\.md')


def one_line(text: str) -> str:
    """The text with line breaks, indentation and comment marks folded into single spaces,
    so a citation broken over two lines reads as one."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)


def test_the_patterns_find_citations():
    text = one_line('x  # see "A b" in\n    # docs/results/benchmarks.md and\n tests/test_x.py')
    assert CITED_SECTION.findall(text) == ["A b"]
    assert CITED_FILE.findall(text) == ["tests/test_x.py"]


def test_every_cited_test_and_benchmark_file_exists():
    cited = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in SOURCES
        for name in CITED_FILE.findall(one_line(path.read_text(encoding="utf-8")))
    }
    assert len(cited) >= 5  # the source does cite them; the pattern still matches
    missing = sorted((where, name) for where, name in cited if not (ROOT / name).is_file())
    assert missing == []


def test_every_cited_benchmark_section_exists():
    page = (ROOT / "docs" / "results" / "benchmarks.md").read_text(encoding="utf-8")
    titles = {m.strip() for m in re.findall(r"^#{2,3} (.+)$", page, flags=re.M)}
    cited = {
        (path.relative_to(ROOT).as_posix(), title)
        for path in SOURCES
        for title in CITED_SECTION.findall(one_line(path.read_text(encoding="utf-8")))
    }
    assert cited  # the source does cite sections
    assert sorted((where, t) for where, t in cited if t not in titles) == []
