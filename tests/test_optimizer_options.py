"""Each optimizer's options are read from its registered class: a key the chosen optimizer
does not take is one line, a config records only the chosen optimizer's options, and every
default has one home (the class)."""

import dataclasses

import pytest
import torch

from convergan.config import ConfigError, load_config
from convergan.config.schema import config_to_dict, parse_optimizer
from convergan.optimizers import SGD, Adam, RMSprop
from convergan.registry import OPTIMIZERS

TAKES = {"adam": {"betas", "eps", "weight_decay"}, "sgd": {"momentum", "weight_decay"}}
TAKES["rmsprop"] = {"alpha", "eps", "weight_decay", "momentum"}
ALL_OPTIONS = {"betas": [0.5, 0.9], "eps": 1e-6, "weight_decay": 0.01, "alpha": 0.9}
ALL_OPTIONS["momentum"] = 0.5


@pytest.mark.parametrize("name", sorted(TAKES))
@pytest.mark.parametrize("option", sorted(ALL_OPTIONS))
def test_an_option_the_optimizer_does_not_take_is_one_line(name, option):
    value = ALL_OPTIONS[option]
    override = f"optim.g.{option}={value}".replace("'", "")
    if option in TAKES[name]:
        config = load_config(None, [f"optim.g.name={name}", override])
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(config.optim.g, option) == expected
        return
    with pytest.raises(ConfigError) as error:
        load_config(None, [f"optim.g.name={name}", override])
    text = str(error.value)
    assert f"unknown key 'optim.g.{option}'" in text and "\n" not in text
    assert f"optimizer {name!r} takes name, lr, " in text


@pytest.mark.parametrize("name", sorted(TAKES))
def test_a_config_records_only_its_optimizers_options(name):
    recorded = config_to_dict(load_config(None, [f"optim.d.name={name}"]))["optim"]["d"]
    assert set(recorded) == {"name", "lr", *TAKES[name]}


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop])
def test_every_default_is_the_classs(cls):
    name = next(n for n in OPTIMIZERS.names() if OPTIMIZERS[n] is cls)
    config = load_config(None, [f"optim.g.name={name}"]).optim.g
    assert config.build() == cls()  # nothing set: the class's own defaults, nowhere else
    for field in dataclasses.fields(cls):
        recorded = config_to_dict(load_config(None, [f"optim.g.name={name}"]))["optim"]["g"]
        default = field.default
        assert recorded[field.name] == (list(default) if isinstance(default, tuple) else default)


def test_switching_the_optimizer_drops_the_old_ones_options_and_keeps_the_rate():
    # toy2d/circle's players use RMSprop with alpha 0.99 and lr 1e-4.
    config = load_config("toy2d/circle", ["optim.g=sgd", "optim.g.momentum=0.5"])
    assert config.optim.g.build() == SGD(momentum=0.5)
    assert config.optim.g.lr == load_config("toy2d/circle").optim.g.lr
    assert config.optim.d.build() == RMSprop(alpha=0.99)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"name": "adam", "betas": [0.5, 1.0]}, "optim.g.betas[1]: must be < 1, got 1.0"),
        ({"name": "sgd", "momentum": -0.1}, "optim.g.momentum: must be >= 0, got -0.1"),
        ({"name": "rmsprop", "eps": 0}, "optim.g.eps: must be > 0, got 0"),
        ({"name": "adam", "lr": 0}, "optim.g.lr: must be > 0, got 0"),
        ({"name": "adamw"}, "optim.g.name: 'adamw' is not one of"),
        ({"name": "adam", "bettas": [0, 0.9]}, "(did you mean 'betas'?)"),
    ],
)
def test_bad_options_are_one_line_naming_the_key(section, message):
    with pytest.raises(ConfigError) as error:
        parse_optimizer(section, "optim.g")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_users_optimizer_takes_its_own_fields(isolated_registries):
    """A registered optimizer's options are its dataclass fields, with no schema entry."""

    @dataclasses.dataclass(frozen=True)
    class SignSGD:
        scale: float = 1.0

        def init(self, x):
            return {}

        def update(self, x, gradient, lr, state):
            return x - lr * self.scale * torch.sign(gradient), state

    OPTIMIZERS.register("signsgd", SignSGD)
    config = load_config(None, ["optim.d.name=signsgd", "optim.d.scale=0.5"])
    assert config.optim.d.build() == SignSGD(scale=0.5)
    with pytest.raises(ConfigError, match="optimizer 'signsgd' takes name, lr, scale"):
        load_config(None, ["optim.d.name=signsgd", "optim.d.betas=[0, 0.9]"])
