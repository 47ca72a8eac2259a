"""Open for extension: method specs, registries, plugins, one field, flags anywhere.

The plugins used here are the README's example files (``examples/plugins/``), outside the
package: a user's LSGAN loss and a user's Lookahead scheme.
"""

from __future__ import annotations

import cmath
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from convergan.cli.main import build_parser, main
from convergan.config import ConfigError, load_config, save_config
from convergan.field import GameField, ParameterLayout, flatten
from convergan.methods import Batch, parse_method, preset_spec
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.optimizers import SGD, Adam, RMSprop
from convergan.plugin_loading import load_plugins
from convergan.registry import (
    ARCHITECTURES,
    IMAGE_DATASETS,
    LOSSES,
    METHODS,
    METRICS,
    OPTIMIZERS,
    PENALTIES,
    PROBLEMS_2D,
    SCHEMES,
)
from convergan.schemes import AltGD, Lazy, SimGD

REPO = Path(__file__).resolve().parents[1]
LSGAN = str(REPO / "examples" / "plugins" / "lsgan.py")
LOOKAHEAD = str(REPO / "examples" / "plugins" / "lookahead.py")
TINY = [
    "model.width=16",
    "model.depth=1",
    "data.batch_size=32",
    "eval.w1_samples=100",
    "train.log_every=2",
    "train.eval_every=0",
    "train.sample_every=0",
]


# Plugins loaded by a test are forgotten after it (the fixture is in conftest.py).
pytestmark = pytest.mark.usefixtures("isolated_registries")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def analyze_json(capsys, *argv: str) -> dict:
    code, out, err = cli(capsys, "dirac", "analyze", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def eigenvalues(record: dict) -> list[complex]:
    return sorted((complex(re, im) for re, im in record["jacobian_eigenvalues"]), key=_key)


def _key(z: complex) -> tuple[float, float]:
    return (round(z.real, 9), round(z.imag, 9))


# ----------------------------------------------------------------------- compositions


@pytest.mark.parametrize("g1, g2", [(1.0, 2.0), (0.3, 0.1), (0.25, 0.25)])
def test_r1_plus_r2_from_the_command_line_is_r1_with_the_summed_gamma(capsys, g1, g2):
    """On the Dirac-GAN ``D(x) = ψx`` so ∇ₓD = ψ at any point: R1 and R2 are both (γ/2)ψ², and
    together ((γ₁ + γ₂)/2)ψ². The field Jacobian is [[0, a], [−a, −(γ₁+γ₂)]] (our sign
    convention, a = f′(0) = 1/2), with eigenvalues −γ/2 ± √(γ²/4 − a²), γ = γ₁ + γ₂."""
    both = analyze_json(
        capsys, "method.loss=nonsaturating", f"method.penalties=[r1:{g1},r2:{g2}]", "--lr", "0.5"
    )
    gamma, a = g1 + g2, 0.5
    root = cmath.sqrt(gamma**2 / 4 - a**2)
    expected = sorted([-gamma / 2 + root, -gamma / 2 - root], key=_key)
    for got, want in zip(eigenvalues(both), expected):
        assert abs(got - want) < 1e-9
    single = analyze_json(capsys, "--method", "r1", "--gamma", str(gamma), "--lr", "0.5")
    flat = [v for pair in both["update_eigenvalues"] for v in pair]
    assert flat == pytest.approx([v for p in single["update_eigenvalues"] for v in p], abs=1e-12)
    assert both["method_spec"]["penalties"] == [
        {"name": "r1", "gamma": g1},
        {"name": "r2", "gamma": g2},
    ]


@pytest.mark.parametrize("gamma", [0.5, 2.0, 3.0])
def test_hinge_plus_r1_from_the_command_line(capsys, gamma):
    """Hinge at D = 0 is linear (its kinks are at ±1): real term 1 − D, fake term 1 + D, G term
    −D, like the WGAN, so a = 1 and the Jacobian is [[0, 1], [−1, −γ]]: λ = −γ/2 ± √(γ²/4 − 1)."""
    record = analyze_json(
        capsys, "method.loss=hinge", f"method.penalties=[r1:{gamma}]", "--scheme", "altgd"
    )
    root = cmath.sqrt(gamma**2 / 4 - 1)
    expected = sorted([-gamma / 2 + root, -gamma / 2 - root], key=_key)
    for got, want in zip(eigenvalues(record), expected):
        assert abs(got - want) < 1e-9
    assert record["method"] == "hinge+r1"


def test_yaml_long_form_and_command_line_short_form_are_the_same_spec(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "base: " + str(REPO / "configs" / "toy2d" / "circle.yaml") + "\n"
        "method:\n  loss: hinge\n"
        "  penalties: [{name: r1, gamma: 10}, {name: r2, gamma: 10}]\n"
    )
    from_yaml = load_config(path).method
    from_cli = load_config(
        REPO / "configs" / "toy2d" / "circle.yaml",
        ["method.loss=hinge", "method.penalties=[r1:10,r2:10]"],
    ).method
    assert from_yaml == from_cli
    built = from_cli.build()
    assert [p.name for p in built.penalties] == ["r1", "r2"]
    assert [float(p.gamma) for p in built.penalties] == [10.0, 10.0]
    assert type(built.loss).__name__ == "HingeLoss"


def test_config_yaml_prints_the_spec_back_exactly(tmp_path):
    config = load_config(
        REPO / "configs" / "toy2d" / "circle.yaml",
        [
            "method=r1",
            "method.loss=nonsaturating",
            "method.noise.sigma={schedule: linear, start: 0.1, end: 0, steps: 50}",
        ],
    )
    save_config(config, tmp_path / "config.yaml")
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())["method"]
    assert saved == {
        "loss": "nonsaturating",
        "penalties": [{"name": "r1", "gamma": 1.0}],
        "noise": {"sigma": {"schedule": "linear", "start": 0.1, "end": 0.0, "steps": 50}},
        "clip": None,
        "consensus": None,
    }
    assert load_config(tmp_path / "config.yaml") == config


