"""One validation path, defaults in one place (issue 13, item 5).

* A preset and the composition of its parts resolve to the same penalties with the same γ.
* A scheme context's defaults (the trainer's AltGD runs D first) reach nested schemes.
* The same bad value gives the same one-line message from config, method, scheme and sweep.
* The number check accepts exactly the finite non-bool reals within its bounds.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.config import ConfigError, load_config, save_config
from convergan.methods.parse import parse_method
from convergan.options import integer, number
from convergan.schemes.spec import parse_scheme
from convergan.studies.spec import sweep_spec_from_dict

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "convergan"
LOOKAHEAD = str(REPO / "examples" / "plugins" / "lookahead.py")
CIRCLE = str(REPO / "configs" / "toy2d" / "circle.yaml")

# The Lookahead plugin loaded here is forgotten after each test (conftest.py).
pytestmark = pytest.mark.usefixtures("isolated_registries")

# The documented rule (docs/getting-started/methods.md, "Defaults: one rule"): every weight
# defaults to 1; WGAN-GP's gradient-norm target defaults to 1.
DOCUMENTED = {
    "r1": {"gamma": 1.0, "target": 0.0, "at": "real"},
    "r2": {"gamma": 1.0, "target": 0.0, "at": "fake"},
    "wgan-gp": {"gamma": 1.0, "target": 1.0, "at": "interpolates"},
}


def penalty_parameters(method) -> list[dict]:
    return [
        {"name": p.name, "gamma": p.gamma, "target": p.target, "at": p.at} for p in method.penalties
    ]


# --------------------------------------------------------------------------- one default


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_preset_and_composition_build_the_same_penalty(name):
    preset = load_config(None, [f"method={name}"]).method
    composed = load_config(None, [f"method.penalties=[{name}]"]).method
    expected = [{"name": name, **DOCUMENTED[name]}]
    assert penalty_parameters(preset.build()) == expected
    assert penalty_parameters(composed.build()) == expected
    # The printed configs say the same: the preset's parts are the composition's.
    assert preset.as_composition().to_dict()["penalties"] == composed.to_dict()["penalties"]


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_printed_configs_round_trip_with_the_same_gamma(tmp_path, name):
    for overrides in ([f"method={name}"], [f"method.penalties=[{name}]"]):
        cfg = load_config(None, overrides)
        save_config(cfg, tmp_path / "config.yaml")
        again = load_config(tmp_path / "config.yaml")
        assert again == cfg
        assert penalty_parameters(again.method.build())[0]["gamma"] == DOCUMENTED[name]["gamma"]


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_an_explicit_gamma_wins_either_way(name):
    preset = load_config(None, [f"method={name}", "method.gamma=7.5"]).method.build()
    composed = load_config(None, [f"method.penalties=[{name}:7.5]"]).method.build()
    assert penalty_parameters(preset) == penalty_parameters(composed)
    assert penalty_parameters(preset)[0]["gamma"] == 7.5


def test_shipped_training_configs_keep_their_explicit_gammas():
    wgangp = load_config(REPO / "configs" / "fashion-mnist" / "dcgan-wgangp.yaml").method
    r1 = load_config(REPO / "configs" / "fashion-mnist" / "dcgan-r1.yaml").method
    assert penalty_parameters(wgangp.build())[0]["gamma"] == 20.0
    assert penalty_parameters(r1.build())[0]["gamma"] == 10.0


def test_preset_defaults_are_the_parts_defaults():
    """Noise, clip and consensus presets agree with the composition written with no number
    beyond what the composition requires: the preset's value is the part's own default."""
    from convergan.methods import Consensus, InstanceNoise, WeightClip

    noise = load_config(None, ["method=instance-noise"]).method.build().noise
    clip = load_config(None, ["method=wgan"]).method.build().clip
    consensus = load_config(None, ["method=consensus"]).method.build().consensus
    assert (noise.sigma, clip.clip, consensus.gamma) == (1.0, 1.0, 1.0)
    assert (InstanceNoise().sigma, WeightClip().clip, Consensus().gamma) == (1.0, 1.0, 1.0)


def test_defaults_are_defined_once():
    """DEFAULT_METHOD and DEFAULT_SCHEME are assigned once in the package, and the scheme name
    "altgd" is spelled only where the scheme is registered and where the defaults are named."""
    assigned: dict[str, list[str]] = {"DEFAULT_METHOD": [], "DEFAULT_SCHEME": []}
    spelled = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in assigned:
                        assigned[target.id].append(path.name)
            if isinstance(node, ast.Constant) and node.value == "altgd":
                spelled.append(f"{path.parent.name}/{path.name}")
    assert assigned == {"DEFAULT_METHOD": ["spec.py"], "DEFAULT_SCHEME": ["spec.py"]}
    # registry.py declares the built-in scheme, core.py's class carries its name (labels),
    # schemes/spec.py names the defaults.
    expected = ["convergan/registry.py", "schemes/core.py", "schemes/spec.py"]
    assert sorted(set(spelled)) == expected


# --------------------------------------------------------------------------- scheme context


def test_altgd_alone_and_as_inner_run_in_the_same_order():
    plugins = f"plugins=[{LOOKAHEAD}]"
    plain = load_config(None, [plugins, "scheme=altgd"]).scheme
    nested = load_config(None, [plugins, "scheme=lookahead", "scheme.inner=altgd"]).scheme
    assert plain.get("discriminator_first") is True
    assert nested.get("inner").get("discriminator_first") is True
    assert nested.build(lr=0.1).inner.discriminator_first is True
    # The analysis context keeps the class default (G first) at every depth as well.
    analysis = parse_scheme({"name": "lookahead", "inner": "altgd"})
    assert parse_scheme("altgd").get("discriminator_first") is False
    assert analysis.get("inner").get("discriminator_first") is False


def test_nested_altgd_moves_d_first():
    """Lookahead with k = 1 and alpha = 1 is its inner scheme; in training context its update
    Jacobian on the Dirac-GAN is the D step, then the G step, composed by hand."""
    from convergan.analysis import field_jacobian, update_jacobian
    from convergan.field import game_field
    from convergan.games import dirac_gan
    from convergan.methods import make_method

    cfg = load_config(
        None,
        [
            f"plugins=[{LOOKAHEAD}]",
            "scheme=lookahead",
            "scheme.k=1",
            "scheme.alpha=1",
            "scheme.inner=altgd",
        ],
    )
    game, h = dirac_gan(), 0.3
    x = game.equilibrium()
    field = game_field(game, make_method("r1", gamma=0.7))
    jac = field_jacobian(field, x)

    def step(player):
        m = torch.eye(2, dtype=torch.float64)
        m[player] += h * jac[player]
        return m

    d_first = step(0) @ step(1)  # the D step acts first, then G at D's new value
    # The augmented state is (x, slow weights); with alpha = 1 the new x is the inner step's.
    got = update_jacobian(cfg.scheme.build(lr=h), field, x)[:2, :2]
    assert torch.allclose(got, d_first, atol=1e-12)
    assert not torch.allclose(got, step(1) @ step(0), atol=1e-6)


def test_a_wrappers_default_inner_scheme_is_a_printable_spec(tmp_path):
    cfg = load_config(None, [f"plugins=[{LOOKAHEAD}]", "scheme=lookahead"])
    assert cfg.scheme.to_dict()["inner"] == {"name": "simgd", "lazy_every": 1}
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


# --------------------------------------------------------------------------- one message


def config_error(*overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"plugins=[{LOOKAHEAD}]", *overrides])
    return str(info.value)


def sweep_error(launcher: dict) -> str:
    with pytest.raises(ConfigError) as info:
        sweep_spec_from_dict({"base": CIRCLE, "launcher": launcher})
    return str(info.value)


def method_error(value) -> str:
    with pytest.raises(ConfigError) as info:
        parse_method(value)
    return str(info.value)


def scheme_error(value) -> str:
    with pytest.raises(ConfigError) as info:
        parse_scheme(value)
    return str(info.value)


# Where each kind of spec takes a number, and an integer: (key, error for YAML text and value).
NUMBER_AT = {
    "config": ("optim.d.lr", lambda text, v: config_error(f"optim.d.lr={text}")),
    "method": ("method.gamma", lambda text, v: method_error({"name": "r1", "gamma": v})),
    "scheme": (
        "scheme.alpha",
        lambda text, v: config_error("scheme=lookahead", f"scheme.alpha={text}"),
    ),
    "sweep": ("launcher.slurm.mem_gb", lambda text, v: sweep_error({"slurm": {"mem_gb": v}})),
}
INTEGER_AT = {
    "config": ("train.steps", lambda text, v: config_error(f"train.steps={text}")),
    "method": (
        "method.gamma.steps",
        lambda text, v: method_error(
            {"name": "r1", "gamma": {"schedule": "linear", "start": 1, "end": 0, "steps": v}}
        ),
    ),
    "scheme": ("scheme.d_steps", lambda text, v: scheme_error({"name": "altgd", "d_steps": v})),
    "sweep": ("launcher.jobs", lambda text, v: sweep_error({"jobs": v})),
}


@pytest.mark.parametrize(
    ("text", "value", "problem"),
    [
        ("true", True, "expected a number, got True (bool)"),
        (".nan", math.nan, "expected a finite number, got nan"),
        ("-.inf", -math.inf, "expected a finite number, got -inf"),
        ("fast", "fast", "expected a number, got 'fast' (str)"),
        ("1.5", 1.5, "expected an integer, got 1.5 (float)"),
        ("true", True, "expected an integer, got True (bool)"),
    ],
)
def test_the_same_bad_value_gives_the_same_message_everywhere(text, value, problem):
    where = INTEGER_AT if problem.startswith("expected an integer") else NUMBER_AT
    got = {kind: error(text, value) for kind, (_, error) in where.items()}
    assert got == {kind: f"{key}: {problem}" for kind, (key, _) in where.items()}


def test_bounds_read_the_same_everywhere():
    assert config_error("data.noise_std=-1") == "data.noise_std: must be >= 0, got -1.0"
    assert method_error({"name": "r1", "gamma": -1}) == "method.gamma: must be >= 0, got -1.0"
    assert (
        method_error({"penalties": [{"name": "wgan-gp", "gamma": -1}]})
        == "method.penalties[0].gamma: must be >= 0, got -1.0"
    )
    assert scheme_error({"lazy_every": -1}) == "scheme.lazy_every: must be >= 1, got -1"
    assert sweep_error({"jobs": -1}) == "launcher.jobs: must be >= 1, got -1"


# --------------------------------------------------------------------------- the checks


bound = st.one_of(st.none(), st.floats(-1e6, 1e6), st.integers(-1000, 1000))
values = st.one_of(
    st.floats(),  # with nan and ±inf
    st.integers(-(10**30), 10**30),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(value=values, gt=bound, ge=bound, lt=bound, le=bound)
def test_number_accepts_exactly_the_finite_non_bool_reals_within_bounds(value, gt, ge, lt, le):
    bounds = {k: b for k, b in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if b is not None}
    real = isinstance(value, (int, float)) and not isinstance(value, bool)
    x = float(value) if real else math.nan  # ints widen to float before the bounds apply
    accept = (
        real
        and math.isfinite(x)
        and (gt is None or x > gt)
        and (ge is None or x >= ge)
        and (lt is None or x < lt)
        and (le is None or x <= le)
    )
    if accept:
        got = number(value, "a.b", **bounds)
        assert type(got) is float and got == x
    else:
        with pytest.raises(ConfigError) as info:
            number(value, "a.b", **bounds)
        assert str(info.value).startswith("a.b: ") and "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_integer_accepts_ints_and_integral_floats_only(value):
    integral = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value == math.floor(value)
    )
    if integral:
        got = integer(value, "n")
        assert type(got) is int and got == value
    else:
        with pytest.raises(ConfigError, match=r"^n: expected an integer, got "):
            integer(value, "n")


def test_ints_widen_and_2e3_is_an_integer():
    assert load_config(None, ["train.steps=2e3"]).train.steps == 2000
    assert parse_scheme({"name": "altgd", "d_steps": 2.0}).get("d_steps") == 2
    assert parse_method({"name": "r1", "gamma": 3}).params == {"gamma": 3.0}


# --------------------------------------------------------------------------- layers


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_validator_is_at_the_bottom_layer():
    allowed = {"__future__", "dataclasses", "difflib", "math", "operator", "types"}
    allowed |= {"collections.abc", "functools", "typing", "convergan.registry"}
    assert imports_of(SRC / "options.py") <= allowed | {"convergan.schedules"}
    # The schedule object it checks is pure Python too.
    assert imports_of(SRC / "schedules.py") <= allowed - {"convergan.registry"}


def test_models_raise_config_errors_without_importing_the_config_layer():
    assert not any(
        m.startswith("convergan.config") for m in imports_of(SRC / "models" / "__init__.py")
    )
