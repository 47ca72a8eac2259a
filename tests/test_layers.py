"""The layer contract (DESIGN.md §9): imports point down, checked by import-linter's layers
contract in pyproject.toml, function-level imports included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "convergan"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return contract["layers"]


def lint(source_root: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def linter():
    if not LINT_IMPORTS.is_file():
        pytest.skip("import-linter is not installed (it is a dev dependency)")
    return lint


def test_the_package_keeps_the_contract(linter):
    result = linter(ROOT / "src", ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


def test_every_module_of_the_package_is_in_a_layer():
    """A module left out of every layer would be free to import anything."""
    listed = {
        name.strip().removeprefix("convergan.")
        for layer in contract_layers()
        for name in layer.replace("|", ":").split(":")
    }
    present = {
        p.stem if p.suffix == ".py" else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert present <= listed, f"not in any layer: {sorted(present - listed)}"


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("training/loop.py", "from convergan.cli import main"),  # training -> cli
        ("training/run.py", "import convergan.analysis.spectrum"),  # training -> analysis
        ("analysis/local.py", "from convergan.training import loop"),  # analysis -> training
        ("registry.py", "from convergan.config import load_config"),  # bottom -> config
        (
            "field/__init__.py" if (PACKAGE / "field").is_dir() else "field.py",
            "from convergan.schemes import SimGD",
        ),  # field -> schemes
    ],  # fmt: skip
)
def test_an_upward_import_inside_a_function_breaks_the_contract(linter, tmp_path, module, upward):
    copy = tmp_path / "src" / "convergan"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n\ndef _probe():\n    {upward}\n",
        encoding="utf-8",
    )
    result = linter(tmp_path / "src", ROOT / "pyproject.toml")
    assert result.returncode != 0, result.stdout
    offender = "convergan." + module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    assert f"- {offender} -> " in result.stdout  # the offending import is named
