"""A report counts what happened and nothing else: pending, running and failed runs never
enter a verdict tally, a best value or a comparison; a comparison without data does not say
"no"; a pending cell keeps its Dirac verdict; a damaged ``cell.json`` is named and does not
turn a finished run into a pending one; a run that diverged is reported as diverged."""

import csv
import json
import re
from pathlib import Path

import pytest

from convergan.config import ConfigError
from convergan.config.load import save_config
from convergan.studies.cells import write_cell
from convergan.studies.planning import plan, write_sweep_record
from convergan.studies.report import write_report
from convergan.studies.results import read_sweep
from convergan.studies.spec import sweep_spec_from_dict
from convergan.training.directory import RunDirectory

SPEC = {
    "name": "partial",
    "base": "toy2d/circle",
    "axes": {"method": ["gan", "r1"], "seed": [0, 1]},
    "overrides": {"train.steps": 20},
}


def planned_sweep(tmp_path: Path, spec=SPEC):
    out = tmp_path / "sweep"
    planned = plan(sweep_spec_from_dict(spec), out)
    write_sweep_record(sweep_spec_from_dict(spec), out, planned)
    return out, {p.cell.name: p for p in planned}


def finish(p, status="done", finals=(0.9, 0.5), error=None):
    """Write what a finished cell leaves: its record and a W1 curve with diagnostics."""
    rows = [
        {"step": 10, "eval/w1": finals[0], "diagnostics/field_norm": 1.0},
        {"step": 20, "eval/w1": finals[1], "diagnostics/field_norm": 0.5},
    ]
    p.run_dir.mkdir(parents=True, exist_ok=True)
    (p.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_cell(p.run_dir, {"status": status, "config": p.config_dict, "error": error})


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def tallied(text: str) -> int:
    """How many runs a tally like ``converging 2, oscillating 1`` counts."""
    return sum(int(n) for n in re.findall(r" (\d+)(?:,|$)", text))


def test_unfinished_and_failed_runs_are_not_in_the_verdict_tally(tmp_path):
    out, cells = planned_sweep(tmp_path)
    finish(cells["method=gan,seed=0"])  # done; gan seed 1 stays pending
    finish(cells["method=r1,seed=0"], "failed", error="RuntimeError: boom")
    write_cell(cells["method=r1,seed=1"].run_dir, {"status": "running", "pid": 1, "host": "x"})
    report = write_report(out)
    summary = {r["method"]: r for r in read_csv(report.out / "summary.csv")}
    md = (report.out / "report.md").read_text()
    from convergan.studies.tables import summary_rows

    header, rows = summary_rows(report)
    tally = {row[0]: row[header.index("measured verdicts")] for row in rows}
    assert tallied(tally["gan"]) == 1  # the done run only, not the pending one
    assert tally["r1"] == "–"  # a failed and a running run: nothing was measured
    results = {r["run"]: r for r in read_csv(report.out / "results.csv")}
    for name in ("method=gan,seed=1", "method=r1,seed=0", "method=r1,seed=1"):
        assert results[name]["verdict"] == "" and results[name]["best eval/w1"] == ""
    assert summary["r1"]["final eval/w1 n"] == "0"
    assert "–" in md


def test_a_comparison_without_data_is_not_called_insignificant(tmp_path):
    out, cells = planned_sweep(tmp_path)
    for seed, finals in enumerate([(0.9, 0.5), (0.8, 0.6)]):
        finish(cells[f"method=gan,seed={seed}"], finals=finals)
    report = write_report(out)  # r1: nothing finished
    (row,) = read_csv(report.out / "comparisons.csv")
    assert row["welch_p"] == "" and row["sig_5pct"] == ""
    from convergan.studies.tables import comparison_rows

    header, rows = comparison_rows(report)
    assert rows[0][header.index("significant (5%)")] == "–"


def test_pending_cells_keep_their_dirac_verdict(tmp_path):
    out, _ = planned_sweep(tmp_path)  # nothing ran
    report = write_report(out)
    verdicts = {r["method"]: r["dirac_verdict"] for r in read_csv(report.out / "summary.csv")}
    # Hand-derived: the unregularized GAN has Jacobian eigenvalues ±i/2 at the equilibrium
    # (no linear convergence); R1 with γ > 0 has real parts -γ/2 < 0.
    assert verdicts["gan"] not in ("", "–") and verdicts["r1"] not in ("", "–")
    assert verdicts["gan"] != verdicts["r1"]
    assert "converge" in verdicts["r1"]


@pytest.mark.parametrize("outcome", [True, False])
def test_a_damaged_cell_record_is_named_and_the_run_keeps_its_status(tmp_path, capsys, outcome):
    out, cells = planned_sweep(tmp_path)
    p = cells["method=gan,seed=0"]
    finish(p)
    (p.run_dir / "cell.json").write_text('{"status": "do')  # damaged
    run = RunDirectory(p.run_dir, p.config)
    if outcome:
        run.record_outcome("done")
    else:  # a run from before outcome.json: its last checkpoint reached train.steps
        save_config(p.config, p.run_dir / "config.yaml")
        (p.run_dir / "checkpoints").mkdir()
        (p.run_dir / "checkpoints" / "step-00000020.pt").write_bytes(b"")
    statuses = {r.name: r.status for r in read_sweep(out).runs}
    assert statuses["method=gan,seed=0"] == "done"
    err = capsys.readouterr().err
    assert "cell.json is damaged" in err and "done" in err and err.count("\n") == 1
    assert plan(sweep_spec_from_dict(SPEC), out)[0].status == "done"


def test_a_diverged_run_is_reported_as_diverged(tmp_path, capsys):
    from convergan.cli.main import main

    run_dir = tmp_path / "run"
    argv = ["train", "toy2d/circle", f"out_dir={run_dir}", "train.steps=4", "train.progress=false"]
    argv += ["optim.g.name=sgd", "optim.d.name=sgd", "optim.g.lr=1e30", "optim.d.lr=1e30"]
    argv += ["model.width=8", "data.batch_size=16", "eval.w1_samples=50", "train.log_every=1"]
    assert main(argv) == 3
    report = write_report(run_dir)
    (row,) = read_csv(report.out / "results.csv")
    assert row["status"] == "diverged" and "NaN" in row["error"]
    (cell,) = read_csv(report.out / "summary.csv")
    assert cell["diverged"] == "1" and cell["done"] == "0"
    assert RunDirectory(run_dir).outcome()["status"] == "diverged"


@pytest.mark.parametrize("text", ['{"cells": 3', "[]", '{"name": "x"}'])
def test_a_damaged_sweep_record_is_one_line_naming_the_file(tmp_path, capsys, text):
    from convergan.cli.main import main

    out, _ = planned_sweep(tmp_path)
    (out / "sweep.json").write_text(text)
    for argv in (["report", out], ["sweep", "status", out]):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and "\n" not in err, err
        assert f"{out / 'sweep.json'} is damaged" in err
    with pytest.raises(ConfigError, match="sweep.json is damaged"):
        plan(sweep_spec_from_dict(SPEC), out)
