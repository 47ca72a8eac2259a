"""A sweep's cells: their names, their configs and what the folder records never disagree.

Adversarial cases from the hardening round: ``--axis`` on every kind of axis (base, plain,
zip group, new), overrides of an axis key, keys the sweep sets itself, repeated values and
cells that train one config, another plan run into a finished sweep's folder."""

import json
from pathlib import Path

import pytest

from convergan.cli.main import main
from convergan.config import ConfigError, load_config
from convergan.config.schema import config_to_dict
from convergan.studies.cells import write_cell
from convergan.studies.planning import plan, write_sweep_record
from convergan.studies.results import read_sweep
from convergan.studies.spec import load_sweep_spec, sweep_spec_from_dict

ROOT = Path(__file__).resolve().parents[1]


def load(spec, overrides=(), axes=()):
    from convergan.cli.sweep import load_spec

    return load_spec(spec, list(overrides), list(axes), None, None, None)


def dotted(config: dict, key: str):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def check_names_match_configs(spec, out: Path):
    """Every cell's axis values, as its name states them, are what its config trains."""
    planned = plan(spec, out)
    for p in planned:
        config = config_to_dict(p.config)
        for key, value in p.cell.values:
            if key == "base":
                expected = load_config(spec.bases[value]).data.name
                assert p.config.data.name == expected, (p.cell.name, p.config.data.name)
            elif key == "method":
                assert config["method"]["name"] == value, p.cell.name
            else:
                assert dotted(config, key) == value, (p.cell.name, dotted(config, key))
        assert p.cell.name.startswith("base=") == spec.has_base_axis
    return planned


def test_axis_base_replaces_the_specs_base_axis(tmp_path):
    spec = load("r1-gamma", ["train.steps=2"], ["base=[circle]", "seed=[0]"])
    planned = check_names_match_configs(spec, tmp_path)
    assert {p.cell.value("base") for p in planned} == {"circle"}
    assert len(planned) == 5 and {p.config.data.name for p in planned} == {"circle"}


def test_axis_base_given_a_config_name_makes_a_base_axis(tmp_path):
    spec = load("r1-gamma", [], ["base=[toy2d/ring8, circle]", "seed=[0]", "method.gamma=[1]"])
    planned = check_names_match_configs(spec, tmp_path)
    assert [p.cell.name for p in planned] == [
        "base=ring8,method.gamma=1,seed=0",
        "base=circle,method.gamma=1,seed=0",
    ]


def test_plain_and_new_axes_replace_and_add(tmp_path):
    spec = load("r1-gamma", [], ["method.gamma=[3]", "seed=[7]", "train.steps=[3, 4]"])
    planned = check_names_match_configs(spec, tmp_path)
    assert len(planned) == 2 * 2  # two bases, two step counts
    assert {p.config.method.to_dict()["gamma"] for p in planned} == {3}


def zip_spec(tmp_path) -> Path:
    path = tmp_path / "zipped.yaml"
    spec = {
        "name": "zipped",
        "base": "toy2d/circle",
        "axes": {"seed": [0]},
        "zip": [{"optim.g.lr": [1e-4, 1e-3], "optim.d.lr": [2e-4, 2e-3]}],
    }
    path.write_text(json.dumps(spec))
    return path


def test_axis_on_a_zip_group_replaces_the_group(tmp_path):
    spec = load(zip_spec(tmp_path), [], ["optim.g.lr=[0.01]", "optim.d.lr=[0.02]"])
    planned = check_names_match_configs(spec, tmp_path / "out")
    assert [(p.config.optim.g.lr, p.config.optim.d.lr) for p in planned] == [(0.01, 0.02)]


