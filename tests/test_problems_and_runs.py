"""Problems and run directories as objects (issue "One house"): a plugin's metric is computed
and logged, a reopened run needs no dataset, one rule for a bad metrics line, one line for a
foreign checkpoint, and a new kind of problem trains with no change to convergan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import TINY_CIRCLE

from convergan.checkpoint import CheckpointError
from convergan.cli.main import main
from convergan.config import ConfigError, load_config
from convergan.problems import DataInfo, Problem, make_problem
from convergan.registry import METRICS, PROBLEM_FAMILIES, SAMPLE_VIEWS
from convergan.runs import train
from convergan.training.directory import RunDirectory
from convergan.training.metrics_log import metrics_by_step, read_metrics, trim_metrics

ROOT = Path(__file__).resolve().parents[1]
CIRCLE = ROOT / "configs" / "toy2d" / "circle.yaml"
TINY = TINY_CIRCLE

PLUGIN = '''
from convergan.metrics.catalog import Metric
from convergan.registry import METRICS


def mean_gap(inputs):
    """Distance between the real and generated sample means."""
    return float((inputs.real.mean(0) - inputs.fake.mean(0)).norm())


METRICS.register("mean-gap", Metric("2d", mean_gap), description="gap of the means")
'''


def cli(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(list(argv)))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def plugin_metric(tmp_path):
    path = tmp_path / "mean_gap.py"
    path.write_text(PLUGIN, encoding="utf-8")
    yield path
    METRICS.unregister("mean-gap")


def test_a_plugin_metric_is_computed_logged_and_evaluated(tmp_path, capsys, plugin_metric):
    run_dir = tmp_path / "run"
    config = load_config(
        CIRCLE,
        [
            *TINY,
            f"out_dir={run_dir}",
            f"plugins=[{plugin_metric}]",
            "eval.metrics=[w1,mean-gap]",
            "train.steps=6",
            "train.eval_every=3",
            "train.checkpoint_every=6",
        ],
    )
    train(config)
    rows = [r for r in metrics_by_step(run_dir / "metrics.jsonl") if "eval/mean-gap" in r]
    assert [r["step"] for r in rows] == [3, 6]
    # The logged value is the metric's own formula on the evaluation's samples: recompute it
    # from the same real points and generated points (the evaluator's seed, the EMA generator).
    run = RunDirectory.open(run_dir)
    step, state = run.load()
    players = run.players(state)
    g = torch.Generator().manual_seed(12345)
    real = make_problem(run.config).source.sample(64, g)
    latents = torch.randn(64, 2, generator=g)
    from convergan.training.generate import generate

    fake = generate(players.generator, run.generator_params(state), latents)
    expected = float((real.mean(0) - fake.mean(0)).norm())
    assert rows[-1]["eval/mean-gap"] == pytest.approx(expected, rel=1e-6)

    code, out, err = cli(capsys, "eval", str(run_dir), "--metrics", "mean-gap", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert record["step"] == 6
    assert record["ema"]["eval/mean-gap"] == pytest.approx(expected, rel=1e-6)
    assert "eval/mean-gap" in record["raw"]


def test_a_metric_that_does_not_apply_is_one_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(load_config(CIRCLE, [*TINY, f"out_dir={run_dir}", "train.steps=2"]))
    code, out, err = cli(capsys, "eval", str(run_dir), "--metrics", "fid")
    assert code == 2 and "does not apply" in err and "w1" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="does not apply"):
        make_problem(load_config(CIRCLE, ["eval.metrics=[kid]"])).requested_metrics(["kid"])


def test_run_json_records_the_data_so_reopening_reads_no_data(tmp_path, monkeypatch):
    """An image run reopened for sampling and for its players never reads its dataset."""
    images = (np.random.default_rng(0).random((40, 28, 28)) * 255).astype(np.uint8)
    data = tmp_path / "tiny.npy"
    np.save(data, images)
    run_dir = tmp_path / "run"
    config = load_config(
        ROOT / "configs" / "fashion-mnist" / "dcgan-r1.yaml",
        [
            f"out_dir={run_dir}",
            "data.name=npy",
            f"data.path={data}",
            "data.batch_size=8",
            "model.width=8",
            "train.steps=2",
            "train.progress=false",
            "train.sample_every=0",
            "eval.metrics=[]",
        ],
    )
    train(config)
    expected = make_problem(config).info()  # reads the data
    assert expected.shape == (1, 28, 28)
    assert json.loads((run_dir / "run.json").read_text()) == {
        "data_shape": [1, 28, 28],
        "num_classes": expected.num_classes,
    }

    def no_data(*args, **kwargs):
        raise AssertionError("the dataset was read")

    monkeypatch.setattr("convergan.data.images.make_image_dataset", no_data)
    run = RunDirectory.open(run_dir)
    assert run.info == expected
    step, state = run.load()
    players = run.players(state)
    assert step == 2 and players.data_shape == (1, 28, 28)
    from convergan.runs.sampling import load_generator_samples

    out = load_generator_samples(run_dir, 4, tmp_path / "s.npy", seed=0, use_ema=True)
    assert np.load(out).shape == (4, 1, 28, 28)


def test_one_rule_for_a_bad_metrics_line(tmp_path):
    """Reading and trimming agree: a torn or foreign line is skipped when read and dropped
    when trimmed, wherever it is; the valid records around it are kept."""
    path = tmp_path / "metrics.jsonl"
    lines = [
        json.dumps({"step": 1, "a": 1.0}),
        '{"step": 2, "a": 2.',  # torn
        json.dumps({"step": 2, "b": 3.0}),
        json.dumps(["not", "a", "record"]),
        json.dumps({"step": "3"}),  # a step that is not an integer
        json.dumps({"step": 4, "a": 4.0}),
    ]
    path.write_text("\n".join(lines) + "\n")
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 4]
    assert metrics_by_step(path) == [
        {"step": 1, "a": 1.0},
        {"step": 2, "b": 3.0},
        {"step": 4, "a": 4.0},
    ]
    assert trim_metrics(path, 2) == 4  # the three bad lines and step 4
    assert path.read_text().splitlines() == [lines[0], lines[2]]
    assert trim_metrics(path, 2) == 0  # nothing left to drop: the file is untouched


def test_a_checkpoint_of_another_architecture_is_one_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(load_config(CIRCLE, [*TINY, f"out_dir={run_dir}", "train.steps=2"]))
    config_path = run_dir / "config.yaml"
    config_path.write_text(config_path.read_text().replace("width: 8", "width: 12"))
    run = RunDirectory.open(run_dir)
    _, state = run.load()
    with pytest.raises(CheckpointError, match="another architecture"):
        run.players(state)
    for argv in (
        ["sample", str(run_dir), "--out", str(tmp_path / "x.npy")],
        ["eval", str(run_dir)],
    ):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "another architecture" in err, argv
        assert len(err.strip().splitlines()) == 1


class PointCloudProblem(Problem):
    """Points on the unit sphere in R^3: a kind of problem convergan has never seen."""

    metric_domain = "3d"
    default_metrics = ()
    default_architecture = "mlp"
    sample_view = "coordinates"  # registered by the test: a text file of the points
    display_count = 100
    spectrum_samples = 64

    def info(self) -> DataInfo:
        return DataInfo((3,), None)

    def real_stream(self, global_batch, seed, num_workers=0):
        return SphereStream(global_batch, seed)

    def real_samples(self, n, seed):
        return sphere(n, torch.Generator().manual_seed(seed))

    def evaluator(self, metrics, device):
        return None


def sphere(n, generator):
    x = torch.randn(n, 3, generator=generator)
    return x / x.norm(dim=1, keepdim=True)


class SphereStream:
    def __init__(self, batch, seed):
        self.batch, self.generator = batch, torch.Generator().manual_seed(seed)

    def __next__(self):
        return sphere(self.batch, self.generator)

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


class SphereFamily:
    def names(self):
        return ("sphere",)

    def build(self, config):
        return PointCloudProblem(config)


def write_coordinates(path, real, fake, discriminator, title):
    np.savetxt(path.with_suffix(".txt"), fake.detach().numpy())
    return path.with_suffix(".txt")


def test_a_new_kind_of_problem_trains_with_no_change_to_convergan(tmp_path):
    PROBLEM_FAMILIES.register("point-clouds", SphereFamily(), description="3D point clouds")
    SAMPLE_VIEWS.register("coordinates", write_coordinates, description="points as text")
    try:
        run_dir = tmp_path / "sphere"
        overrides = [*TINY, f"out_dir={run_dir}", "data.name=sphere", "train.steps=4"]
        overrides.append("eval.metrics=[]")
        result = train(load_config(CIRCLE, overrides))
        assert result.steps == 4
        run = RunDirectory.open(run_dir)
        assert run.info == DataInfo((3,), None)
        _, state = run.load()
        players = run.players(state)
        assert players.generator(torch.zeros(5, 2)).shape == (5, 3)
        assert np.loadtxt(run_dir / "samples" / "step-00000004.txt").shape == (100, 3)
    finally:
        PROBLEM_FAMILIES.unregister("point-clouds")
        SAMPLE_VIEWS.unregister("coordinates")
    with pytest.raises(ConfigError, match="sphere"):
        load_config(CIRCLE, ["data.name=sphere"])