spec_values = st.one_of(
    st.sampled_from(["gan", "nsgan", "wgan", "wgan-gp", "consensus", "r1", "instance-noise"]),
    st.fixed_dictionaries(
        {
            "loss": st.sampled_from(["saturating", "nonsaturating", "wgan", "hinge"]),
            "penalties": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["r1", "r2", "zero-gp"]),
                        "gamma": st.floats(0, 100),
                    }
                ),
                max_size=3,
                unique_by=lambda penalty: penalty["name"],  # a method holds each penalty once
            ),
            "consensus": st.one_of(st.none(), st.floats(0, 10)),
        }
    ),
)


@settings(max_examples=60, deadline=None)
@given(spec_values)
def test_a_spec_round_trips_through_its_dict(value):
    spec = parse_method(value)
    assert parse_method(spec.to_dict()) == spec
    assert parse_method(yaml.safe_load(yaml.safe_dump(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["method.loss=lsq"], "method.loss: unknown loss 'lsq'"),
        (["method.penalties=[r3:1]"], "method.penalties[0]: unknown penalty 'r3'"),
        (["method.penalties=[r1:x]"], "method.penalties[0].gamma: expected a number"),
        (["method.penalties=[r1:-1]"], "method.penalties[0].gamma: must be >= 0"),
        (["method.penalties=[{name: r1, target: 1, gama: 2}]"], "takes gamma"),
        (["method.noise={sigma: -1}"], "method.noise.sigma: must be >= 0"),
        (["method.clip=0"], "method.clip: must be > 0"),
        (["scheme.d_steps=0"], "scheme: g_steps and d_steps must be >= 1"),
        (["scheme=simgd", "scheme.d_steps=2"], "scheme.d_steps: scheme 'simgd' takes"),
        (["scheme.lr=1"], "learning rates are set by optim"),
    ],
)
def test_spec_errors_are_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


# ----------------------------------------------------------------------- registries


