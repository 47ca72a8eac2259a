"""The configuration schema: every setting, its default and its allowed values, in one place.

The dataclasses below are the single source of truth. :func:`config_from_dict` walks their
type hints and field metadata, so adding a setting is one line here (type, default,
constraint) and never a new branch in the validator. Every validation error is one line that
names the full dotted key (``optim.d.lr: must be > 0, got -0.001``) because that is the text a
user has to find in their YAML file or command line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from convergan.methods.spec import MethodSpec
from convergan.registry import (
    ARCHITECTURES,
    METRICS,
    OPTIMIZERS,
    PluginError,
    Registry,
    load_plugins,
    problem_names,
)
from convergan.registry import did_you_mean as _did_you_mean
from convergan.registry import show as _show
from convergan.schemes.spec import SchemeSpec


class ConfigError(ValueError):
    """A user error in a config file or override; the message is one line naming the key."""


DEFAULT_METHOD = "r1"
# The trainer runs AltGD with the discriminator first, as GAN_stability does; the analysis
# (and the scheme class) default to the generator first, the order of the paper's worked values.
TRAINING_SCHEME_DEFAULTS = {"altgd": {"discriminator_first": True}}


def option(default: Any, *, choices: Any = None, **bounds: float) -> Any:
    """A dataclass field with validation metadata: ``choices`` (a tuple, or a registry whose
    names are read when validating) and bounds ``gt``/``ge``/``lt``."""
    assert set(bounds) <= {"gt", "ge", "lt"}, f"unsupported bounds {bounds}"
    metadata = {"choices": choices, **bounds} if choices else dict(bounds)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class DataConfig:
    name: str = option("circle", choices=problem_names)  # a 2D problem, a dataset, ...
    path: str | None = None  # dataset location (image datasets); None = the built-in default
    batch_size: int = option(256, gt=0)  # samples per step and per process
    noise_std: float = option(0.0, ge=0)  # per-problem std / spread of the 2D modes (0 = default)
    num_workers: int = option(0, ge=0)  # DataLoader worker processes (0 = load in the main one)


@dataclass(frozen=True)
class ModelConfig:
    name: str = option("mlp", choices=ARCHITECTURES)  # architecture family
    latent_dim: int = option(16, gt=0)  # dimension of the generator's input z
    width: int = option(256, gt=0)  # hidden units (MLP) or base channel count (conv nets)
    depth: int = option(3, ge=1)  # hidden layers (MLP) or blocks per resolution (conv nets)
    image_size: int | None = option(None, gt=0)  # image side; None = taken from the data
    channels: int | None = option(None, gt=0)  # image channels; None = taken from the data
    conditional: bool = False  # class-conditional G and D
    num_classes: int | None = option(None, ge=1)  # classes when conditional; None = from data


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = option("adam", choices=OPTIMIZERS)
    lr: float = option(1e-4, gt=0)  # learning rate h (the scheme's rate for this player)
    betas: tuple[float, float] = option((0.0, 0.99), ge=0, lt=1)  # Adam moment decay rates
    eps: float = option(1e-8, gt=0)  # denominator guard (Adam, RMSprop)
    weight_decay: float = option(0.0, ge=0)  # L2 coefficient
    alpha: float = option(0.99, ge=0, lt=1)  # RMSprop squared-gradient decay
    momentum: float = option(0.0, ge=0, lt=1)  # SGD / RMSprop momentum


@dataclass(frozen=True)
class OptimConfig:
    g: OptimizerConfig = field(default_factory=OptimizerConfig)  # generator optimizer
    d: OptimizerConfig = field(default_factory=OptimizerConfig)  # discriminator optimizer
    schedule: str = option("constant", choices=("constant", "linear", "cosine"))  # lr decay
    warmup_steps: int = option(0, ge=0)  # linear lr warm-up from 0 over this many steps


@dataclass(frozen=True)
class EmaConfig:
    enabled: bool = True  # keep an exponential moving average of G for sampling and eval
    # StyleGAN2 convention: beta = 0.5 ** (batch / half_life), independent of the batch size.
    half_life_samples: float = option(10000.0, gt=0)
    rampup: float | None = option(None, ge=0)  # half-life <= rampup * samples seen; None = off


@dataclass(frozen=True)
class TrainConfig:
    steps: int = option(2000, gt=0)  # generator updates in the whole run
    log_every: int = option(50, ge=1)  # steps between scalar logs
    eval_every: int = option(500, ge=0)  # steps between metric evaluations (0 = only at the end)
    sample_every: int = option(500, ge=0)  # steps between sample grids / plots (0 = never)
    checkpoint_every: int = option(500, ge=0)  # steps between checkpoints (0 = only at the end)
    keep_last: int = option(3, ge=1)  # most recent checkpoints kept
    keep_every: int | None = option(None, ge=1)  # also keep checkpoints at multiples of this
    progress: bool = True  # show a progress bar
    # Stop after this many minutes of wall-clock time (final eval and checkpoint still run),
    # e.g. for comparisons at a fixed compute budget; None = run all train.steps.
    time_budget_minutes: float | None = option(None, gt=0)


@dataclass(frozen=True)
class SpectrumConfig:
    # Leading Jacobian eigenvalues during training (what `convergan spectrum` computes).
    every: int = option(0, ge=0)  # steps between spectra (0 = off); each costs ARPACK runs
    k: int = option(10, ge=1)  # eigenvalues per kind
    which: list[str] = option(["LR", "LM"], choices=("LR", "LM", "LI"))  # kinds of eigenvalues
    samples: int = option(512, gt=0)  # evaluation game size (drawn from the run's seed)


@dataclass(frozen=True)
class DiagnosticsConfig:
    # ‖v‖ (and its G, D parts), the distance moved per step and cos(v, displacement) on a fixed
    # evaluation game drawn from the run's seed: what `convergan verdict` fits its trend to.
    every: int = option(100, ge=0)  # steps between diagnostics (0 = off); one field evaluation
    samples: int | None = option(None, gt=0)  # evaluation game size; None = data.batch_size


@dataclass(frozen=True)
class EvalConfig:
    w1_samples: int = option(2000, gt=0)  # samples per side for the 2D Wasserstein-1 distance
    metrics: list[str] = option(["w1"], choices=METRICS)  # metrics computed at each evaluation
    n_samples: int = option(10000, gt=0)  # generated samples for image metrics (FID/KID)
    # Feature extractor for image metrics: fashion-mnist-classifier, inception, or a weights
    # file; None = fashion-mnist-classifier on Fashion-MNIST, inception otherwise.
    features: str | None = None
    spectrum: SpectrumConfig = field(default_factory=SpectrumConfig)  # off unless every > 0
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


@dataclass(frozen=True)
class DistributedConfig:
    backend: str = option("auto", choices=("auto", "gloo", "nccl"))  # auto: nccl on GPU
    amp: bool = False  # bf16 autocast of the players' losses (meant for GPUs; works on CPU)


def _default_method() -> Any:
    return _method_from({"name": DEFAULT_METHOD}, "method")


def _default_scheme() -> Any:
    return _scheme_from({"name": "altgd"}, "scheme")


@dataclass(frozen=True)
class Config:
    out_dir: str = "runs/default"  # where logs, samples and checkpoints go
    seed: int = option(0, ge=0)  # seeds torch, numpy and random on every process
    device: str = option("cpu", choices=("cpu", "cuda", "auto"))  # auto: cuda when available
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    # Modules or .py files that register a user's parts (losses, penalties, schemes, ...);
    # imported before the rest of the config is validated.
    plugins: list[str] = option([])
    method: MethodSpec = field(default_factory=_default_method)
    scheme: SchemeSpec = field(default_factory=_default_scheme)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)


# --------------------------------------------------------------------------- validation


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Validate a (merged) settings mapping into a :class:`Config`; missing keys take defaults.

    ``method`` is a preset name, ``{name: preset, <hyperparameter>: ...}`` or a composition
    (:mod:`convergan.methods.spec`); ``scheme`` a registered scheme and its parameters.
    ``plugins`` are imported first, so that the names they register are accepted.

    >>> config_from_dict({"train": {"steps": 10}, "method": "wgan-gp"}).method.to_dict()
    {'name': 'wgan-gp', 'gamma': 1.0, 'target': 1.0}
    """
    if isinstance(data, Mapping) and data.get("plugins"):
        plugins = _convert(data["plugins"], list[str], "plugins")
        try:
            load_plugins(plugins)
        except PluginError as error:
            raise ConfigError(f"plugins: {error}") from None
    return _build(Config, data, "")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain YAML-safe types (dicts, lists, str, numbers, bool, None)."""
    return {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def _plain(value: Any) -> Any:
    if isinstance(value, (MethodSpec, SchemeSpec)):
        return value.to_dict()
    if dataclasses.is_dataclass(value):
        return config_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {_show(data)}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(_unknown_key(str(key), prefix, list(fields)))
    hints = _hints(cls)
    values = {}
    for name in fields:
        if name not in data:
            continue  # the dataclass default
        key = prefix + name
        if hints[name] is MethodSpec:
            values[name] = _method_from(data[name], key)
            continue
        if hints[name] is SchemeSpec:
            values[name] = _scheme_from(data[name], key)
            continue
        value = _convert(data[name], hints[name], key)
        _check_allowed(value, fields[name].metadata, key)
        values[name] = value
    return cls(**values)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a type hint; ints widen to float, bools never count as numbers."""
    origin = get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, key + ".")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in get_args(annotation):
            return None
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return _convert(value, inner, key)
    if origin is tuple:
        items = get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(items):
            raise ConfigError(f"{key}: expected a list of {len(items)} numbers, got {_show(value)}")
        return tuple(_convert(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, items)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {_show(value)}")
        (inner,) = get_args(annotation)
        return [_convert(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is bool and isinstance(value, bool):
        return value
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int and is_number and float(value).is_integer():
        return int(value)  # 2e3 or 2000.0 mean 2000; 1.5 is an error
    if annotation is float and is_number:
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value}")
        return float(value)
    if annotation is str and isinstance(value, str):
        return value
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise ConfigError(f"{key}: expected {expected[annotation]}, got {_show(value)}")


def _check_allowed(value: Any, rules: Mapping[str, Any], key: str) -> None:
    """Apply ``choices`` and bounds; lists and tuples are checked element by element."""
    if value is None or not rules:
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_allowed(item, rules, f"{key}[{i}]")
        return
    choices = _choices(rules.get("choices"))
    if choices is not None and value not in choices:
        hint = _did_you_mean(str(value), [str(c) for c in choices])
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}{hint}")
    limits = {"gt": (">", float.__gt__), "ge": (">=", float.__ge__), "lt": ("<", float.__lt__)}
    for rule, (symbol, holds) in limits.items():
        if rule in rules and not holds(float(value), float(rules[rule])):
            raise ConfigError(f"{key}: must be {symbol} {rules[rule]:g}, got {value}")


def _choices(choices: Any) -> tuple[Any, ...] | None:
    """Allowed values: a tuple, a registry, or several registries (their names joined)."""
    if choices is None:
        return None
    if isinstance(choices, Registry):
        return choices.names()
    if callable(choices):  # names read afresh, e.g. problem_names
        return tuple(choices())
    if isinstance(choices, tuple) and any(isinstance(c, Registry) for c in choices):
        return tuple(n for c in choices for n in (c.names() if isinstance(c, Registry) else (c,)))
    return tuple(choices)


def _method_from(value: Any, key: str) -> MethodSpec:
    """Validate ``method`` (see :func:`convergan.methods.spec.parse_method`)."""
    from convergan.methods.spec import MethodSpecError, parse_method  # imports torch

    try:
        return parse_method(value, key)
    except MethodSpecError as error:
        raise ConfigError(str(error)) from None


def _scheme_from(value: Any, key: str) -> SchemeSpec:
    """Validate ``scheme`` (see :func:`convergan.schemes.spec.parse_scheme`)."""
    from convergan.schemes.spec import SchemeSpecError, parse_scheme

    try:
        return parse_scheme(value, key, TRAINING_SCHEME_DEFAULTS)
    except SchemeSpecError as error:
        raise ConfigError(str(error)) from None


# --------------------------------------------------------------------------- messages


def _unknown_key(key: str, prefix: str, siblings: list[str]) -> str:
    """One line naming the bad key and the closest valid one, searched among siblings first."""
    full = prefix + key
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if close:
        return f"unknown key {full!r} (did you mean {prefix + close[0]!r}?)"
    # A known leaf name in the wrong section, e.g. ``steps`` for ``train.steps``.
    elsewhere = [k for k in _all_keys() if k.rsplit(".", 1)[-1] == key][:2]
    if elsewhere:
        return f"unknown key {full!r} (did you mean {' or '.join(map(repr, elsewhere))}?)"
    valid = ", ".join(siblings)
    return f"unknown key {full!r}; valid keys here: {valid}"


@cache
def _all_keys(cls: type = Config, prefix: str = "") -> tuple[str, ...]:
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        hint = _hints(cls)[f.name]
        if dataclasses.is_dataclass(hint) and hint not in (MethodSpec, SchemeSpec):
            keys += _all_keys(hint, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return tuple(keys)
