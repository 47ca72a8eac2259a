"""Aggregation over seeds against numbers computed by hand, and the report files of a sweep
built on disk (no training: the runs' records and metrics are written here)."""

import csv
import json
import math
from pathlib import Path

import pytest
from scipy import stats

from convergan.config import load_config
from convergan.config.schema import config_to_dict
from convergan.studies.aggregate import holm, t_interval, welch_p
from convergan.studies.report import write_report

ROOT = Path(__file__).resolve().parents[1]

# Final W1 per method and seed; None = the run diverged before its final evaluation.
FINALS = {"gan": [0.5, 0.7, 0.9], "r1": [0.1, 0.2, None]}


def fake_sweep(directory: Path, finals=FINALS, gammas=None, spectrum=False) -> Path:
    """A sweep directory as ``convergan sweep`` leaves it: ``sweep.json``, and per run
    ``cell.json`` (with the resolved config), ``metrics.jsonl`` (eval/w1 at steps 10 and 20,
    the first value twice the final) and a final sample image."""
    import numpy as np
    from matplotlib.image import imsave

    cells = []
    for method, values in finals.items():
        for seed, final in enumerate(values):
            extra = {"method.gamma": gammas[method]} if gammas else {}
            values_ = {"method": method, **extra, "seed": seed}
            name = ",".join(f"{k}={v}" for k, v in values_.items())
            run_dir = directory / "runs" / name
            (run_dir / "samples").mkdir(parents=True)
            overrides = [f"method={method}", f"seed={seed}", f"out_dir={run_dir}"]
            overrides += [f"method.gamma={gammas[method]}"] if gammas else []
            config = load_config(ROOT / "configs/toy2d/circle.yaml", overrides)
            status = "done" if final is not None else "diverged"
            rows = [{"step": 10, "eval/w1": 2 * (final or 0.4)}]
            if final is not None:
                rows.append({"step": 20, "eval/w1": final, "eval/grad_norm_sq_real": 1.0})
                if spectrum:  # what `spectrum` logs where a run asked for it
                    rows[-1].update({"spectrum/max_real": -0.1 * (seed + 1)})
            else:
                rows.append({"step": 20, "discriminator/adversarial": None})
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            record = {
                "status": status,
                "error": None if final is not None else "training diverged at step 15: NaN",
                "config": config_to_dict(config),
                "attempts": 1,
                "train_seconds_total": 1.5,
            }
            (run_dir / "cell.json").write_text(json.dumps(record))
            if final is not None:
                pixels = np.full((8, 8, 3), seed / 3.0)
                imsave(run_dir / "samples" / "step-00000020.png", pixels)
            cells.append({"name": name, "values": values_, "run_dir": f"runs/{name}"})
    axes = ["method", *(["method.gamma"] if gammas else []), "seed"]
    sweep = {"name": "fake", "description": "A sweep written by hand.", "axes": axes}
    sweep.update(cells=cells, report={"metric": "eval/w1", "axis": None})
    (directory / "sweep.json").write_text(json.dumps(sweep))
    return directory


def test_t_interval_against_hand_computed_values():
    interval = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, s² = (4+1+0+1+4)/4 = 2.5, t_{0.975,4} = 2.776445105 (tables: 2.776)
    assert interval.n == 5 and interval.mean == 3.0
    assert interval.std == pytest.approx(math.sqrt(2.5), rel=1e-12)
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert (interval.low, interval.high) == pytest.approx((3 - half, 3 + half), rel=1e-12)
    assert stats.t.ppf(0.975, 4) == pytest.approx(2.776, abs=5e-4)  # the printed table value

    two = t_interval([0.5, 0.7])  # t_{0.975,1} = 12.706: two seeds say little
    assert two.half_width == pytest.approx(12.7062047 * math.sqrt(0.02) / math.sqrt(2), rel=1e-7)
    one = t_interval([0.3, None, float("nan")])
    assert one.n == 1 and one.mean == 0.3 and math.isnan(one.std) and math.isnan(one.low)
    assert t_interval([]).n == 0


def test_welch_p_against_the_formula():
    a, b = [0.5, 0.7, 0.9], [0.1, 0.2, 0.15, 0.3]
    ma, mb = sum(a) / 3, sum(b) / 4
    va = sum((x - ma) ** 2 for x in a) / 2
    vb = sum((x - mb) ** 2 for x in b) / 3
    se2 = va / 3 + vb / 4
    t = (ma - mb) / math.sqrt(se2)
    df = se2**2 / ((va / 3) ** 2 / 2 + (vb / 4) ** 2 / 3)  # Welch–Satterthwaite
    assert welch_p(a, b) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-10)
    assert math.isnan(welch_p([1.0], b))


