"""The README's Python examples run and say what the README claims."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_examples_run(index, capsys):
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_momentum_claims_in_readme(capsys):
    exec(compile(BLOCKS[-1], "README last block", "exec"), {})
    out = capsys.readouterr().out
    assert "rho = 0.8171 (converges)" in out and "rho = 0.5477 (converges)" in out
    assert "no linear convergence" in out


def test_readme_documents_every_method_and_scheme():
    from convergan.registry import LOSSES, METHODS, PENALTIES, SCHEMES

    text = README.read_text()
    for name in [*METHODS, *SCHEMES, *LOSSES, *PENALTIES]:
        assert f"`{name}`" in text, name


def test_readme_registry_table_equals_the_registries():
    from convergan.registry import REGISTRIES

    rows = re.findall(r"^\| [^|]+ \| `([A-Z_0-9]+)` \| (.+) \|$", README.read_text(), flags=re.M)
    by_registry = {name: re.findall(r"`([^`]+)`", names) for name, names in rows}
    assert set(by_registry) == {k.upper() for k in REGISTRIES}
    for key, registry in REGISTRIES.items():
        listed = [n for n in by_registry[key.upper()] if "=" not in n]
        assert listed == list(registry.names()), key
