"""Shipped configs and sweep specs are found by name; a file path still works and wins."""

import sys
from pathlib import Path

import pytest

from convergan.cli.main import main
from convergan.config import ConfigError, load_config, read_config_file
from convergan.config.shipped import description, find_config, find_sweep_spec
from convergan.studies.spec import load_sweep_spec

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "convergan"


def test_names_resolve_to_the_package_files():
    assert find_config("toy2d/circle") == PACKAGE / "configs" / "toy2d" / "circle.yaml"
    assert find_config("fashion-mnist/dcgan-r1.yaml") == (
        PACKAGE / "configs" / "fashion-mnist" / "dcgan-r1.yaml"
    )
    assert find_sweep_spec("toy2d-methods") == PACKAGE / "sweeps" / "toy2d-methods.yaml"


def test_a_name_and_the_path_give_the_same_config():
    by_name = load_config("toy2d/circle", ["train.steps=7"])
    by_path = load_config(PACKAGE / "configs" / "toy2d" / "circle.yaml", ["train.steps=7"])
    assert by_name == by_path
    # base: base.yaml is inherited: the MLP width comes from toy2d/base.yaml.
    assert by_name.model.width == 256 and by_name.data.name == "circle"


def test_an_existing_path_wins_over_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "toy2d").mkdir()
    (tmp_path / "toy2d" / "circle").write_text("train: {steps: 11}\n")
    assert read_config_file("toy2d/circle") == {"train": {"steps": 11}}


def test_a_config_base_may_name_a_shipped_config(tmp_path):
    child = tmp_path / "mine.yaml"
    child.write_text("base: toy2d/ring8\ntrain: {steps: 5}\n")
    settings = read_config_file(child)
    assert settings["data"]["name"] == "ring8" and settings["train"]["steps"] == 5


def test_unknown_name_lists_close_names():
    with pytest.raises(ConfigError) as error:
        find_config("toy2d/circel")
    message = str(error.value)
    assert "\n" not in message and "toy2d/circle" in message and "convergan configs" in message
    with pytest.raises(ConfigError, match="sweep spec not found: toy2d-method .*toy2d-methods"):
        load_sweep_spec("toy2d-method")


def test_shipped_sweep_bases_are_names_resolved_to_the_package():
    spec = load_sweep_spec("toy2d-methods")
    assert {label: path.resolve() for label, path in spec.bases.items()} == {
        p: (PACKAGE / "configs" / "toy2d" / f"{p}.yaml").resolve()
        for p in ("gaussian", "line", "circle", "four-lines")
    }


def test_configs_command_lists_every_file_with_its_first_sentence(capsys):
    with pytest.raises(SystemExit) as stop:
        sys.exit(main(["configs"]))
    out = capsys.readouterr().out
    assert stop.value.code == 0
    files = sorted(PACKAGE.glob("configs/*/*.yaml")) + sorted(PACKAGE.glob("sweeps/*.yaml"))
    assert len(files) >= 18
    for path in files:
        folder = PACKAGE / path.relative_to(PACKAGE).parts[0]
        name = path.relative_to(folder).with_suffix("").as_posix()
        first = next(line for line in path.read_text().splitlines() if line.startswith("#"))
        line = next(line for line in out.splitlines() if line.split()[:1] == [name])
        shown = line.split(None, 1)[1]
        assert shown == description(path) and shown.startswith(first.lstrip("# ").strip()[:20])
