"""The configuration schema: every setting, its default and its allowed values, in one place.

The dataclasses below are the single source of truth. :func:`config_from_dict` walks their
type hints and :func:`~convergan.options.option` metadata with :func:`convergan.options.build`
(the one validation path, shared with the method, scheme and sweep specs), so adding a setting
is one line here (type, default, constraint) and never a new branch in a validator. Every
validation error is one line that names the full dotted key (``optim.d.lr: must be > 0, got
-0.001``) because that is the text a user has to find in their YAML file or command line.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, get_type_hints

from convergan.methods.parse import parse_method
from convergan.methods.spec import MethodSpec
from convergan.options import (
    ConfigError,
    build,
    choice,
    fail,
    listed,
    mapping,
    option,
    scheduled,
    string,
    unknown_key,
)
from convergan.plugin_loading import PluginError, load_plugins
from convergan.registry import ARCHITECTURES, METRICS, OPTIMIZERS, did_you_mean, problem_names
from convergan.schedules import Schedule, find_schedules, plain, resolve
from convergan.schemes.spec import TRAINING_SCHEME_DEFAULTS, SchemeSpec, parse_scheme


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


DEFAULT_OPTIMIZER = "adam"


@dataclass(frozen=True)
class OptimizerConfig:
    """A player's optimizer: a registered optimizer's ``name``, the learning rate ``lr`` (the
    scheme's rate for this player; a number or a schedule) and the optimizer's own options
    (``options``, an instance of its registered class, whose fields and defaults are the only
    ones: Adam's ``betas``, ``eps``, ``weight_decay``; RMSprop's ``alpha``, ``eps``,
    ``weight_decay``, ``momentum``; SGD's ``momentum``, ``weight_decay``). Read them as
    attributes (``config.optim.d.betas``); :func:`parse_optimizer` validates a section."""

    name: str = DEFAULT_OPTIMIZER
    lr: float | Schedule = 1e-4
    options: Any = None  # None: the class's defaults

    def __post_init__(self) -> None:
        if self.options is None:
            object.__setattr__(self, "options", OPTIMIZERS[self.name]())

    def __getattr__(self, key: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and key in _option_names(type(options)):
            return getattr(options, key)
        raise AttributeError(f"optimizer {self.__dict__.get('name')!r} has no option {key!r}")

    def build(self):
        """The optimizer with the options this config holds (schedules as they are:
        :func:`convergan.training.optim.build_optimizer` puts them on a run's steps)."""
        return self.options

    def to_dict(self) -> dict[str, Any]:
        options = {k: getattr(self.options, k) for k in _option_names(type(self.options))}
        return {"name": self.name, "lr": self.lr, **options}


def _option_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def parse_optimizer(value: Any, key: str) -> OptimizerConfig:
    """An ``optim.g``/``optim.d`` section: ``name`` (a registered optimizer), ``lr`` and the
    options of that optimizer's class, each checked by the class's own bounds; any other key
    is a one-line error naming what the optimizer takes."""
    if isinstance(value, OptimizerConfig):
        return value
    value = {} if value is None else mapping(value, key)
    name = choice(value.get("name", DEFAULT_OPTIMIZER), f"{key}.name", OPTIMIZERS)
    lr = scheduled(value.get("lr", OptimizerConfig.lr), f"{key}.lr", gt=0)
    cls = OPTIMIZERS[name]
    takes = _option_names(cls)
    given = {k: v for k, v in value.items() if k not in ("name", "lr")}
    for option_name in given:
        if option_name not in takes:
            dotted = f"{key}.{option_name}"
            hint = did_you_mean(str(option_name), ["lr", *takes])
            raise ConfigError(
                f"unknown key {dotted!r}{hint}: optimizer {name!r} takes name, lr, "
                f"{', '.join(takes)}"
            )
    return OptimizerConfig(name, lr, build(cls, given, key))


@dataclass(frozen=True)
class OptimConfig:
    g: OptimizerConfig = option(factory=OptimizerConfig, parse=parse_optimizer)  # generator's
    d: OptimizerConfig = option(factory=OptimizerConfig, parse=parse_optimizer)  # discriminator's


@dataclass(frozen=True)
class EmaConfig:
    enabled: bool = True  # keep an exponential moving average of G for sampling and eval
    # StyleGAN2 convention: beta = 0.5 ** (batch / half_life), independent of the batch size.
    # A number or a schedule (R3GAN ramps it from 0 to 5M images; 0: the average is G).
    half_life_samples: float | Schedule = option(10000.0, gt=0)
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
    # Products per look on each of J and the update operator: leading Ritz values from that
    # many, started from the previous look's vectors, their residuals logged; 0 = ARPACK to
    # the float32 tolerance (what `convergan spectrum` computes, several times the cost).
    products: int = option(40, ge=0)


@dataclass(frozen=True)
class DiagnosticsConfig:
    # ‖v‖ (and its G, D parts), the distance moved per step and cos(v, displacement) on a fixed
    # evaluation game drawn from the run's seed: what `convergan verdict` fits its trend to.
    # Steps between diagnostics (0 = off); None = train.steps // 80, at least 10: about 80
    # looks a run, so the verdict's window (the last half) holds the 20 its rules need.
    every: int | None = option(None, ge=0)
    samples: int | None = option(None, gt=0)  # evaluation game size; None = data.batch_size
    # Independent evaluation games per look, each one field evaluation: with 2 or more the
    # spread between them estimates the field's sampling noise (what "at an equilibrium within
    # sampling noise" is measured against); 1 measures no noise.
    games: int = option(2, ge=1)


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


def _training_scheme(value: Any, key: str) -> SchemeSpec:
    """A scheme in training context: the trainer's defaults (AltGD runs D first) apply to every
    scheme of the spec, nested ``inner`` included (:mod:`convergan.schemes.spec`)."""
    return parse_scheme(value, key, TRAINING_SCHEME_DEFAULTS)


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
    method: MethodSpec = option(factory=lambda: parse_method(None), parse=parse_method)
    scheme: SchemeSpec = option(
        factory=lambda: _training_scheme(None, "scheme"), parse=_training_scheme
    )
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
        plugins = listed(data["plugins"], "plugins", string)
        try:
            load_plugins(plugins)
        except PluginError as error:
            raise ConfigError(f"plugins: {error}") from None
    _refuse_removed_keys(data)
    return build(Config, data, "", _unknown_key)


# The keys from before schedules, each with what to write instead.
REMOVED_KEYS = {
    "optim.schedule": "write each rate's schedule, e.g. "
    "optim.g.lr={schedule: cosine, start: 2e-4, end: 0, steps: 10000}",
    "optim.warmup_steps": "give each rate's schedule a warm-up, e.g. "
    "optim.g.lr={schedule: linear, start: 2e-4, end: 2e-4, steps: 10000, warmup_steps: 500}",
}


def _refuse_removed_keys(data: Any) -> None:
    optim = data.get("optim") if isinstance(data, Mapping) else None
    for dotted, instead in REMOVED_KEYS.items():
        if isinstance(optim, Mapping) and dotted.removeprefix("optim.") in optim:
            fail(dotted, f"removed; {instead}")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain YAML-safe types (dicts, lists, str, numbers, bool, None); a
    schedule is its mapping (:meth:`~convergan.schedules.Schedule.to_dict`)."""
    return plain(config_tree(cfg))


def config_tree(cfg: Any) -> dict[str, Any]:
    """The config as dicts and lists, with its schedules kept as objects."""
    return {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def scheduled_values(cfg: Config) -> dict[str, Schedule]:
    """Every schedule of the config by its dotted key (``optim.g.lr``, ``method.gamma``,
    ``method.penalties[0].gamma``): the keys logged as ``schedule/<key>``."""
    return find_schedules(config_tree(cfg))


def config_at(cfg: Config, step: int, world_size: int = 1) -> Config:
    """The spec at step ``t``: ``cfg`` with every schedule replaced by its value at the 0-based
    step ``step`` (samples = step x global batch, ``data.batch_size`` x ``world_size``). The
    trainer's step ``t`` runs with these values; a checkpoint at step ``t`` (after ``t``
    updates) is analysed with them, those of the update that would move it next. The trainer's
    parts read the same values (:func:`convergan.schedules.value_at`, which this applies)."""
    return resolve(cfg, step, cfg.data.batch_size * world_size)


def _plain(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value  # written as its mapping by config_to_dict
    if isinstance(value, (MethodSpec, SchemeSpec, OptimizerConfig)):
        return _plain(value.to_dict())
    if dataclasses.is_dataclass(value):
        return config_tree(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- messages


def _unknown_key(key: str, prefix: str, siblings: list[str]) -> str:
    """One line naming the bad key and the closest valid one, searched among siblings first,
    then as a leaf of another section (``steps`` for ``train.steps``)."""
    if difflib.get_close_matches(key, siblings, n=1, cutoff=0.6):
        return unknown_key(key, siblings, prefix)
    elsewhere = [k for k in _all_keys() if k.rsplit(".", 1)[-1] == key][:2]
    if elsewhere:
        return f"unknown key {prefix + key!r} (did you mean {' or '.join(map(repr, elsewhere))}?)"
    return unknown_key(key, siblings, prefix)


@cache
def _all_keys(cls: type = Config, prefix: str = "") -> tuple[str, ...]:
    keys: list[str] = []
    for f in dataclasses.fields(cls):
        hint = get_type_hints(cls)[f.name]
        if hint is OptimizerConfig:  # its options depend on the optimizer it names
            keys += [f"{prefix}{f.name}.name", f"{prefix}{f.name}.lr"]
        elif dataclasses.is_dataclass(hint) and hint not in (MethodSpec, SchemeSpec):
            keys += _all_keys(hint, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return tuple(keys)
