"""convergan spectrum / path-angle on a tiny 2D run, through the CLI."""

import json
import sys
import time

import numpy as np
import pytest
import torch
from cli_helpers import TINY, run

from convergan.cli.main import main

FAST = ["--samples", "64", "--float64", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("spectrum") / "run"
    argv = ["train", "configs/toy2d/circle.yaml", "train.steps=4", "train.checkpoint_every=2"]
    argv += [*TINY, "train.keep_last=5", f"out_dir={run_dir}", "--quiet"]
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    assert exit_info.value.code == 0
    return run_dir


def spectrum_json(capsys, run_dir, *extra):
    code, out, err = run(capsys, "spectrum", str(run_dir), "--json", *FAST, *extra)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def dense_reference(run_dir, step, samples, seed):
    """The evaluation game's dense Jacobian by jacfwd, built from the library's pieces."""
    from convergan.analysis.local import field_jacobian
    from convergan.runs.spectrum import evaluation_field, open_run
    from convergan.training.batches import evaluation_batch

    run = open_run(run_dir)
    method = run.config.method.build()
    players = run.players()
    g, d = players.generator, players.discriminator
    batch = evaluation_batch(run.config, method, g.latent_dim, samples, seed)
    field = evaluation_field(g, d, method, batch, step, float64=True)
    _, checkpoint = run.load(step)
    x = (checkpoint["theta"].double(), checkpoint["psi"].double())
    return np.linalg.eigvals(field_jacobian(field, x).numpy())


def test_json_fields_and_eigenvalues_against_dense(capsys, tiny_run):
    (record,) = spectrum_json(capsys, tiny_run, "--k", "4", "--which", "LR", "LM")
    for key in ("step", "samples", "seed", "which", "k", "eigenvalues", "residuals"):
        assert key in record
    assert (record["step"], record["samples"], record["seed"], record["k"]) == (4, 64, 0, 4)
    assert record["which"] == ["LR", "LM"] and record["converged"] is True
    assert record["matvecs"] > 0 and record["seconds"] > 0
    values = np.array([complex(*pair) for pair in record["eigenvalues"]])
    assert len(values) == len(record["residuals"]) == 8
    dense = dense_reference(tiny_run, 4, 64, 0)
    scale = np.abs(dense).max()
    assert np.all(np.array(record["residuals"]) < 1e-8 * scale)
    np.testing.assert_allclose(values[0].real, dense.real.max(), atol=1e-8 * scale)  # LR first
    np.testing.assert_allclose(abs(values[4]), np.abs(dense).max(), atol=1e-8 * scale)  # LM
    assert record["max_real"] == pytest.approx(dense.real.max(), abs=1e-8 * scale)


def test_same_checkpoint_and_seed_give_the_same_eigenvalues(capsys, tiny_run):
    first = spectrum_json(capsys, tiny_run, "--k", "3", "--step", "2")[0]["eigenvalues"]
    second = spectrum_json(capsys, tiny_run, "--k", "3", "--step", "2")[0]["eigenvalues"]
    other = spectrum_json(capsys, tiny_run, "--k", "3", "--step", "2", "--seed", "1")[0]
    assert first == second  # bit-identical
    assert other["seed"] == 1 and other["eigenvalues"] != first  # the seed sets the game


def test_schemes_and_preconditioner(capsys, tiny_run):
    (record,) = spectrum_json(
        capsys,
        tiny_run,
        "--k",
        "3",
        "--scheme",
        "run",
        "simgd",
        "--preconditioned",
        "--no-lr-bound",
        "--tol",
        "1e-8",
    )
    schemes = record["schemes"]
    assert [s["scheme"] for s in schemes] == ["altgd", "simgd"]
    for s in schemes:
        radius = max(abs(complex(*p)) for p in s["update_eigenvalues"])
        assert s["spectral_radius"] == pytest.approx(radius)
        expected = "diverges" if radius > 1 + 1e-9 else "converges" if radius < 1 - 1e-9 else None
        assert s["verdict"] == expected and s["preconditioned"] is True
    assert record["spectral_radius"] == schemes[0]["spectral_radius"]
    assert "simgd_lr_scale_upper_bound" not in record  # --no-lr-bound


def test_all_steps_with_figures(capsys, tiny_run, tmp_path):
    records = spectrum_json(capsys, tiny_run, "--k", "2", "--all", "--plot", str(tmp_path))
    assert [r["step"] for r in records] == [2, 4]
    for name in ("eigenvalues.png", "over-training.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_lr_bound_is_stated_as_an_upper_bound(capsys, tiny_run):
    from convergan.cli.spectrum import format_record

    (record,) = spectrum_json(capsys, tiny_run, "--k", "3", "--scheme", "simgd")
    assert "upper bound" in record["simgd_lr_scale_upper_bound_note"]
    text = format_record(record)
    assert "residual" in text and "simgd" in text and "not a certificate" in text


def test_stable_lr_scale_intervals_are_reported_and_printed(capsys, tiny_run):
    from convergan.cli.spectrum import format_record

    (record,) = spectrum_json(capsys, tiny_run, "--k", "3", "--scheme", "simgd")
    intervals, scale = record["stable_lr_scale_intervals"], record["simgd_lr_scale_upper_bound"]
    # one definition: the largest stable scale is the end of the last interval
    assert (intervals == []) == (scale is None)
    if intervals:
        ((lo, hi),) = intervals
        assert lo == 0.0 and hi == scale
    assert "stable_lr_scale_intervals" in record["simgd_lr_scale_upper_bound_note"]
    assert "stable lr scales" in format_record(record)


def test_path_angle(capsys, tiny_run, tmp_path):
    argv = ["path-angle", str(tiny_run), "--from", "2", "--to", "4", "--points", "5", *FAST]
    code, out, _ = run(capsys, *argv, "--json", "--plot", str(tmp_path / "angle.png"))
    assert code == 0
    result = json.loads(out)
    np.testing.assert_allclose(result["alphas"], np.linspace(-0.1, 1.1, 5))
    assert all(-1 <= c <= 1 for c in result["cosine"])
    assert result["samples"] == 64 and result["from"] == 2 and result["to"] == 4
    # the distance is the parameter distance between the two checkpoints
    a, b = (torch.load(tiny_run / "checkpoints" / f"step-0000000{s}.pt") for s in (2, 4))
    dist = torch.cat([b["theta"] - a["theta"], b["psi"] - a["psi"]]).double().norm()
    assert result["distance"] == pytest.approx(float(dist), rel=1e-6)
    assert (tmp_path / "angle.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--step", "3"], "no checkpoint for step 3"),
        (["--k", "100000"], "out of range"),
        (["--k", "0"], "--k: must be >= 1, got 0"),
    ],
)
def test_one_line_errors(capsys, tiny_run, argv, message):
    code, _, err = run(capsys, "spectrum", str(tiny_run), *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_run_without_checkpoints(capsys, tiny_run, tmp_path):
    (tmp_path / "config.yaml").write_text((tiny_run / "config.yaml").read_text())
    code, _, err = run(capsys, "spectrum", str(tmp_path))
    assert code == 2 and "has no checkpoints" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "path-angle", str(tiny_run), "--from", "2", "--to", "7")
    assert code == 2 and "no checkpoint for step 7" in err