def test_holm_against_hand_computed_values():
    # sorted: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan"), 0.2])[0] == pytest.approx(0.5)
    assert math.isnan(holm([0.5, float("nan"), 0.2])[1])
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # 0.8·2 capped at 1, then max(1, 0.9·1)


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_report_tables_of_a_sweep(tmp_path):
    report = write_report(fake_sweep(tmp_path / "sweep"))
    out = tmp_path / "sweep" / "report"
    results = read_csv(out / "results.csv")
    assert [r["run"] for r in results] == [
        "method=gan,seed=0",
        "method=gan,seed=1",
        "method=gan,seed=2",
        "method=r1,seed=0",
        "method=r1,seed=1",
        "method=r1,seed=2",
    ]
    assert [r["method"] for r in results] == ["gan"] * 3 + ["r1"] * 3
    assert [r["seed"] for r in results] == ["0", "1", "2"] * 2
    assert [r["status"] for r in results] == ["done"] * 5 + ["diverged"]
    assert [r["final eval/w1"] for r in results] == ["0.5", "0.7", "0.9", "0.1", "0.2", ""]
    assert [r["best eval/w1"] for r in results][:3] == ["0.5", "0.7", "0.9"]
    assert "training diverged" in results[5]["error"]
    # The exact Dirac verdict for the run's method, scheme and learning rates.
    assert results[0]["dirac_verdict"] == "no linear convergence"
    assert float(results[0]["dirac_spectral_radius"]) == pytest.approx(1.0, abs=1e-9)
    assert results[3]["dirac_verdict"] == "converges"
    assert float(results[3]["dirac_spectral_radius"]) < 1

    summary = {r["method"]: r for r in read_csv(out / "summary.csv")}
    gan, r1 = summary["gan"], summary["r1"]
    assert (gan["runs"], gan["done"], gan["diverged"]) == ("3", "3", "0")
    assert (r1["runs"], r1["done"], r1["diverged"]) == ("3", "2", "1")
    # gan: mean 0.7, s = 0.2, half-width t_{0.975,2}·0.2/√3 with t_{0.975,2} = 4.302652730
    assert float(gan["final eval/w1 mean"]) == pytest.approx(0.7)
    assert float(gan["final eval/w1 std"]) == pytest.approx(0.2)
    half = 4.302652729749464 * 0.2 / math.sqrt(3)
    assert float(gan["final eval/w1 ci_low"]) == pytest.approx(0.7 - half)
    assert float(gan["final eval/w1 ci_high"]) == pytest.approx(0.7 + half)
    # r1: the diverged run is left out: n = 2, mean 0.15, s = √0.005, t_{0.975,1} = 12.7062
    assert gan["final eval/w1 n"] == "3" and r1["final eval/w1 n"] == "2"
    assert float(r1["final eval/w1 mean"]) == pytest.approx(0.15)
    assert float(r1["final eval/w1 std"]) == pytest.approx(math.sqrt(0.005))
    half = 12.706204736174698 * math.sqrt(0.005) / math.sqrt(2)
    assert float(r1["final eval/w1 ci_high"]) == pytest.approx(0.15 + half)
    # best over training = min of the curve (1.0, 0.5) etc.; the diverged run's best is 0.8
    assert float(r1["best eval/w1 mean"]) == pytest.approx((0.1 + 0.2 + 0.8) / 3)
    assert gan["dirac_verdict"].startswith("no linear convergence")

    comparisons = read_csv(out / "comparisons.csv")
    assert len(comparisons) == 1 and comparisons[0]["a"] == "method=gan"
    p = welch_p([0.5, 0.7, 0.9], [0.1, 0.2])
    assert float(comparisons[0]["welch_p"]) == pytest.approx(p)
    assert float(comparisons[0]["holm_p"]) == pytest.approx(p)  # one test in the family

    md = (out / "report.md").read_text()
    assert "| gan | 3 | 3 | 0.7 ± 0.5" in md and "| r1 | 3 | 2 | 0.15 ± 0.64" in md
    assert "Student-t" in md and "diverged" in md
    names = {name for name, _, _ in report.figures}
    assert names == {"curves-all", "samples-all"}
    for _, path, _ in report.figures:
        assert path.is_file() and f"figures/{path.name}" in md