def test_every_name_list_reads_its_registry(capsys):
    """A new entry registered once is accepted by every config key and CLI option of its kind
    and shows in ``--help``: nothing can be half-registered."""

    @dataclass(frozen=True)
    class Probe:
        name: str = "probe"

    added = [
        (LOSSES, "probe-loss"),
        (PENALTIES, "probe-penalty"),
        (SCHEMES, "probe-scheme"),
        (OPTIMIZERS, "probe-optimizer"),
        (PROBLEMS_2D, "probe-problem"),
        (IMAGE_DATASETS, "probe-dataset"),
        (METRICS, "probe-metric"),
        (ARCHITECTURES, "probe-arch"),
    ]
    from convergan.methods.penalties import r1
    from convergan.metrics.catalog import Metric

    values = {
        "probe-loss": LOSSES["saturating"],
        "probe-penalty": r1,
        "probe-scheme": SimGD,
        "probe-optimizer": Adam,
        "probe-problem": PROBLEMS_2D["circle"],
        "probe-dataset": IMAGE_DATASETS["npy"],
        "probe-metric": Metric("2d", lambda inputs: 0.0),
        "probe-arch": ARCHITECTURES["mlp"],
    }
    for registry, name in added:
        registry.register(name, values[name], description=f"a {name}")
    METHODS.register("probe-method", METHODS["r1"], description="a probe-method")
    try:
        config = load_config(
            None,
            [
                "method=probe-method",
                "scheme=probe-scheme",
                "optim.g.name=probe-optimizer",
                "data.name=probe-problem",
                "model.name=probe-arch",
                "eval.metrics=[w1,probe-metric]",
            ],
        )
        assert config.method.preset == "probe-method"
        assert load_config(None, ["data.name=probe-dataset"]).data.name == "probe-dataset"
        composed = load_config(
            None, ["method.loss=probe-loss", "method.penalties=[probe-penalty:2]"]
        ).method
        assert composed.loss == "probe-loss" and composed.penalties[0].name == "probe-penalty"
        record = analyze_json(
            capsys, "method.loss=probe-loss", "method.penalties=[probe-penalty:1]",
            "--scheme", "probe-scheme",
        )  # fmt: skip
        assert record["scheme"] == "simgd" and record["verdict"] == "converges"
        code, out, _ = cli(capsys, "dirac", "analyze", "--help")
        assert code == 0
        for name in ("probe-method", "probe-loss", "probe-penalty", "probe-scheme"):
            assert name in out
        from convergan.analysis.table import dirac_table

        rows = dirac_table(lr=0.5, schemes=("probe-scheme",))
        assert {r.method for r in rows} == set(METHODS.names())
    finally:
        for registry, name in added:
            registry.unregister(name)
        METHODS.unregister("probe-method")
    with pytest.raises(ConfigError, match="unknown scheme 'probe-scheme'"):
        load_config(None, ["scheme=probe-scheme"])


def test_registering_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        LOSSES.register("hinge", LOSSES["wgan"])


# ----------------------------------------------------------------------- plugins


def test_user_plugins_train_and_analyse_from_the_command_line(capsys, tmp_path):
    """The README's two plugin files, named in overrides, reach ``train`` and ``dirac``."""
    code, out, err = cli(
        capsys, "train", str(REPO / "configs" / "toy2d" / "circle.yaml"),
        f"plugins=[{LSGAN},{LOOKAHEAD}]", "method.loss=lsgan", "method.penalties=[r1:1]",
        "scheme=lookahead", "scheme.k=3", "scheme.inner=altgd", "--quiet",
        "train.steps=6", f"out_dir={tmp_path / 'run'}", *TINY,
    )  # fmt: skip
    assert code == 0, err
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["method"]["loss"] == "lsgan" and saved["scheme"]["name"] == "lookahead"
    assert saved["scheme"]["inner"]["name"] == "altgd"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert records[-1]["step"] == 6
    # Resume reads the plugins from the run's own config.yaml.
    code, _, err = cli(capsys, "resume", str(tmp_path / "run"), "train.steps=8", "--quiet")
    assert code == 0, err

    lsgan = analyze_json(capsys, f"plugins=[{LSGAN}]", "method.loss=lsgan", "--lr", "0.5")
    # Symmetric LSGAN on the Dirac-GAN: D's loss ½(ψ·0 − 1)² + ½(ψθ + 1)², G's ½(ψθ)². At 0:
    # ∂L_D/∂ψ = θ(ψθ + 1) → v_ψ = −θ; ∂L_G/∂θ = ψ²θ → v_θ = 0. J = [[0, 0], [−1, 0]]: a double 0.
    assert eigenvalues(lsgan) == pytest.approx([0j, 0j], abs=1e-12)
    assert lsgan["verdict"] == "no linear convergence"

    h, k, alpha = 0.1, 5, 0.5
    record = analyze_json(
        capsys, f"plugins=[{LOOKAHEAD}]", "--method", "gan", "--scheme", "lookahead",
        f"scheme.k={k}", f"scheme.alpha={alpha}", "--lr", str(h),
    )  # fmt: skip
    # Lookahead around SimGD on a linear field J: F = (1 − α)I + α(I + hJ)^k, so its nonzero
    # eigenvalues are 1 − α + α(1 + hλ)^k with λ = ±i/2 (the slow weights add zeros).
    expected = [abs(1 - alpha + alpha * (1 + h * lam) ** k) for lam in (0.5j, -0.5j)]
    assert record["spectral_radius"] == pytest.approx(max(expected), abs=1e-12)
    assert record["period"] == k


