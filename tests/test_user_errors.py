"""Issue 24, "tracebacks and unclear errors": adversarial inputs, each by class, must end in
one line on stderr that says what to type, a non-zero exit and no traceback; outputs are
checked before any work. Classes are walked over the whole command tree (every output option,
every numeric option), so that a new option cannot miss the check."""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import TINY, one_line, run

from convergan.cli.main import build_parser, main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2D run with checkpoints at steps 2 and 4."""
    run_dir = tmp_path_factory.mktemp("user-errors") / "run"
    argv = ["train", "toy2d/circle", "train.steps=4", "train.checkpoint_every=2", *TINY,
            f"out_dir={run_dir}", "--quiet"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    assert exit_info.value.code == 0
    return run_dir


def leaf_parsers(parser=None, path=()):
    """``(command words, parser)`` of every leaf command."""
    parser = parser or build_parser()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += leaf_parsers(sub, (*path, name))
    if not found and path:
        found.append((path, parser))
    return found


# --------------------------------------------------------------------------- a full device


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["configs"], ["--help"], ["--version"], ["sweep", "--help"]])
def test_stdout_on_a_full_device_is_one_line(argv):
    """``--help`` and ``--version`` too: argparse dropped their failed write and exited 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "convergan", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "No space left on device" in lines[0] and "redirect" in lines[0]


# --------------------------------------------------------------------------- deep nesting


