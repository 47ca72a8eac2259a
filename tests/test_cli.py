"""The convergan command line: outputs agree with the library, user errors are one line + exit 2."""

import json
import subprocess
import sys

import pytest

from convergan.cli.main import main


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_analyze_json_has_documented_fields(capsys):
    code, out, _ = run(
        capsys,
        "dirac",
        "analyze",
        "--method",
        "r1",
        "--gamma",
        "1",
        "--scheme",
        "altgd",
        "--lr",
        "0.5",
        "--json",
    )
    assert code == 0
    record = json.loads(out)
    for key in (
        "jacobian_eigenvalues",
        "update_eigenvalues",
        "spectral_radius",
        "converges",
        "max_stable_lr",
        "theory_eigenvalues",
    ):
        assert key in record
    assert record["spectral_radius"] == pytest.approx(0.8476, abs=5e-5)
    assert record["converges"] is True
    # R1 gamma = 1: double eigenvalue -1/2 (hand value).
    assert all(abs(re + 0.5) < 1e-7 and abs(im) < 1e-7 for re, im in record["jacobian_eigenvalues"])


def test_analyze_unregularized_has_no_max_stable_lr(capsys):
    code, out, _ = run(
        capsys, "dirac", "analyze", "--method", "gan", "--scheme", "simgd", "--lr", "0.5", "--json"
    )
    record = json.loads(out)
    assert code == 0 and record["converges"] is False and record["max_stable_lr"] is None
    assert record["spectral_radius"] == pytest.approx((1 + 0.25**2) ** 0.5, abs=1e-12)


def test_analyze_wgan_gp_is_undefined(capsys):
    code, out, _ = run(capsys, "dirac", "analyze", "--method", "wgan-gp", "--json")
    record = json.loads(out)
    assert code == 0 and record["converges"] is None and record["trajectory_verdicts"]


def test_analyze_ttur_and_lazy(capsys):
    code, out, _ = run(
        capsys,
        "dirac",
        "analyze",
        "--method",
        "r1",
        "--scheme",
        "altgd",
        "--lr-g",
        "0.1",
        "--lr-d",
        "0.4",
        "--d-steps",
        "3",
        "--lazy",
        "2",
        "--json",
    )
    record = json.loads(out)
    assert code == 0 and record["lr_g"] == 0.1 and record["lr_d"] == 0.4 and record["period"] == 2
    assert record["max_stable_lr"] is None and record["max_stable_lr_scale"] > 0


def test_simulate_json(capsys):
    code, out, _ = run(
        capsys,
        "dirac",
        "simulate",
        "--method",
        "gan",
        "--scheme",
        "simgd",
        "--lr",
        "0.2",
        "--steps",
        "300",
        "--start",
        "0.5",
        "0.5",
        "--json",
    )
    record = json.loads(out)
    assert code == 0 and record["verdict"] == "diverges"
    assert len(record["trajectory"]) == 301 and record["trajectory"][0] == [0.5, 0.5]


@pytest.mark.slow  # `dirac table`: every method under every scheme
def test_table_json_and_csv(capsys, monkeypatch):
    # run_table imports the table function when it runs (so --help stays free of torch).
    from convergan.analysis import table as dirac_table_module

    computed = {}  # the table takes seconds: compute it once for both output formats

    def table_once(lr, progress=False):
        if lr not in computed:
            computed[lr] = dirac_table(lr=lr)
        return computed[lr]

    dirac_table = dirac_table_module.dirac_table
    monkeypatch.setitem(dirac_table_module.TABLES, "dirac", table_once)
    code, out, _ = run(capsys, "dirac", "table", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 10 * 4  # every preset x every scheme
    errors = [r["theory_max_error"] for r in rows if r["theory_max_error"] is not None]
    assert errors and max(errors) < 1e-9
    code, out, _ = run(capsys, "dirac", "table", "--csv")
    assert code == 0 and out.splitlines()[0].startswith("method,params,scheme")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["dirac", "analyze", "--method", "nope"], "unknown method"),
        (["dirac", "analyze", "--method", "r1", "--gamma", "-1"], "--gamma"),
        (["dirac", "analyze", "--method", "instance-noise", "--sigma", "-0.5"], "--sigma"),
        (["dirac", "analyze", "--method", "r1", "--lr", "0"], "--lr"),
        (["dirac", "analyze", "--method", "r1", "--lr-d", "-1"], "--lr-d"),
        (["dirac", "analyze", "--method", "r1", "--scheme", "adam"], "unknown scheme 'adam'"),
        (["dirac", "analyze", "--method", "gan", "--gamma", "1"], "does not take 'gamma'"),
        (["dirac", "analyze", "--method", "r1", "--lazy", "0"], "--lazy"),
        (["dirac", "simulate", "--method", "r1", "--steps", "0"], "--steps"),
        (["dirac", "simulate", "--method", "r1", "--start", "a", "b"], "--start"),
        (["dirac", "simulate", "--method", "r1", "--start", "1"], "--start"),
        (["dirac", "table", "--lr", "-2"], "--lr"),
        (["train", "does-not-exist.yaml"], "not found"),
        (["resume", "no-such-run"], "not a run directory"),
        (["sample", "no-such-run", "--out", "x.png"], "not a run directory"),
    ],
)
def test_user_errors_are_one_line_with_exit_code_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_train_config_errors_name_the_key(capsys, tmp_path):
    for override, key in [
        ("train.stepz=3", "train.stepz"),
        ("optim.d.lr=-1", "optim.d.lr"),
        ("method.gamma=-1", "method.gamma"),
    ]:
        code, _, err = run(
            capsys, "train", "configs/toy2d/circle.yaml", override, f"out_dir={tmp_path}"
        )
        assert code == 2 and key in err and len(err.strip().splitlines()) == 1


def test_help_of_every_command_reads(capsys):
    for argv in (
        ["--help"],
        ["dirac", "--help"],
        ["dirac", "analyze", "--help"],
        ["train", "--help"],
        ["study", "toy2d", "--help"],
    ):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "usage:" in out


@pytest.mark.slow  # a subprocess imports torch
def test_console_script_runs_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "convergan", "dirac", "analyze", "--method", "bogus"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        result.returncode == 2
        and result.stderr.count("\n") == 1
        and "Traceback" not in result.stderr
    )