@pytest.mark.parametrize("products", [0, 400])
def test_in_training_spectrum_matches_the_command(capsys, tmp_path, products):
    """eval.spectrum logs what `convergan spectrum` computes at the same checkpoint (the
    evaluation game's seed is the run's seed, 0 here): with ARPACK (products 0), and with
    Ritz values from a budget of products that spans the whole space (187 parameters here;
    the update operator's Ritz values are then its exact eigenvalues too)."""
    run_dir = tmp_path / "run"
    spectrum = ["eval.spectrum.every=2", "eval.spectrum.k=2", "eval.spectrum.samples=32"]
    spectrum.append(f"eval.spectrum.products={products}")
    argv = ["train", "configs/toy2d/circle.yaml", "train.steps=2", *TINY, *spectrum]
    code, _, err = run(capsys, *argv, f"out_dir={run_dir}", "--quiet")
    assert code == 0, err
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = next(r for r in rows if "spectrum/max_real" in r)
    assert logged["step"] == 2
    argv = ["--k", "2", "--which", "LR", "LM", "--samples", "32", "--scheme", "run"]
    argv += ["--preconditioned", "--no-lr-bound", "--quiet"]
    code, out, _ = run(capsys, "spectrum", str(run_dir), "--json", *argv)
    record = json.loads(out)
    for key in ("max_real", "max_abs_imag", "max_abs"):
        assert logged[f"spectrum/{key}"] == pytest.approx(record[key], rel=1e-5, abs=1e-6)
    assert logged["spectrum/update_radius"] == pytest.approx(record["spectral_radius"], rel=1e-6)
    assert logged["spectrum/max_residual"] < 1e-4 and logged["spectrum/converged"] == 1.0