def test_final_metric_against_a_numeric_axis(tmp_path):
    finals = {"r1": [0.2, 0.3], "r1b": [0.1, 0.15]}
    sweep = fake_sweep(tmp_path / "s", {"r1": finals["r1"]}, gammas={"r1": 1.0})
    # a second gamma value: rename the cells of a second fake sweep into the first
    other = fake_sweep(tmp_path / "t", {"r1": finals["r1b"]}, gammas={"r1": 10.0})
    record = json.loads((sweep / "sweep.json").read_text())
    for cell in json.loads((other / "sweep.json").read_text())["cells"]:
        (other / cell["run_dir"]).rename(sweep / cell["run_dir"])
        record["cells"].append(cell)
    (sweep / "sweep.json").write_text(json.dumps(record))
    report = write_report(sweep, tmp_path / "report")
    assert "final-vs-method.gamma" in {name for name, _, _ in report.figures}
    summary = read_csv(tmp_path / "report" / "summary.csv")
    assert [r["method.gamma"] for r in summary] == ["1.0", "10.0"]
    assert [float(r["final eval/w1 mean"]) for r in summary] == pytest.approx([0.25, 0.125])
    comparisons = read_csv(tmp_path / "report" / "comparisons.csv")
    assert [(c["a"], c["b"], c["family"]) for c in comparisons] == [
        ("method.gamma=1.0", "method.gamma=10.0", "method=r1")
    ]


def test_spectrum_summaries_are_shown_where_the_runs_logged_them(tmp_path):
    write_report(fake_sweep(tmp_path / "s", {"r1": [0.1, 0.2]}, spectrum=True))
    md = (tmp_path / "s" / "report" / "report.md").read_text()
    assert "final spectrum/max_real" in md
    assert "| r1 | 2 | 2 | 0.15 ± 0.64 | -0.15 ± 0.64 |" in md  # seeds: -0.1, -0.2
    summary = read_csv(tmp_path / "s" / "report" / "summary.csv")
    assert float(summary[0]["final spectrum/max_real mean"]) == pytest.approx(-0.15)
    write_report(fake_sweep(tmp_path / "t", {"r1": [0.1, 0.2]}))
    assert "spectrum" not in (tmp_path / "t" / "report" / "report.md").read_text()


def test_report_of_a_single_run(tmp_path):
    from convergan.config.load import save_config

    run_dir = tmp_path / "run"
    config = load_config(ROOT / "configs/toy2d/circle.yaml", ["method=r1", f"out_dir={run_dir}"])
    save_config(config, run_dir / "config.yaml")
    rows = [{"step": s, "eval/w1": 1.0 / s} for s in (10, 20, 30)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = write_report(run_dir)
    results = read_csv(run_dir / "report" / "results.csv")
    assert len(results) == 1 and float(results[0]["final eval/w1"]) == pytest.approx(1 / 30)
    assert results[0]["dirac_verdict"] == "converges"
    summary = read_csv(run_dir / "report" / "summary.csv")
    assert summary[0]["final eval/w1 n"] == "1" and summary[0]["final eval/w1 std"] == ""
    assert {name for name, _, _ in report.figures} == {"curves-all"}
    assert (run_dir / "report" / "report.html").is_file()


def test_a_report_names_no_absolute_path(tmp_path, monkeypatch):
    """The sweep as run shows its bases as a shipped name or relative to the report's folder,
    whatever folder the sweep was started from and the report written from."""
    from convergan.studies.planning import plan, write_sweep_record
    from convergan.studies.spec import sweep_spec_from_dict

    mine = tmp_path / "configs" / "mine.yaml"
    mine.parent.mkdir()
    mine.write_text("base: toy2d/circle\nseed: 3\n")
    monkeypatch.chdir(tmp_path)  # the spec's paths are read relative to where it starts
    spec = sweep_spec_from_dict(
        {"base": {"mine": "configs/mine.yaml", "ring": "toy2d/ring8"}, "axes": {"seed": [0]}}
    )
    out = tmp_path / "results" / "sweep"
    write_sweep_record(spec, out, plan(spec, out))
    monkeypatch.chdir(ROOT)
    write_report(out)
    for name in ("report.md", "report.html"):
        text = (out / "report" / name).read_text()
        assert str(tmp_path) not in text and str(ROOT) not in text
        assert "mine: ../../../configs/mine.yaml" in text and "ring: toy2d/ring8" in text
    assert (out / "report" / "../../../configs/mine.yaml").resolve() == mine.resolve()
