"""Config system: inheritance, overrides, key-naming errors, presets, round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_overrides,
    parse_yaml,
    save_config,
)
from convergan.registry import METHODS as PRESETS

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# --------------------------------------------------------------------------- defaults


def test_defaults_layer_is_the_schema():
    assert load_config(None) == config_from_dict({}) == Config()
    assert Config().method.name == "r1"
    assert Config().method.params == PRESETS["r1"].defaults


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().train.steps = 5  # type: ignore[misc]


# --------------------------------------------------------------------------- inheritance


def test_inheritance_merges_deeply_and_the_child_wins(tmp_path):
    write(
        tmp_path / "shared" / "grand.yaml",
        "seed: 1\ntrain: {steps: 10, log_every: 7}\noptim: {d: {lr: 0.5, name: sgd}}\n"
        "eval: {metrics: [w1, fid]}\n",
    )
    # ``base`` is relative to the file that names it, not to the working directory.
    write(tmp_path / "shared" / "parent.yaml", "base: grand.yaml\ntrain: {steps: 20}\nseed: 2\n")
    child = write(
        tmp_path / "child.yaml",
        "base: shared/parent.yaml\ntrain: {eval_every: 3}\noptim: {d: {lr: 0.25}}\n"
        "eval: {metrics: [kid]}\n",
    )
    cfg = load_config(child)
    assert cfg.seed == 2  # parent over grandparent
    assert (cfg.train.steps, cfg.train.log_every, cfg.train.eval_every) == (20, 7, 3)
    assert (cfg.optim.d.name, cfg.optim.d.lr) == ("sgd", 0.25)  # merged key by key
    assert cfg.eval.metrics == ["kid"]  # lists are replaced, not concatenated
    assert cfg.optim.g == Config().optim.g  # untouched keys keep the defaults


def test_overrides_win_over_every_file(tmp_path):
    parent = write(tmp_path / "parent.yaml", "train: {steps: 10}\n")
    child = write(tmp_path / "child.yaml", f"base: {parent.name}\ntrain: {{steps: 20}}\n")
    assert load_config(child, ["train.steps=30"]).train.steps == 30
    assert load_config(child, ["train.steps=30", "train.steps=40"]).train.steps == 40


def test_inheritance_cycle_is_an_error(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml\n")
    write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle: a.yaml -> b.yaml -> a.yaml"):
        load_config(tmp_path / "a.yaml")
    write(tmp_path / "self.yaml", "base: ./self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "self.yaml")


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    child = write(tmp_path / "child.yaml", "base: gone.yaml\n")
    with pytest.raises(ConfigError, match=r"not found: .*gone.yaml \(base of .*child.yaml\)"):
        load_config(child)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("train:\n  steps: 10\n  log_every: [1, 2\n", r"bad.yaml:\d+:\d+: invalid YAML"),
        (
            "train:\n  steps: 10\n  steps: 20\n",
            r"bad.yaml:3:\d+: invalid YAML: duplicate key 'steps'",
        ),
        ("- 1\n- 2\n", r"bad.yaml: expected a mapping"),
        ("base: [a, b]\n", r"bad.yaml: base: expected a file path"),
        ("!!python/object:os.system {}\n", r"bad.yaml:1:1: invalid YAML"),  # safe loading only
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, text, pattern):
    bad = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(bad)
    assert "\n" not in str(info.value)


def test_empty_file_means_defaults(tmp_path):
    assert load_config(write(tmp_path / "empty.yaml", "")) == Config()


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("x=1e-4", 1e-4),  # PyYAML's resolver alone would give the string "1e-4"
        ("x=-2.5E3", -2500.0),
        ("x=1.0e4", 1e4),
        ("x=.5e-1", 0.05),
        ("x=3", 3),
        ("x=1_000", 1000),
        ("x=0.5", 0.5),
        ("x=true", True),
        ("x=[1, 2]", [1, 2]),
        ("x=null", None),
        ("x=", None),
        ("x=r1", "r1"),
        ("x='1e-4'", "1e-4"),  # quoting keeps a string
        ("x=a=b", "a=b"),  # only the first '=' separates
    ],
)
def test_override_values_are_yaml(override, expected):
    value = parse_overrides([override])["x"]
    assert value == expected and type(value) is type(expected)


def test_yaml_files_read_exponent_floats():
    assert parse_yaml("lr: 1e-4\neps: 1E-8\nn: 12\n", "t") == {"lr": 1e-4, "eps": 1e-8, "n": 12}


def test_overrides_nest_by_dots():
    layer = parse_overrides(["optim.d.lr=1e-4", "optim.d.betas=[0.5, 0.9]", "train.steps=2000"])
    assert layer == {"optim": {"d": {"lr": 1e-4, "betas": [0.5, 0.9]}}, "train": {"steps": 2000}}
    cfg = load_config(None, ["optim.d.lr=1e-4", "optim.d.betas=[0.5, 0.9]"])
    assert cfg.optim.d.lr == 1e-4 and cfg.optim.d.betas == (0.5, 0.9)
    assert cfg.optim.g.lr == Config().optim.g.lr


@pytest.mark.parametrize(
    "bad", ["foo", "=1", "train..steps=1", "train.steps", " =2", "base=x.yaml"]
)
def test_bad_override_format(bad):
    assert error_of([bad]).startswith(f"bad override {bad!r}")


def test_bad_override_value_yaml():
    assert error_of(["train.steps=[1"]).startswith("bad override 'train.steps=[1': invalid YAML")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # unknown keys, with the closest valid key
        ("train.setps=1", "unknown key 'train.setps' (did you mean 'train.steps'?)"),
        ("optim.d.learning_rate=1", "unknown key 'optim.d.learning_rate'"),
        ("steps=1", "unknown key 'steps' (did you mean 'train.steps'?)"),
        ("optim.lr=1", "unknown key 'optim.lr' (did you mean 'optim.g.lr' or 'optim.d.lr'?)"),
        # wrong types
        ("train.steps=1.5", "train.steps: expected an integer, got 1.5"),
        ("train.steps=true", "train.steps: expected an integer, got True"),
        ("optim.d.lr=true", "optim.d.lr: expected a number, got True"),
        ("optim.d.lr=fast", "optim.d.lr: expected a number, got 'fast'"),
        ("optim.d.lr=.nan", "optim.d.lr: expected a finite number, got nan"),
        ("ema.enabled=1", "ema.enabled: expected true or false, got 1"),
        ("out_dir=3", "out_dir: expected a string, got 3"),
        ("train=5", "train: expected a mapping, got 5"),
        ("optim.g.betas=[0.5]", "optim.g.betas: expected a list of 2 numbers"),
        ("eval.metrics=w1", "eval.metrics: expected a list, got 'w1'"),
        # out of range and unknown choices
        ("optim.d.lr=0", "optim.d.lr: must be > 0, got 0.0"),
        ("optim.g.lr=-1e-4", "optim.g.lr: must be > 0, got -0.0001"),
        ("optim.g.betas=[0.5, 1]", "optim.g.betas[1]: must be < 1, got 1.0"),
        ("train.steps=0", "train.steps: must be > 0, got 0"),
        ("data.batch_size=-3", "data.batch_size: must be > 0, got -3"),
        ("data.noise_std=-0.1", "data.noise_std: must be >= 0"),
        ("train.keep_last=0", "train.keep_last: must be >= 1, got 0"),
        ("ema.half_life_samples=0", "ema.half_life_samples: must be > 0"),
        ("scheme.lazy_every=0", "scheme.lazy_every: must be >= 1"),
        ("data.name=cirlce", "data.name: 'cirlce' is not one of"),
        ("eval.metrics=[w1, fidd]", "eval.metrics[1]: 'fidd' is not one of w1, modes, fid, kid"),
        ("device=tpu", "device: 'tpu' is not one of cpu, cuda, auto"),
    ],
)
def test_every_error_is_one_line_naming_the_dotted_key(override, message):
    assert message in error_of([override])


def test_choice_errors_suggest_the_closest():
    assert "(did you mean 'circle'?)" in error_of(["data.name=cirlce"])
    assert "(did you mean 'rmsprop'?)" in error_of(["optim.d.name=rmsprob"])


def test_ints_widen_to_floats_and_integral_floats_to_ints():
    cfg = load_config(None, ["optim.d.lr=1", "train.steps=2e3"])
    assert cfg.optim.d.lr == 1.0 and type(cfg.optim.d.lr) is float
    assert cfg.train.steps == 2000 and type(cfg.train.steps) is int


def test_errors_in_files_name_the_dotted_key(tmp_path):
    path = write(tmp_path / "run.yaml", "optim:\n  g:\n    lr: -1e-4\n")
    with pytest.raises(ConfigError, match=r"^optim.g.lr: must be > 0, got -0.0001$"):
        load_config(path)


def test_optional_fields_accept_null_and_check_values():
    assert load_config(None, ["model.image_size=32"]).model.image_size == 32
    assert load_config(None, ["model.image_size=null"]).model.image_size is None
    assert "model.image_size: must be > 0" in error_of(["model.image_size=0"])


# --------------------------------------------------------------------------- method presets


def test_method_as_name_or_mapping(tmp_path):
    by_name = write(tmp_path / "a.yaml", "method: wgan-gp\n")
    assert load_config(by_name).method.params == PRESETS["wgan-gp"].defaults
    by_map = write(tmp_path / "b.yaml", "method: {name: r1, gamma: 10}\n")
    assert load_config(by_map).method.params == {"gamma": 10.0}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads_with_its_own_defaults(name):
    method = load_config(None, [f"method={name}"]).method
    assert (method.name, method.params) == (name, PRESETS[name].defaults)
    assert method.build().name == name


def test_method_overrides_in_either_order():
    for overrides in (["method=r2", "method.gamma=5"], ["method.gamma=5", "method=r2"]):
        method = load_config(None, overrides).method
        assert (method.name, method.params) == ("r2", {"gamma": 5.0})


def test_switching_preset_drops_the_old_hyperparameters(tmp_path):
    path = write(tmp_path / "r1.yaml", "method: {name: r1, gamma: 10}\n")
    assert load_config(path, ["method=wgan"]).method.params == PRESETS["wgan"].defaults
    assert load_config(path, ["method=r2"]).method.params == {"gamma": 1.0}
    # Naming the same preset again keeps what the file set.
    assert load_config(path, ["method=r1"]).method.params == {"gamma": 10.0}
    assert load_config(path, ["method.gamma=2"]).method.params == {"gamma": 2.0}


def test_child_file_tunes_the_inherited_preset(tmp_path):
    write(tmp_path / "base.yaml", "method: {name: wgan-gp, gamma: 10}\n")
    child = write(tmp_path / "child.yaml", "base: base.yaml\nmethod: {target: 0.5}\n")
    assert load_config(child).method.params == {"gamma": 10.0, "target": 0.5}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method=r3"], "method: unknown method 'r3'; choose one of"),
        (["method=nsgan-r"], "(did you mean 'nsgan-r1'?)"),
        (
            ["method.gama=2"],
            "method.gama: method 'r1' does not take 'gama' (did you mean 'gamma'?)",
        ),
        (["method=nsgan", "method.gamma=1"], "method.gamma: method 'nsgan' does not take 'gamma'"),
        (["method.gamma=-1"], "method.gamma: must be >= 0, got -1"),
        (["method=instance-noise", "method.sigma=-0.1"], "method.sigma: must be >= 0"),
        (["method=wgan", "method.clip=-1"], "method.clip: must be > 0"),
        (["method=wgan", "method.clip=0"], "method.clip: must be > 0"),
        (["method.gamma=true"], "method.gamma: expected a number, got True"),
        (["method=3"], "method: expected a method name or a mapping"),
        (["method.name=3"], "method.name: expected a method name, got 3"),
        (["method=[r1]"], "method: expected a method name or a mapping"),
    ],
)
def test_method_errors_name_the_key(overrides, message):
    assert message in error_of(overrides)


def test_unknown_method_lists_the_presets_from_the_registry():
    message = error_of(["method=nope"])
    assert all(name in message for name in PRESETS)


# --------------------------------------------------------------------------- round trip


def custom_config() -> Config:
    return load_config(
        None,
        [
            "method=wgan-gp",
            "method.gamma=10",
            "optim.d.lr=3e-4",
            "optim.g.betas=[0.5, 0.9]",
            "model.image_size=28",
            "eval.metrics=[w1, fid]",
            "train.keep_every=1000",
            "ema.rampup=0.05",
        ],
    )


@pytest.mark.parametrize("make", [Config, custom_config])
def test_save_then_load_round_trips(tmp_path, make):
    cfg = make()
    save_config(cfg, tmp_path / "sub" / "config.yaml")
    assert load_config(tmp_path / "sub" / "config.yaml") == cfg


def test_to_dict_is_plain_yaml():
    plain = config_to_dict(custom_config())
    assert plain["method"] == {"name": "wgan-gp", "gamma": 10.0, "target": 1.0}
    assert plain["optim"]["g"]["betas"] == [0.5, 0.9]
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(min_value=1e-12, max_value=10, allow_subnormal=False),
    steps=st.integers(min_value=1, max_value=10**9),
    gamma=st.floats(min_value=0, max_value=1e6),
    beta=st.floats(min_value=0, max_value=0.999999),
)
def test_round_trip_is_exact_for_any_valid_values(lr, steps, gamma, beta):
    cfg = config_from_dict(
        {
            "optim": {"g": {"lr": lr, "betas": [beta, beta]}},
            "train": {"steps": steps},
            "method": {"name": "consensus", "gamma": gamma},
        }
    )
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    assert config_from_dict(parse_yaml(text, "round trip")) == cfg


# --------------------------------------------------------------------------- shipped configs


TOY = ["gaussian", "line", "circle", "four-lines", "ring8", "grid25"]


@pytest.mark.parametrize("problem", TOY)
def test_toy2d_configs_load(problem):
    cfg = load_config(REPO / "configs" / "toy2d" / f"{problem}.yaml")
    assert cfg.data.name == problem
    assert cfg.out_dir == f"runs/toy2d/{problem}"
    assert cfg.model.name == "mlp" and cfg.method.name == "r1"