def test_an_evaluation_game_too_large_for_memory_is_refused_in_one_line(
    capsys, tiny_run, monkeypatch
):
    """The estimate, counted by hand for this MLP (width 8, depth 1, 2D data): G's leaf
    modules output 8 + 8 + 2 numbers per sample, D's 8 + 8 + 1 on each of a real and a fake
    sample; GRAPH_COPIES copies of them, plus the sample and its latent, in float32."""
    import convergan.runs.memory as spectrum
    from convergan.training.directory import RunDirectory

    run_dir = RunDirectory(tiny_run)
    latent = run_dir.config.model.latent_dim
    per_sample = 2 + latent + spectrum.GRAPH_COPIES * (18 + 2 * 17)
    for samples in (1000, 10**8):
        assert spectrum.evaluation_memory(run_dir, samples) == samples * per_sample * 4
    assert spectrum.evaluation_memory(run_dir, 1000, float64=True) == 1000 * per_sample * 8

    monkeypatch.setattr(spectrum, "available_memory", lambda: 16 * 2**30)
    need = f"{10**8 * per_sample * 4 / 2**30:,.1f} GB"
    for command in ("spectrum", "path-angle --from 2 --to 4"):
        started = time.monotonic()
        code, out, err = run(capsys, *command.split(), str(tiny_run), "--samples", "100000000")
        assert time.monotonic() - started < 20
        assert code == 2 and "\n" not in err.strip() and out == ""
        assert f"--samples 100000000: the evaluation game would need about {need}" in err
        assert "16.0 GB available" in err


def test_saved_evaluation_batch_rebuilds_the_matrix(capsys, tiny_run, tmp_path):
    """``--save-batch`` writes the evaluation game; with the checkpoint and the run's method
    alone (no evaluation_batch call) it rebuilds the J whose eigenvalues the command printed."""
    from convergan.analysis.local import field_jacobian
    from convergan.field import GameField
    from convergan.methods import Batch
    from convergan.runs.spectrum import open_run

    path = tmp_path / "game.pt"
    (record,) = spectrum_json(
        capsys, tiny_run, "--k", "3", "--step", "2", "--save-batch", str(path)
    )
    saved = torch.load(path, weights_only=True)
    assert (saved["samples"], saved["seed"], saved["step"]) == (64, 0, 2)
    fields = {k: v for k, v in saved.items() if k not in ("samples", "seed", "step")}
    batch = Batch(
        **{
            k: v.double() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in fields.items()
        }
    )
    run_dir = open_run(tiny_run)
    players = run_dir.players()
    g, d = players.generator.double(), players.discriminator.double()
    _, checkpoint = run_dir.load(2)
    field = GameField(g, d, run_dir.config.method.build(), batch, step=2)
    x = (checkpoint["theta"].double(), checkpoint["psi"].double())
    dense = np.linalg.eigvals(field_jacobian(field, x).numpy())
    found = np.array([complex(*pair) for pair in record["eigenvalues"]])
    scale = np.abs(dense).max()
    np.testing.assert_allclose(
        np.sort(found.real)[::-1], np.sort(dense.real)[::-1][:3], atol=1e-8 * scale
    )


def test_several_checkpoints_start_from_the_previous_eigenvectors(capsys, tiny_run):
    """With several steps, each ARPACK run starts from the previous checkpoint's eigenvectors:
    the same eigenvalues as a cold start (to ARPACK's tolerance), in fewer products overall."""
    both = spectrum_json(capsys, tiny_run, "--k", "3", "--step", "2", "4")
    alone = spectrum_json(capsys, tiny_run, "--k", "3", "--step", "4")[0]
    warm = both[1]
    scale = max(abs(complex(*p)) for p in alone["eigenvalues"])
    np.testing.assert_allclose(
        [p[0] for p in warm["eigenvalues"]], [p[0] for p in alone["eigenvalues"]], atol=1e-8 * scale
    )
    assert warm["matvecs"] <= alone["matvecs"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_device_cuda_without_a_gpu_is_one_line_and_auto_falls_back(capsys, tiny_run):
    code, _, err = run(capsys, "spectrum", str(tiny_run), "--device", "cuda", *FAST)
    assert code == 2 and "cuda" in err and len(err.strip().splitlines()) == 1
    auto = spectrum_json(capsys, tiny_run, "--k", "3", "--device", "auto")[0]
    cpu = spectrum_json(capsys, tiny_run, "--k", "3")[0]
    assert auto["eigenvalues"] == cpu["eigenvalues"]


def test_route_choices_are_the_product_routes():
    # The command line lists them by hand (--help imports no torch); the analysis defines them.
    import argparse

    from convergan.analysis.spectrum import PRODUCT_ROUTES
    from convergan.cli.main import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    route = next(a for a in commands.choices["spectrum"]._actions if a.dest == "route")
    assert tuple(route.choices) == PRODUCT_ROUTES == ("transpose", "double-backward", "forward")