def nested(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


def test_a_deeply_nested_config_file_is_one_line(tmp_path, capsys):
    config = tmp_path / "deep.yaml"
    config.write_text(f"data: {nested(2000)}\n")
    line = one_line(capsys, "train", config)
    assert str(config) in line and "nested" in line


def test_a_deeply_nested_override_is_one_line(capsys):
    line = one_line(capsys, "train", "toy2d/circle", "train.steps=" + "[" * 2000 + "]" * 2000)
    assert "train.steps" in line and "nested" in line


def test_a_deeply_nested_sweep_spec_is_one_line(tmp_path, capsys):
    spec = tmp_path / "deep.yaml"
    spec.write_text(f"name: deep\nbase: toy2d/circle\naxes: {nested(2000)}\n")
    line = one_line(capsys, "sweep", spec, "--out", tmp_path / "out", "--dry-run")
    assert str(spec) in line and "nested" in line


# --------------------------------------------------------------------------- foreign checkpoints


def with_foreign_newest(tiny_run, tmp_path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    torch.save({"hello": torch.zeros(3)}, run_dir / "checkpoints" / "step-00000006.pt")
    return run_dir


def test_a_foreign_newest_checkpoint_is_skipped_as_a_corrupt_one(tiny_run, tmp_path, capsys):
    run_dir = with_foreign_newest(tiny_run, tmp_path)
    for argv in (
        ["sample", run_dir, "--n", "4", "--out", tmp_path / "s.npy"],
        ["eval", run_dir],
        ["resume", run_dir, "train.steps=6", "--quiet"],
    ):
        with pytest.warns(RuntimeWarning, match=r"step-00000006.pt was not written by.*lacks"):
            code, out, err = run(capsys, *argv)
        assert code == 0 and "Traceback" not in err, err
        if argv[0] == "eval":
            assert "at step 4" in out  # the previous checkpoint's


def test_a_foreign_checkpoint_asked_for_by_step_names_the_file(tiny_run, tmp_path, capsys):
    run_dir = with_foreign_newest(tiny_run, tmp_path)
    for argv in (
        ["spectrum", run_dir, "--step", "6", "--samples", "16", "--quiet"],
        ["path-angle", run_dir, "--from", "4", "--to", "6", "--samples", "16", "--quiet"],
    ):
        line = one_line(capsys, *argv)
        assert "step-00000006.pt" in line and "not written by" in line, line


# --------------------------------------------------------------------------- output paths

# Each output option, with a command line around it and the function that does the command's
# work: the bad path must be refused before that function runs.
OUTPUTS = {
    ("verdict", "--html"): (["verdict", "{run}"], "convergan.runs.verdict", "run_verdict"),
    ("spectrum", "--save-batch"): (["spectrum", "{run}"], "convergan.runs.spectrum", "open_run"),
    ("spectrum", "--plot"): (["spectrum", "{run}"], "convergan.runs.spectrum", "open_run"),
    ("path-angle", "--plot"): (
        ["path-angle", "{run}", "--from", "2", "--to", "4"],
        "convergan.runs.spectrum",
        "open_run",
    ),
    ("report", "--out"): (["report", "{run}"], "convergan.studies.report", "write_report"),
    ("sample", "--out"): (
        ["sample", "{run}", "--n", "4"],
        "convergan.runs.sampling",
        "load_generator_samples",
    ),
    ("features", "train", "--out"): (
        ["features", "train", "fashion-mnist"],
        "convergan.metrics.features",
        "train_fashion_mnist_classifier",
    ),
    ("study", "toy2d", "--out"): (
        ["study", "toy2d", "--steps", "2"],
        "convergan.studies.launch",
        "run_sweep",
    ),
    ("sweep", "--out"): (["sweep", "toy2d-methods"], "convergan.studies.launch", "run_sweep"),
    ("dirac", "figure", "--out"): (
        ["dirac", "figure"],
        "convergan.plots.dirac",
        "write_all_figures",
    ),
}
FILE_OPTIONS = ("--out", "--plot", "--html", "--save-batch")


def test_every_output_option_is_in_the_table():
    found = {
        (*words, option)
        for words, parser in leaf_parsers()
        for action in parser._actions
        for option in action.option_strings
        if option in FILE_OPTIONS
    }
    assert found == set(OUTPUTS)


@pytest.mark.parametrize("key", sorted(OUTPUTS), ids="-".join)
def test_an_unwritable_output_is_refused_before_any_work(
    key, tiny_run, tmp_path, capsys, monkeypatch
):
    import importlib

    argv, module, function = OUTPUTS[key]

    def computed(*args, **kwargs):
        raise AssertionError(f"{module}.{function} ran before the output was checked")

    monkeypatch.setattr(importlib.import_module(module), function, computed)
    argv = [a.replace("{run}", str(tiny_run)) for a in argv]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    suffix = {"--html": ".html", "--save-batch": ".pt"}.get(key[-1], ".png")
    target = blocker / ("out" + (suffix if key[-1] != "--out" or key[0] == "sample" else ""))
    line = one_line(capsys, *argv, key[-1], target)
    assert line.startswith(f"convergan: error: {key[-1]}: cannot write {target}"), line
    if key[0] in ("verdict", "sample") or key == ("features", "train", "--out"):
        folder = tmp_path / f"folder{suffix}"  # a folder where a file goes
        folder.mkdir()
        line = one_line(capsys, *argv, key[-1], folder)
        assert f"{key[-1]}: {folder} is a folder" in line


# --------------------------------------------------------------------------- numeric options

# The words before any option of each leaf command that has numeric options.
COMMAND_LINES = {
    ("dirac", "simulate"): ["dirac", "simulate", "--method", "r1"],
    ("dirac", "table"): ["dirac", "table"],
    ("dirac", "analyze"): ["dirac", "analyze", "--method", "r1"],
    ("eval",): ["eval", "{run}"],
    ("features", "train"): ["features", "train", "fashion-mnist"],
    ("spectrum",): ["spectrum", "{run}", "--samples", "16"],
    ("path-angle",): ["path-angle", "{run}", "--from", "2", "--to", "4", "--samples", "16"],
    ("study", "toy2d"): ["study", "toy2d", "--steps", "2"],
    ("sweep",): ["sweep", "toy2d-methods", "--dry-run"],
    ("sample",): ["sample", "{run}", "--out", "{tmp}/s.npy"],
    ("verdict",): ["verdict", "{run}"],
}
# Options for which -1 is a value: none so far.
NEGATIVE_ALLOWED: set[tuple[str, ...]] = set()


def numeric_options():
    for words, parser in leaf_parsers():
        for action in parser._actions:
            if action.option_strings and action.type is not None and action.type not in (str,):
                yield words, action


def test_every_numeric_option_is_bounded_while_parsing():
    """Outside ``dirac`` (whose values are checked by the method and scheme specs), each
    numeric option's type carries its bounds, so a bad value never reaches the work."""
    loose = [
        (words, action.option_strings[0])
        for words, action in numeric_options()
        if words[0] != "dirac" and not hasattr(action.type, "bounds")
    ]
    assert loose == []


def numeric_cases():
    for words, action in numeric_options():
        for value in (
            ("-1", "nan") if getattr(action.type, "__name__", "") != "an integer" else ("-1",)
        ):
            if action.type is int and value == "nan":
                continue
            yield pytest.param(
                words,
                action.option_strings[0],
                value,
                id=f"{' '.join(words)} {action.option_strings[0]} {value}",
            )


@pytest.mark.parametrize("words, option, value", list(numeric_cases()))
def test_a_negative_or_nan_number_is_one_line(
    words, option, value, tiny_run, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    base = [
        a.replace("{run}", str(tiny_run)).replace("{tmp}", str(tmp_path))
        for a in COMMAND_LINES[words]
    ]
    line = one_line(capsys, *base, f"{option}={value}")
    assert option in line, line


def test_spectrum_maxiter_zero_and_a_seed_beyond_numpy_are_one_line(tiny_run, capsys):
    line = one_line(capsys, "spectrum", tiny_run, "--maxiter", "0")
    assert "--maxiter: must be >= 1, got 0" in line
    line = one_line(capsys, "spectrum", tiny_run, "--seed", str(2**32))
    assert f"--seed: must be <= {2**32 - 1}" in line


# --------------------------------------------------------------------------- settings that
# cannot work, refused before training or evaluating


def test_the_dirac_problem_trains_an_mlp_too(tmp_path, capsys):
    """The Dirac data was float64 (its own players'), an MLP float32: a dtype traceback."""
    for name in ("dirac", "dirac-3d"):
        argv = ["train", "dirac", f"data.name={name}", "model.name=mlp", "model.width=8",
                "model.depth=1", "train.steps=2", f"out_dir={tmp_path / name}"]  # fmt: skip
        argv.append("--quiet")
        code, out, err = run(capsys, *argv)
        assert code == 0 and "Traceback" not in err, err


def test_slurm_without_its_tools_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither sbatch nor srun
    argv = ["sweep", "toy2d-methods", "--launcher", "slurm", "--out", tmp_path / "sweep"]
    line = one_line(capsys, *argv)
    assert "sbatch" in line and "--launcher local" in line
    assert not (tmp_path / "sweep" / "runs").exists()


def test_no_metric_for_the_dirac_problem_says_what_to_type(capsys):
    line = one_line(capsys, "train", "dirac", "eval.metrics=[w1]")
    assert line.endswith("no registered metric does: set eval.metrics=[]"), line


@pytest.fixture
def image_run(tmp_path):
    """A run directory of an image problem (16 random 28 x 28 images) holding only its config:
    what ``eval`` checks before loading a checkpoint."""
    import numpy as np

    from convergan.config import load_config, save_config

    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8))
    run_dir = tmp_path / "image-run"
    overrides = ["data.name=npy", f"data.path={images}", "data.batch_size=4", f"out_dir={run_dir}"]
    save_config(load_config("fashion-mnist/base", overrides), run_dir / "config.yaml")
    return run_dir, overrides


@pytest.mark.parametrize("metric, needed", [("fid", 2), ("kid", 2), ("pr", 4)])
def test_too_few_samples_for_an_image_metric_is_refused_first(metric, needed, image_run, capsys):
    run_dir, overrides = image_run
    line = one_line(capsys, "eval", run_dir, "--metrics", metric, "--n", needed - 1)
    assert line.endswith(f"--n: {metric} needs at least {needed} samples, got {needed - 1}")
    argv = ["train", "fashion-mnist/base", *overrides, f"eval.metrics=[{metric}]",
            f"eval.n_samples={needed - 1}", "--quiet"]  # fmt: skip
    line = one_line(capsys, *argv)
    assert line.endswith(
        f"eval.n_samples: {metric} needs at least {needed} samples, got {needed - 1}"
    )
    assert not list(run_dir.glob("checkpoints/*"))


def test_an_exact_w1_beyond_memory_is_refused_first(tiny_run, tmp_path, capsys, monkeypatch):
    import convergan.training.memory

    monkeypatch.setattr(convergan.training.memory, "available_memory", lambda: 16 * 2**30)
    line = one_line(capsys, "eval", tiny_run, "--metrics", "w1", "--n", 10**5)
    # 10^5 x 10^5 float64 costs, plus 10^5 real and fake 2D points and 16-dim latents (float32)
    need = (8 * 10**10 + 10**5 * (2 * 2 + 16) * 4) / 2**30
    assert line.endswith(
        f"about {need:,.1f} GB of memory, more than the 16.0 GB available; use fewer"
    )
    assert line.startswith("convergan: error: --n: evaluating w1 on 100,000 samples")
    argv = ["train", "toy2d/circle", "eval.w1_samples=100000", f"out_dir={tmp_path / 'r'}"]
    line = one_line(capsys, *argv)
    assert "eval.w1_samples: evaluating w1 on 100,000 samples" in line
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_annealing_instance_noise_is_a_schedule_and_the_old_shorthand_says_so():
    from convergan.config import ConfigError, load_config
    from convergan.schedules import Schedule

    annealed = "method.noise.sigma={schedule: linear, start: 1, end: 0, steps: 5}"
    sigma = load_config("dirac", ["method=instance-noise", annealed]).method.noise.sigma
    assert sigma == Schedule("linear", 1.0, 0.0, 5, "steps")
    with pytest.raises(ConfigError, match="noise takes only sigma, a number or a schedule"):
        load_config("dirac", ["method=instance-noise", "method.noise.anneal_steps=5"])


def test_a_bare_word_for_a_list_says_how_to_write_it(capsys):
    line = one_line(capsys, "train", "toy2d/circle", "plugins=plug/x.py")
    assert line.endswith("got 'plug/x.py' (str); in brackets: plugins=[plug/x.py]")
    line = one_line(capsys, "train", "toy2d/circle", "eval.metrics=w1")
    assert line.endswith("in brackets: eval.metrics=[w1]")


@pytest.mark.parametrize("text", ['{"cells": [', "[1, 2]", "{}", '{"cells": [1]}', "\x80"])
def test_a_damaged_sweep_record_names_its_file(text, tmp_path, capsys):
    (tmp_path / "sweep.json").write_bytes(text.encode("latin-1"))
    for argv in (["sweep", "status", tmp_path], ["report", tmp_path]):
        line = one_line(capsys, *argv)
        assert f"{tmp_path / 'sweep.json'} is damaged" in line, line
