"""Every file a command writes for a user is swapped in whole: a kill or a full disk at any
moment leaves the previous complete file (and a report's files agree with each other)."""

import csv
import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convergan import files

ROOT = Path(__file__).resolve().parents[1]
REPORT_FILES = ("results.csv", "summary.csv", "comparisons.csv", "report.md", "report.html")


def _sweep(directory: Path, finished: bool) -> Path:
    """A 2 x 2 sweep on disk: every run pending (no records), or every run done with a W1
    curve and a sample image."""
    import numpy as np
    from matplotlib.image import imsave

    from convergan.config import load_config
    from convergan.config.schema import config_to_dict

    cells = []
    for method in ("gan", "r1"):
        for seed in (0, 1):
            name = f"method={method},seed={seed}"
            run_dir = directory / "runs" / name
            (run_dir / "samples").mkdir(parents=True, exist_ok=True)
            values = {"method": method, "seed": seed}
            cells.append({"name": name, "values": values, "run_dir": f"runs/{name}"})
            if not finished:
                continue
            config = load_config("toy2d/circle", [f"method={method}", f"seed={seed}"])
            final = 0.1 * (seed + 1) * (1 if method == "r1" else 3)
            rows = [{"step": s, "eval/w1": final * (3 - s / 10)} for s in (10, 20)]
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            record = {"status": "done", "config": config_to_dict(config), "attempts": 1}
            (run_dir / "cell.json").write_text(json.dumps(record))
            imsave(run_dir / "samples" / "step-00000020.png", np.full((8, 8, 3), seed / 2))
    sweep = {"name": "kill", "axes": ["method", "seed"], "cells": cells}
    sweep["report"] = {"metric": "eval/w1", "axis": None}
    (directory / "sweep.json").write_text(json.dumps(sweep))
    return directory


def _report(sweep: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "convergan", "report", str(sweep), "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _generation(out: Path) -> set[str]:
    """Which report each file belongs to: "old" (all runs pending) or "new" (all done)."""
    seen = set()
    for name in REPORT_FILES:
        text = (out / name).read_text(encoding="utf-8")
        assert text, f"{name} is empty"
        if name == "results.csv":
            statuses = {row["status"] for row in csv.DictReader(io.StringIO(text))}
            assert statuses in ({"pending"}, {"done"}), statuses
            seen.add("old" if statuses == {"pending"} else "new")
        elif name == "summary.csv":
            assert text.count("\n") == 3, text  # header and two cells
            seen.add("new" if ",2,2,0,0,0," in text else "old")
        elif name == "comparisons.csv":
            seen.add("new" if text.count("\n") == 2 else "old")
        else:
            seen.add("old" if "4 of 4 runs have not finished" in text else "new")
    return seen


@pytest.mark.slow  # five report processes
def test_a_report_killed_at_random_moments_leaves_one_whole_report(tmp_path):
    """``convergan report --out X`` killed with SIGKILL over an older report: every file of X
    belongs to the old report or every file to the new one, none is cut off; the last,
    uninterrupted report equals one written in a fresh folder."""
    sweep = _sweep(tmp_path / "sweep", finished=False)
    out = tmp_path / "report"
    assert _report(sweep, out).wait() == 0 and _generation(out) == {"old"}
    _sweep(sweep, finished=True)
    clean = tmp_path / "clean"
    started = time.perf_counter()
    assert _report(sweep, clean).wait() == 0
    duration = time.perf_counter() - started
    generations = []
    rng = random.Random(24)
    for _ in range(3):
        process = _report(sweep, out)
        time.sleep(rng.uniform(0.35, 1.0) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait()
        generation = _generation(out)
        assert len(generation) == 1, f"a mixed report: {generation}"
        generations += generation
    assert _report(sweep, out).wait() == 0
    for name in REPORT_FILES[:3]:
        assert (out / name).read_bytes() == (clean / name).read_bytes()
    assert not [p.name for p in out.rglob(".*.tmp")]


def test_a_full_disk_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "page.html"
    files.write_text(path, "the complete previous page")

    def no_space(_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(OSError):
        files.write_text(path, "a new page that does not fit")
    assert path.read_text() == "the complete previous page"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]  # no temp file left


def test_a_sample_grid_interrupted_mid_write_leaves_the_previous_png(tmp_path, monkeypatch):
    """A killed ``sample`` (here: the PNG encoder stopped half-way) leaves the previous image,
    not a truncated PNG that looks complete."""
    import torch
    from PIL import Image

    from convergan.plots.images import save_image_grid

    path = tmp_path / "samples.png"
    save_image_grid(path, torch.zeros(4, 1, 8, 8))
    before = path.read_bytes()
    real_save = Image.Image.save

    def half_then_killed(image, target, *args, **kwargs):
        real_save(image, target, *args, **kwargs)
        if hasattr(target, "truncate"):
            target.truncate(len(before) // 2)
        raise KeyboardInterrupt  # what a signal looks like inside the process

    monkeypatch.setattr(Image.Image, "save", half_then_killed)
    with pytest.raises(KeyboardInterrupt):
        save_image_grid(path, torch.ones(4, 1, 8, 8))
    assert path.read_bytes() == before
    Image.open(path).verify()  # a whole PNG: its checksums hold


@pytest.mark.parametrize(
    "module",
    [
        "convergan.studies.report",
        "convergan.studies.figures",
        "convergan.studies.methods_2d",
        "convergan.studies.cells",
        "convergan.studies.planning",
        "convergan.plots.samples_2d",
        "convergan.plots.dirac",
        "convergan.plots.dirac_maps",
        "convergan.plots.spectrum",
        "convergan.plots.views",
        "convergan.plots.images",
        "convergan.runs.sampling",
        "convergan.config.load",
        "convergan.cli.verdict",
    ],
)
def test_no_writer_of_user_files_writes_in_place(module):
    """The whole class: no module that writes files for users calls a non-atomic writer
    (``Path.write_text``, ``savefig(path)``, ``np.save(path)``, ``Image.save(path)``)."""
    import importlib
    import re

    source = Path(importlib.import_module(module).__file__).read_text(encoding="utf-8")
    in_place = re.findall(
        r"(?<!staged)\.write_text\(|\.write_bytes\(|\.savefig\((?!buffer|file)|np\.save\((?!file)"
        r"|image\.save\((?!file)|imwrite\((?!file)|(?<![\w.])open\([^)]*[\"']w"
        r"|(?<!staged)\.open\([^)]*[\"']w",
        source,
    )
    assert not in_place, in_place
