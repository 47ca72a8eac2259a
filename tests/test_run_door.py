"""A run directory has one door, :class:`convergan.training.directory.RunDirectory`: no other
module of the package builds the path of a run's file from its name.

The check reads the sources (their syntax trees): a path built with ``/``, ``Path(...)``,
``joinpath``, ``open`` or a glob from a name of the run layout, a module-level constant
holding such a name, or an import of the layout's name constants, anywhere but in
``training/directory.py``, is a second door. ``training/lock.py`` owns ``.lock`` (it locks
sweep folders too) and ``checkpoint.py`` the ``step-*.pt`` files inside ``checkpoints/``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "convergan"
DOOR = "training/directory.py"

# The layout of a run directory, as its documentation lists it.
RUN_FILES = {
    "config.yaml",
    "run.json",
    "outcome.json",
    "metrics.jsonl",
    "tensorboard",
    "samples",
    "checkpoints",
    "verdict",
    "cell.json",
    "error.txt",
}
# Names that one other module owns, with the module.
OWNED_ELSEWHERE = {".lock": "training/lock.py", "step-": "checkpoint.py"}
# Modules whose constants name run files: importing one is opening a file by name.
NAME_CONSTANTS = {
    "convergan.training.directory": str.isupper,  # CONFIG_FILE, SAMPLES, ...
    "convergan.training.lock": lambda name: name == "LOCK_NAME",
}
PATH_CALLS = {"Path", "PurePath", "open", "joinpath", "glob", "rglob", "iglob", "join"}


def _names_a_run_file(text: str) -> str | None:
    """The run file ``text`` names as a path or a path's component (``"samples/x.png"``,
    ``"config.yaml"``, ``"/verdict/"``), else ``None``."""
    for part in text.replace("\\", "/").split("/"):
        if part in RUN_FILES:
            return part
    return None


def _owned_elsewhere(text: str, module: str) -> str | None:
    for name, owner in OWNED_ELSEWHERE.items():
        if text.replace("\\", "/").split("/")[-1].startswith(name) and module != owner:
            return name
    return None


def _constant_parts(node: ast.AST) -> list[str]:
    """The literal text of a string constant or of an f-string's literal parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    return []


def second_doors(source: str, module: str) -> list[str]:
    """``line: what`` for every place in ``source`` (the module ``module``, relative to the
    package) that names a file of a run directory outside the door."""
    if module == DOOR:
        return []
    found = []
    tree = ast.parse(source)

    def flag(node: ast.AST, text: str) -> None:
        name = _names_a_run_file(text) or _owned_elsewhere(text, module)
        if name is not None:
            found.append(f"{module}:{node.lineno}: {name!r}")

    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for text in _constant_parts(node.right):
                flag(node, text)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in PATH_CALLS:
                for argument in node.args:
                    for text in _constant_parts(argument):
                        flag(node, text)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node in tree.body:
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                flag(node, value.value)
        elif isinstance(node, ast.ImportFrom) and node.module in NAME_CONSTANTS:
            for alias in node.names:
                if NAME_CONSTANTS[node.module](alias.name):
                    found.append(f"{module}:{node.lineno}: imports {alias.name}")
    return found


def package_modules() -> list[tuple[str, str]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_no_module_but_the_door_names_a_run_file():
    doors = [door for module, text in package_modules() for door in second_doors(text, module)]
    assert not doors, "run files named outside RunDirectory:\n" + "\n".join(doors)


def test_the_door_holds_the_whole_layout():
    from convergan.training import directory

    assert set(directory.RUN_FILE_NAMES) == RUN_FILES


@pytest.mark.parametrize(
    "code",
    [
        # the bypasses this check closed, as they were written
        'path = run.run_dir / "config.yaml"',
        "rows = metrics_by_step(directory / METRICS_FILE)\nMETRICS_FILE = 'metrics.jsonl'",
        'if not (run_dir / "checkpoints").is_dir(): pass',
        'images = sorted((run.run_dir / "samples").glob("step-*.png"))',
        'path = run.directory.path / "samples" / f"step-{step:08d}{suffix}.png"',
        'CELL_FILE = "cell.json"',
        'FOLDER = "verdict"',
        'write_text(run_dir_path / "error.txt", text)',
        "from convergan.training.directory import CONFIG_FILE",
        "from convergan.training.lock import LOCK_NAME, holder_description",
        # other spellings of the same
        'open(os.path.join(run_dir, "run.json"))',
        'Path(run_dir, "outcome.json").read_text()',
        'run_dir.joinpath("tensorboard")',
        'text = (folder / f"verdict/{part}.json").read_text()',
        'holder = (Path(directory) / ".lock").read_text()',
    ],
)
def test_the_check_finds_a_second_door(code):
    assert second_doors(textwrap.dedent(code), "studies/somewhere.py")


@pytest.mark.parametrize(
    "code",
    [
        'record = {"samples": n, "verdict": v, "checkpoints": steps}',  # keys, not paths
        'parser.add_argument("run_dir", help="run directory (config.yaml, checkpoints/)")',
        "rows = RunDirectory(run_dir).metrics()",
        'path = folder / "report.html"',
    ],
)
def test_the_check_lets_other_code_be(code):
    assert not second_doors(code, "studies/somewhere.py")


def test_opening_the_door_imports_no_torch():
    # A sweep's controller and `convergan report` read runs through it without torch.
    code = (
        "import sys, convergan.training.directory, convergan.studies.results, "
        "convergan.studies.workers; print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("with_folder", [False, True])
def test_resume_without_a_checkpoint_file_is_one_line(tmp_path, capsys, with_folder):
    # The folder alone is no checkpoint: `resume` refuses before it builds the run.
    from cli_helpers import one_line

    from convergan.config import load_config, save_config

    run_dir = tmp_path / "run"
    save_config(load_config("toy2d/circle", [f"out_dir={run_dir}"]), run_dir / "config.yaml")
    if with_folder:
        (run_dir / "checkpoints").mkdir()
    line = one_line(capsys, "resume", run_dir)
    assert f"{run_dir} has no checkpoints to resume from" in line
