"""Sweep specs and grid expansion: sizes, zipped axes, cell names, override text."""

import itertools
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.config import ConfigError
from convergan.config.load import parse_yaml
from convergan.studies.grid import cell_name, count_cells, expand, flow
from convergan.studies.planning import plan
from convergan.studies.spec import sweep_spec_from_dict
from convergan.studies.workers import local_jobs

ROOT = Path(__file__).resolve().parents[1]
CIRCLE = str(ROOT / "configs/toy2d/circle.yaml")
SAFE_NAME = re.compile(r"[A-Za-z0-9._+=,@-]+")

keys = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z][a-z0-9_]{0,6}){0,2}", fullmatch=True)
scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


def spec_of(axes, zipped=(), bases=None):
    return sweep_spec_from_dict(
        {"base": bases or CIRCLE, "axes": axes, "zip": list(zipped)}, Path("spec.yaml")
    )


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        keys, st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True), max_size=3
    ),
    st.lists(st.integers(1, 3), max_size=2),
)
def test_grid_size_is_product_of_axes_and_zip_lengths(axes, zip_lengths):
    zipped, used = [], set(axes)
    for g, length in enumerate(zip_lengths):
        group = {f"zip{g}.a": list(range(length)), f"zip{g}.b": list(range(10, 10 + length))}
        zipped.append(group)
        used |= set(group)
    cells = expand(spec_of(axes, zipped))
    expected = math.prod(len(v) for v in axes.values()) * math.prod(zip_lengths)
    assert len(cells) == expected
    assert count_cells(spec_of(axes, zipped)) == expected  # counted without building them
    # Every combination appears exactly once, in product order (last axis fastest).
    combos = [tuple(v for _, v in c.values) for c in cells]
    by_hand = [
        tuple(x for part in combo for x in (part if isinstance(part, tuple) else (part,)))
        for combo in itertools.product(*axes.values(), *[list(zip(*g.values())) for g in zipped])
    ]
    assert combos == by_hand
    # Zipped axes move together: a.value + 10 == b.value in every cell.
    for cell in cells:
        for g in range(len(zip_lengths)):
            assert cell.value(f"zip{g}.a") + 10 == cell.value(f"zip{g}.b")
    names = [c.name for c in cells]
    assert len(set(names)) == len(names)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["method", "seed", "method.gamma", "x_y"]), values),
        min_size=1,
        max_size=3,
    )
)
def test_cell_names_unique_safe_and_stable(pairs):
    pairs = list(dict(pairs).items())  # distinct keys, as in a spec
    name = cell_name(tuple(pairs))
    assert SAFE_NAME.fullmatch(name) and len(name) <= 120 and not name.startswith("-")
    assert cell_name(tuple(pairs)) == name  # stable: a pure function of the overrides


@settings(max_examples=100, deadline=None)
@given(values, values)
def test_distinct_values_give_distinct_names(a, b):
    same = flow(a) == flow(b)
    assert (cell_name((("k", a),)) == cell_name((("k", b),))) == same


@settings(max_examples=150, deadline=None)
@given(st.one_of(values, st.dictionaries(st.text(min_size=1, max_size=5), scalars, max_size=3)))
def test_flow_text_reads_back_as_the_value(value):
    back = parse_yaml(flow(value), "v")
    if isinstance(value, float) and isinstance(back, float):
        assert back == value
    else:
        assert back == value and type(back) is type(value)


def test_flow_text_is_readable_yaml():
    assert flow(0.001) == "0.001"
    assert flow(["r1:10", "r2:10"]) == "[r1:10, r2:10]"
    assert flow({"name": "r1", "gamma": 10}) == "{name: r1, gamma: 10}"
    assert flow("yes") == "'yes'"  # YAML 1.1 would read the bare word as a bool
    # A string our loader reads as a number where PyYAML's emitter does not (found by hypothesis)
    for text in ("0E0", "1e5"):
        assert parse_yaml(flow(text), "v") == text
        assert parse_yaml(flow({text: None, "a": [text]}), "v") == {text: None, "a": [text]}


def test_readable_names_and_hash_suffix_for_lossy_values():
    assert cell_name((("method", "r1"), ("seed", 0))) == "method=r1,seed=0"
    assert cell_name((("optim.d.lr", 1e-3),)) == "optim.d.lr=0.001"
    lossy = cell_name((("method.penalties", ["r1:10", "r2:10"]),))
    assert "@" in lossy and lossy.startswith("method.penalties=")
    other = cell_name((("method.penalties", ["r1:10", "r2:1"]),))
    assert other != lossy


