"""convergan train / resume / sample / eval / study on tiny runs, through the CLI."""

import json
import sys

import numpy as np
import pytest

from convergan.cli.main import main

TINY = ["model.width=16", "model.depth=1", "eval.w1_samples=200", "train.sample_every=0"]


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(
            main(
                [
                    "train",
                    "configs/toy2d/ring8.yaml",
                    "train.steps=8",
                    *TINY,
                    "eval.metrics=[w1,modes]",
                    f"out_dir={run_dir}",
                    "--quiet",
                ]
            )
        )
    assert exit_info.value.code == 0
    return run_dir


def test_train_then_resume_extends_the_run(capsys, tiny_run):
    code, out, _ = run(capsys, "resume", str(tiny_run), "train.steps=10", "--quiet")
    assert code == 0 and "eval/w1" in out
    assert (tiny_run / "checkpoints" / "step-00000010.pt").is_file()
    assert "steps: 10" in (tiny_run / "config.yaml").read_text()  # the new override is recorded


def test_sample_writes_png_and_npy(capsys, tiny_run, tmp_path):
    code, _, _ = run(
        capsys,
        "sample",
        str(tiny_run),
        "--n",
        "50",
        "--out",
        str(tmp_path / "s.npy"),
        "--seed",
        "3",
    )
    assert code == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (50, 2) and np.isfinite(samples).all()
    code, _, _ = run(
        capsys, "sample", str(tiny_run), "--n", "50", "--out", str(tmp_path / "s.png"), "--no-ema"
    )
    assert code == 0 and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    # The same seed gives the same samples; the raw and EMA generators differ.
    run(
        capsys,
        "sample",
        str(tiny_run),
        "--n",
        "50",
        "--out",
        str(tmp_path / "again.npy"),
        "--seed",
        "3",
    )
    assert np.array_equal(samples, np.load(tmp_path / "again.npy"))
    run(
        capsys,
        "sample",
        str(tiny_run),
        "--n",
        "50",
        "--out",
        str(tmp_path / "raw.npy"),
        "--seed",
        "3",
        "--no-ema",
    )
    assert not np.array_equal(samples, np.load(tmp_path / "raw.npy"))


def test_sample_rejects_bad_output(capsys, tiny_run):
    code, _, err = run(capsys, "sample", str(tiny_run), "--out", "x.txt")
    assert code == 2 and ".png or .npy" in err


def test_eval_json_reports_both_generators(capsys, tiny_run):
    code, out, _ = run(capsys, "eval", str(tiny_run), "--json", "--n", "200")
    record = json.loads(out)
    assert code == 0 and set(record) >= {"ema", "raw", "step"}
    assert record["ema"]["eval/w1"] > 0 and "eval/modes_covered" in record["raw"]


def test_study_writes_figures_and_table(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "study",
        "toy2d",
        "--problems",
        "circle",
        "--methods",
        "gan",
        "r1",
        "--steps",
        "6",
        "--seeds",
        "1",
        "--launcher",
        "debug",  # in this process: the local launcher's workers are test_sweep_run's
        "--out",
        str(tmp_path),
        *TINY,
    )
    assert code == 0 and "| gan |" in out and "| r1 |" in out
    for name in ("w1-circle.png", "samples-circle.png", "study.md", "study.json"):
        assert (tmp_path / name).is_file()
    rows = json.loads((tmp_path / "study.json").read_text())
    assert {r["method"] for r in rows} == {"gan", "r1"} and all(r["final_w1"] > 0 for r in rows)


def test_study_rejects_unknown_problem(capsys, tmp_path):
    code, _, err = run(capsys, "study", "toy2d", "--problems", "moon", "--out", str(tmp_path))
    assert code == 2 and "unknown 2D problem" in err
