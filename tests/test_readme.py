"""The README and the docs pages: their Python examples run and print what the pages say, the
names and tables they give are the registries', every result keeps its command, machine and
date, and the README stays a short entry point that links into the docs."""

import re

import pytest
import yaml
from doc_pages import DOCS, PAGES, ROOT, checked_blocks, code_blocks, missing_lines, name, text

# Every Python block runs; a checked one must also print what its page says.
CHECKED_PYTHON = checked_blocks("python")
EXPECTED = {(page, code): expected for page, code, expected in CHECKED_PYTHON}
PYTHON = [(page, code, EXPECTED.get((page, code))) for page, code in code_blocks("python")]


@pytest.mark.parametrize(
    ("page", "code", "expected"), PYTHON, ids=[f"{p}[{i}]" for i, (p, _, _) in enumerate(PYTHON)]
)
def test_a_python_example_runs_and_prints_what_its_page_says(page, code, expected, capsys):
    exec(compile(code, f"{page} example", "exec"), {})
    if expected is not None:
        printed = capsys.readouterr().out.splitlines()
        line = missing_lines(expected, printed)
        assert line is None, f"{page}: not printed (in order): {line!r}\n" + "\n".join(printed)


def test_the_python_examples_state_their_output():
    assert len(CHECKED_PYTHON) >= 2
    assert sum(expected is not None for _, _, expected in PYTHON) == len(CHECKED_PYTHON)
    momentum = next(expected for _, code, expected in CHECKED_PYTHON if "MomentumGD" in code)
    # The guide's claims about momentum, in its prose and in its expected output.
    guide = text(DOCS / "guides" / "dirac.md")
    assert "ρ = 0.548 against 0.750" in guide and "ρ = 0.817" in guide
    assert "rho = 0.8171 (converges)" in momentum and "rho = 0.5477 (converges)" in momentum


# Pages written by hand: the generated reference pages are filled in at build time.
WRITTEN = "\n".join(text(p) for p in PAGES)


def test_the_docs_name_every_method_scheme_loss_and_penalty():
    from convergan.registry import LOSSES, METHODS, PENALTIES, SCHEMES

    for registry_name in [*METHODS, *SCHEMES, *LOSSES, *PENALTIES]:
        assert f"`{registry_name}`" in WRITTEN, registry_name


def test_the_registry_table_equals_the_registries():
    from convergan.registry import REGISTRIES

    page = text(DOCS / "getting-started" / "methods.md")
    rows = re.findall(r"^\| [^|]+ \| `([A-Z_0-9]+)` \| (.+) \|$", page, flags=re.M)
    by_registry = {key: re.findall(r"`([^`]+)`", names) for key, names in rows}
    assert set(by_registry) == {k.upper() for k in REGISTRIES}
    for key, registry in REGISTRIES.items():
        listed = [n for n in by_registry[key.upper()] if "=" not in n]
        assert listed == list(registry.names()), key


@pytest.mark.parametrize("page", ["results.md", "benchmarks.md"])
def test_every_result_gives_its_command_machine_and_date(page):
    record = re.compile(
        r"^\*\*Command\*\* .*`.+`.* · \*\*Machine\*\* .+ · \*\*Date\*\* 20\d\d-\d\d-\d\d · "
        r"\*\*Record\*\* `benchmarks/results/.+",
        re.M,
    )
    sections = re.split(r"^## ", text(DOCS / "results" / page), flags=re.M)[1:]
    measured = [s for s in sections if re.search(r"^\|.*\|$|!\[", s, re.M)]  # a table or figure
    assert len(measured) >= 5
    for section in measured:
        assert record.search(section), section.splitlines()[0]
    lines = [line for line in text(DOCS / "results" / page).splitlines() if "**Command**" in line]
    assert all(record.match(line) for line in lines)


def test_the_docs_say_nothing_about_how_the_project_is_developed():
    internal = re.compile(r"\b[Ii]ssue \d+|\bDESIGN\b|\b[Tt]his session\b|pinned it down")
    found = [(name(p), m.group()) for p in PAGES for m in internal.finditer(text(p))]
    assert not found, found


def test_the_readme_is_short_and_links_into_the_docs():
    readme = text(ROOT / "README.md")
    assert len(readme.splitlines()) <= 250
    for step in (
        "make demo",
        "make test",
        "make docs",
        "convergan dirac analyze",
        "convergan verdict",
    ):
        assert step in readme, step
    targets = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(targets) >= 10
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert not missing, missing


def test_license_and_citation():
    import tomllib

    project = tomllib.loads(text(ROOT / "pyproject.toml"))["project"]
    assert project["license"] == {"text": "MIT"}
    assert text(ROOT / "LICENSE").startswith("MIT License")
    citation = yaml.safe_load(text(ROOT / "CITATION.cff"))
    assert citation["version"] == project["version"] and citation["license"] == "MIT"
    paper = citation["preferred-citation"]
    assert paper["title"] == "Which Training Methods for GANs do actually Converge?"
    assert [a["family-names"] for a in paper["authors"]] == ["Mescheder", "Geiger", "Nowozin"]
    assert paper["year"] == 2018 and "ICML" in paper["conference"]["name"]