def test_a_missing_plugin_is_one_line(capsys, tmp_path):
    code, _, err = cli(capsys, "dirac", "analyze", "plugins=[nowhere.py]", "--method", "gan")
    assert code == 2 and "plugin file not found: nowhere.py" in err
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------- periods


def test_a_wrapper_around_a_lazy_scheme_has_the_lcm_period():
    load_plugins([LOOKAHEAD])
    lookahead = SCHEMES["lookahead"]
    assert lookahead(k=4, inner=Lazy(inner=SimGD(), every=2)).period == 4  # lcm(4, 2), not 8
    assert lookahead(k=3, inner=Lazy(inner=SimGD(), every=4)).period == 12
    assert lookahead(k=6, inner=AltGD()).period == 6
    assert Lazy(inner=lookahead(k=3), every=2).period == 6
    assert Lazy(inner=Lazy(inner=SimGD(), every=2), every=3).period == 6


def test_the_analysis_uses_the_lcm_period():
    """One period of Lookahead(k=2) around Lazy(every=4) is 4 steps: its update Jacobian is
    the 4-step product computed by hand on the Dirac-GAN's linear field."""
    load_plugins([LOOKAHEAD])
    from convergan import analyze, dirac_gan

    h, alpha = 0.2, 0.5
    scheme = SCHEMES["lookahead"](lr=h, k=2, alpha=alpha, inner=Lazy(inner=SimGD(), every=4))
    result = analyze(dirac_gan(), preset_spec("r1", gamma=1.0).build(), scheme)
    assert result.period == 4
    a = 0.5
    off = torch.tensor([[0.0, a], [-a, 0.0]], dtype=torch.float64)  # gain 0: no penalty
    on = torch.tensor([[0.0, a], [-a, -4.0]], dtype=torch.float64)  # gain 4: 4·γ on the last
    eye = torch.eye(2, dtype=torch.float64)

    def two_steps_and_sync(first, second):
        fast = (eye + h * second) @ (eye + h * first)
        return (1 - alpha) * eye + alpha * fast

    total = two_steps_and_sync(off, on) @ two_steps_and_sync(off, off)
    expected = torch.linalg.eigvals(total).abs().max()
    assert result.spectral_radius == pytest.approx(float(expected), abs=1e-12)


# ----------------------------------------------------------------------- one field


def _players(seed: int = 0):
    torch.manual_seed(seed)
    return MLPGenerator(4, out_dim=2, width=16, depth=1), MLPDiscriminator(2, width=16, depth=1)


