"""A wheel carries the configs and sweep specs: installed outside a checkout, the shipped names
work (`convergan train toy2d/circle`, `convergan study toy2d`)."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model.width=8", "model.depth=1", "data.batch_size=16", "eval.w1_samples=100"]


def _python(args, cwd, site, timeout=120):
    # Only the installed copy is importable: PYTHONPATH is the target folder, never src/.
    env = {**os.environ, "PYTHONPATH": str(site), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_wheel_ships_configs_and_sweeps_and_runs_outside_the_checkout(tmp_path):
    # Build from a copy of the checkout, so no build/ folder is left in it.
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(tree)],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("convergan-*.whl")
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".yaml")}
    expected = {
        f"convergan/{p.relative_to(ROOT / 'src' / 'convergan').as_posix()}"
        for p in (ROOT / "src" / "convergan").rglob("*.yaml")
    }
    assert shipped == expected and "convergan/sweeps/toy2d-methods.yaml" in shipped

    site = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300
    )
    work = tmp_path / "elsewhere"  # outside the checkout: no configs/ or sweeps/ here
    work.mkdir()

    where = _python(["-c", "import convergan; print(convergan.__file__)"], work, site)
    assert Path(where.strip()).resolve().is_relative_to(site.resolve())

    run_dir = work / "run"
    argv = ["-m", "convergan", "train", "toy2d/circle", "train.steps=3", "train.log_every=1"]
    _python([*argv, "train.eval_every=3", *TINY, f"out_dir={run_dir}", "--quiet"], work, site)
    assert (run_dir / "config.yaml").is_file()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) >= 3

    study = work / "study"
    _python(
        ["-m", "convergan", "study", "toy2d", "--problems", "circle", "--methods", "gan"]
        + ["--seeds", "1", "--steps", "2", "--launcher", "debug", "--out", str(study), *TINY],
        work,
        site,
    )
    (row,) = json.loads((study / "study.json").read_text())  # one problem x one method
    assert (row["problem"], row["method"], row["seeds"], row["status"]) == (
        "circle",
        "gan",
        [0],
        ["done"],
    )
    cell = study / "runs" / "base=circle,method=gan,seed=0"
    assert (cell / "config.yaml").is_file() and (study / "report" / "report.html").is_file()