@pytest.mark.parametrize(
    "overrides, axes, message",
    [
        ([], ["optim.g.lr=[0.01]"], "moves with optim.d.lr in the spec's zip[0]"),
        ([], ["optim.g.lr=[0.01]", "optim.d.lr=[1, 2]"], "need equal lengths"),
        (["seed=3"], [], "seed is an axis of sweep zipped"),
        (["optim.d.lr=0.1"], [], "optim.d.lr is an axis of sweep zipped"),
        (["out_dir=elsewhere"], [], "out_dir: set by the sweep"),
        ([], ["out_dir=[a, b]"], "--axis out_dir: set by the sweep"),
        ([], ["train.progress=[true, false]"], "set by the sweep"),
        ([], ["seed=[0, 0]"], "appears twice"),
        ([], ["seed=[1]", "seed=[2]"], "given twice"),
        ([], ["base=[3]"], "expected base labels or config names"),
        ([], ["base=[toy2d/nope]"], "--axis base"),
    ],
)
def test_command_line_settings_that_would_be_dropped_are_refused(
    tmp_path, overrides, axes, message
):
    with pytest.raises(ConfigError) as error:
        load(zip_spec(tmp_path), overrides, axes)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"axes": {"seed": [0, 0]}}, "axes.seed: the value 0 appears twice"),
        ({"axes": {"method": ["r1", "gan", "r1"]}}, 'the value "r1" appears twice'),
        ({"zip": [{"seed": [0, 0], "method": ["gan", "gan"]}]}, "zip[0]: the row"),
        ({"axes": {"out_dir": ["a", "b"]}}, "out_dir: set by the sweep"),
        ({"overrides": {"train.progress": True}}, "train.progress: set by the sweep"),
    ],
)
def test_spec_with_repeated_cells_or_sweep_keys_is_refused(data, message):
    with pytest.raises(ConfigError) as error:
        sweep_spec_from_dict({"base": "toy2d/circle", **data}, Path("s.yaml"))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "data",
    [
        {"base": "toy2d/circle", "axes": {"method.gamma": [1, 1.0]}, "overrides": {"method": "r1"}},
        {"base": {"a": "toy2d/circle", "b": "toy2d/circle"}, "axes": {"seed": [0]}},
        {"base": "toy2d/circle", "axes": {"train.steps": [2000, 2e3]}},
    ],
)
def test_cells_that_would_train_one_config_are_refused(tmp_path, data):
    with pytest.raises(ConfigError) as error:
        plan(sweep_spec_from_dict(data, Path("s.yaml")), tmp_path)
    assert "would train the same config" in str(error.value)


def finished_sweep(tmp_path, spec) -> Path:
    """``spec`` planned into a folder whose cells all finished (records written by hand)."""
    out = tmp_path / "out"
    planned = plan(spec, out)
    write_sweep_record(spec, out, planned)
    for p in planned:
        write_cell(p.run_dir, {"status": "done", "config": p.config_dict, "attempts": 1})
    return out


def seeds_spec(tmp_path, name="seeds", steps=3) -> Path:
    path = tmp_path / f"{name}.yaml"
    spec = {"name": name, "base": "toy2d/circle", "axes": {"seed": [0, 1]}}
    spec.update(overrides={"train.steps": steps}, launcher={"name": "debug"})
    path.write_text(json.dumps(spec))
    return path


def test_a_narrowed_rerun_keeps_every_finished_run(tmp_path, capsys):
    path = seeds_spec(tmp_path)
    out = finished_sweep(tmp_path, load_sweep_spec(path))
    assert main(["sweep", str(path), "--out", str(out), "--axis", "seed=[0]", "--no-progress"]) == 0
    runs = read_sweep(out).runs
    assert sorted(r.name for r in runs) == ["seed=0", "seed=1"]
    assert {r.status for r in runs} == {"done"}
    capsys.readouterr()
    assert main(["sweep", "status", str(out)]) == 0
    assert "seed=1" in capsys.readouterr().out
    recorded = json.loads((out / "sweep.json").read_text())
    assert recorded["effective_spec"]["axes"]["seed"] == [0, 1]  # what ran, both plans


@pytest.mark.parametrize(
    "other, message",
    [
        ({"name": "other"}, "holds another plan, sweep 'seeds'"),
        ({"steps": 5}, "train.steps: 3 -> 5"),
    ],
)
def test_another_plan_into_a_finished_sweep_is_refused(tmp_path, capsys, other, message):
    out = finished_sweep(tmp_path, load_sweep_spec(seeds_spec(tmp_path)))
    before = (out / "sweep.json").read_text()
    (tmp_path / "other").mkdir()
    other_spec = seeds_spec(tmp_path / "other", **other)
    for extra in (["--dry-run"], ["--axis", "seed=[5]"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(["sweep", str(other_spec), "--out", str(out), *extra])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and message in err and "\n" not in err, err
        assert "2 cells (2 finished)" in err or "already ran" in err
    assert (out / "sweep.json").read_text() == before


def test_a_sweep_recorded_before_plans_were_kept_is_judged_by_its_effective_spec(tmp_path):
    # sweep.json from an older convergan has no "plan": the same spec is the same experiment
    # (it resumes), other overrides still another one.
    from convergan.studies.planning import SweepChanged, check_same_plan

    spec = load_sweep_spec(seeds_spec(tmp_path))
    out = finished_sweep(tmp_path, spec)
    record = json.loads((out / "sweep.json").read_text())
    del record["plan"]
    (out / "sweep.json").write_text(json.dumps(record))
    check_same_plan(spec, out)
    (tmp_path / "other").mkdir()
    with pytest.raises(SweepChanged, match="train.steps: 3 -> 5"):
        check_same_plan(load_sweep_spec(seeds_spec(tmp_path / "other", steps=5)), out)