@pytest.mark.parametrize("name", METHODS.names())
def test_the_training_field_is_the_analysis_field(name):
    """Same class, same batch: the trainer's eager route equals the analysis's torch.func
    route to 1e-6 for every preset (float32), consensus included."""
    from convergan.training import loop

    generator, discriminator = _players()
    g = torch.Generator().manual_seed(1)
    batch = Batch(
        real=torch.randn(32, 2, generator=g),
        latent=torch.randn(32, 4, generator=g),
        real_noise=torch.randn(32, 2, generator=g),
        fake_noise=torch.randn(32, 2, generator=g),
        interpolation=torch.rand(32, generator=g),
    )
    method = preset_spec(name).build()
    training = loop.training_field(generator, discriminator, method, lambda: batch)
    analysis = GameField(generator, discriminator, method, batch)
    assert type(training) is type(analysis) and training.route == "eager"
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    for got, want in zip(training(x), analysis(x)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    for i in (0, 1):
        torch.testing.assert_close(
            training.player(i, x), analysis.player(i, x), atol=1e-6, rtol=1e-5
        )
    assert flatten(x).shape[0] == sum(analysis.sizes)


# ----------------------------------------------------------------------- optimizers


OPTIMIZER_PAIRS = [
    (Adam(betas=(0.5, 0.9)), torch.optim.Adam, {"betas": (0.5, 0.9)}),
    (Adam(betas=(0.0, 0.99), weight_decay=0.1), torch.optim.Adam,
     {"betas": (0.0, 0.99), "weight_decay": 0.1}),
    (RMSprop(alpha=0.9), torch.optim.RMSprop, {"alpha": 0.9}),
    (RMSprop(momentum=0.5), torch.optim.RMSprop, {"momentum": 0.5}),
    (SGD(momentum=0.9), torch.optim.SGD, {"momentum": 0.9}),
    (SGD(), torch.optim.SGD, {}),
]  # fmt: skip


@pytest.mark.parametrize("ours, cls, kwargs", OPTIMIZER_PAIRS)
def test_pure_optimizers_equal_torch_optim_bit_for_bit(ours, cls, kwargs):
    g = torch.Generator().manual_seed(0)
    start = torch.randn(50, generator=g)
    param = torch.nn.Parameter(start.clone())
    optimizer = cls([param], lr=1e-2, **kwargs)
    x, state = start.clone(), ours.init(start)
    for _ in range(7):
        grad = torch.randn(50, generator=g)
        param.grad = grad.clone()
        optimizer.step()
        x, state = ours.update(x, grad, 1e-2, state)
        assert torch.equal(x, param.detach()), "the same arithmetic in the same order"


def test_an_optimizer_update_does_not_mutate_its_inputs():
    x, grad = torch.ones(5), torch.full((5,), 0.5)
    state = Adam().init(x)
    before = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
    Adam().update(x, grad, 0.1, state)
    assert torch.equal(x, torch.ones(5))
    for key, value in before.items():
        assert torch.equal(value, state[key]) if torch.is_tensor(value) else value == state[key]


# ----------------------------------------------------------------------- flags anywhere


@pytest.mark.parametrize(
    "argv, flags, overrides",
    [
        (["train", "c.yaml", "method=r1", "--quiet", "train.steps=240"], {"quiet": True},
         ["method=r1", "train.steps=240"]),
        (["train", "--quiet", "c.yaml", "a=1"], {"quiet": True}, ["a=1"]),
        (["resume", "runs/x", "train.steps=9", "--quiet", "a=2"], {"quiet": True},
         ["train.steps=9", "a=2"]),
        (["study", "toy2d", "a=1", "--steps", "7", "b=2"], {"steps": 7}, ["a=1", "b=2"]),
        (["dirac", "analyze", "method.loss=hinge", "--lr", "0.5", "method.penalties=[r1:1]",
          "--json"], {"lr": 0.5, "json": True}, ["method.loss=hinge", "method.penalties=[r1:1]"]),
    ],
)  # fmt: skip
def test_options_and_overrides_in_any_order(argv, flags, overrides):
    args = build_parser().parse_args(argv)
    assert args.overrides == overrides
    for key, value in flags.items():
        assert getattr(args, key) == value


def test_train_with_a_flag_between_overrides_runs(capsys, tmp_path):
    code, out, err = cli(
        capsys, "train", str(REPO / "configs" / "toy2d" / "circle.yaml"), "method=r1",
        "--quiet", "train.steps=4", f"out_dir={tmp_path / 'r'}", *TINY,
    )  # fmt: skip
    assert code == 0, err
    assert "run directory" in out and "train" not in err  # --quiet: no progress bar
    assert math.isfinite(
        json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    )