def test_minimal_spec_from_the_issue(tmp_path):
    spec_file = tmp_path / "minimal.yaml"
    spec_file.write_text(
        "base: configs/toy2d/circle.yaml\n"
        "axes:\n  method: [gan, r1]\n  seed: [0, 1]\n"
        "overrides: {train.steps: 50}\n"
        "launcher: {name: local, jobs: 2}\n"
    )
    from convergan.studies.spec import load_sweep_spec

    spec = load_sweep_spec(spec_file)  # base found relative to the checkout
    planned = plan(spec, tmp_path / "out")
    assert [p.cell.name for p in planned] == [
        "method=gan,seed=0",
        "method=gan,seed=1",
        "method=r1,seed=0",
        "method=r1,seed=1",
    ]
    config = planned[3].config
    assert config.method.to_dict()["name"] == "r1" and config.seed == 1
    assert config.train.steps == 50 and config.data.name == "circle"
    assert Path(config.out_dir) == tmp_path / "out" / "runs" / "method=r1,seed=1"
    assert local_jobs(spec, cores=2) == (2, None)
    jobs, note = local_jobs(spec, cores=1)
    assert jobs == 1 and "oversubscribe" in note


def test_base_mapping_is_an_axis_and_axes_beat_overrides():
    spec = sweep_spec_from_dict(
        {
            "base": {"circle": "configs/toy2d/circle.yaml", "ring8": "configs/toy2d/ring8.yaml"},
            "axes": {"train.steps": [7]},
            "overrides": {"train.steps": 50, "method": "r1", "method.gamma": 3},
        },
        ROOT / "sweeps" / "x.yaml",
    )
    planned = plan(spec, Path("unused"))
    assert [p.cell.name for p in planned] == [
        "base=circle,train.steps=7",
        "base=ring8,train.steps=7",
    ]
    assert [p.config.data.name for p in planned] == ["circle", "ring8"]
    assert all(p.config.train.steps == 7 for p in planned)
    assert planned[1].config.method.to_dict()["gamma"] == 3


@pytest.mark.parametrize(
    "data, message",
    [
        ({"axes": {"seed": [0]}}, "base: missing"),
        ({"base": CIRCLE, "axis": {}}, "unknown key 'axis' (did you mean 'axes'?)"),
        ({"base": CIRCLE, "axes": {"seed": []}}, "axes.seed: expected a non-empty list"),
        ({"base": CIRCLE, "zip": [{"a.b": [1, 2], "c.d": [1]}]}, "zip[0]: axes must have equal"),
        (
            {"base": CIRCLE, "axes": {"seed": [0]}, "zip": [{"seed": [1]}]},
            "axis 'seed' appears twice",
        ),
        (
            {"base": CIRCLE, "launcher": {"name": "pbs"}},
            "launcher.name: 'pbs' is not one of local, slurm, debug",
        ),
        (
            {"base": CIRCLE, "launcher": {"jobz": 2}},
            "unknown key 'launcher.jobz' (did you mean 'launcher.jobs'?)",
        ),
        ({"base": CIRCLE, "launcher": {"jobs": 0}}, "launcher.jobs: must be >= 1"),
        (
            {"base": CIRCLE, "launcher": {"slurm": {"time_minutes": "1h"}}},
            "launcher.slurm.time_minutes: expected an integer, got '1h' (str)",
        ),
        ({"base": "nope.yaml"}, "base: config file not found: nope.yaml"),
    ],
)
def test_spec_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as error:
        sweep_spec_from_dict(data, Path("s.yaml"))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_axis_value_names_the_cell_and_the_key():
    spec = spec_of({"method": ["r1"], "train.stepz": [1]})
    with pytest.raises(ConfigError, match=r"cell method=r1,train.stepz=1: .*train.stepz"):
        plan(spec, Path("unused"))


def test_shipped_specs_expand_to_the_documented_grids():
    from convergan.studies.spec import load_sweep_spec

    sizes = {"toy2d-methods": 6 * 4 * 5, "r1-gamma": 5 * 2 * 5, "fashion-mnist-methods": 3 * 3}
    for name, size in sizes.items():
        spec = load_sweep_spec(ROOT / "sweeps" / f"{name}.yaml")
        assert len(expand(spec)) == size
    planned = plan(load_sweep_spec(ROOT / "sweeps" / "r1-gamma.yaml"), Path("unused"))
    gammas = sorted({p.config.method.to_dict()["gamma"] for p in planned})
    assert gammas == [0.01, 0.1, 1.0, 10.0, 100.0]
