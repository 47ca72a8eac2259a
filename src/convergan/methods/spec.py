"""A method *spec*: the one (name, parameters) object for a training method.

A spec is what a config, the command line, the Dirac analysis, the table, the figures and
the trainer all take. It has two forms, both validated by :func:`parse_method` and printed
back exactly by :meth:`MethodSpec.to_dict`:

* a **preset** with its hyperparameters, ``{name: r1, gamma: 10}`` (``method=r1
  method.gamma=10`` on the command line), from the :data:`~convergan.registry.METHODS`
  registry;
* a **composition**: a loss, penalties (each with its own γ), instance noise, weight
  clipping and consensus::

      method:
        loss: hinge                                   # a registered loss
        penalties: [{name: r1, gamma: 10}, {name: r2, gamma: 10}]
        noise: {sigma: 0.1, anneal_steps: 5000}       # or a number: sigma
        clip: null                                    # WGAN weight clipping bound
        consensus: null                               # consensus optimization gamma

  On the command line a penalty may be written ``name:gamma``:
  ``method.loss=hinge method.penalties=[r1:10]``.

A preset named together with composition keys is the preset with those parts replaced
(``{name: r1, gamma: 10, loss: hinge}`` is hinge + R1 with γ = 10); the result prints as a
composition. Composition keys that are not given take the preset's parts, or without a
preset: the saturating loss and nothing else.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from convergan.registry import LOSSES, METHODS, PENALTIES
from convergan.registry import did_you_mean as _hint
from convergan.registry import show as _show

COMPOSITION_KEYS = ("loss", "penalties", "noise", "clip", "consensus")
DEFAULT_METHOD = "r1"
DEFAULT_LOSS = "saturating"

# Ranges of numeric method parameters, by name, whatever part takes them.
PARAMETER_RANGES: dict[str, tuple[str, float]] = {
    "gamma": (">=", 0.0),  # penalty / consensus weight
    "sigma": (">=", 0.0),  # instance-noise standard deviation
    "target": (">=", 0.0),  # gradient-norm target of a penalty
    "clip": (">", 0.0),  # weight-clipping bound; 0 would make D constant
    "anneal_steps": (">", 0.0),
}


class MethodSpecError(ValueError):
    """A bad method spec; one line naming the dotted key."""


@dataclass(frozen=True)
class PenaltySpec:
    """A registered penalty and its parameters (``gamma`` first), e.g. ``r1`` with γ = 10."""

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def gamma(self) -> Any:
        return dict(self.params).get("gamma")

    def build(self):
        return PENALTIES[self.name](**dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.params)}


@dataclass(frozen=True)
class NoiseSpec:
    """Gaussian instance noise ``σ``, linearly annealed to 0 over ``anneal_steps`` if set."""

    sigma: Any
    anneal_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "anneal_steps": self.anneal_steps}


@dataclass(frozen=True)
class MethodSpec:
    """A method as data; :meth:`build` gives the :class:`~convergan.methods.Method`."""

    loss: str = DEFAULT_LOSS
    penalties: tuple[PenaltySpec, ...] = ()
    noise: NoiseSpec | None = None
    clip: Any = None
    consensus: Any = None
    preset: str | None = None  # set when the spec is a preset with its hyperparameters
    params: dict[str, Any] = field(default_factory=dict)  # the preset's hyperparameters

    @property
    def name(self) -> str:
        """A label: the preset's name, or the parts joined by ``+`` (``hinge+r1``)."""
        if self.preset is not None:
            return self.preset
        parts = [self.loss, *(p.name for p in self.penalties)]
        if self.noise is not None:
            parts.append("noise")
        if self.clip is not None:
            parts.append("clip")
        if self.consensus is not None:
            parts.append("consensus")
        return "+".join(parts)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The preset's hyperparameters; for a composition, its numbers by part."""
        if self.preset is not None:
            return dict(self.params)
        values: dict[str, Any] = {}
        for p in self.penalties:
            values.update({f"{p.name}.{k}": v for k, v in p.params})
        if self.noise is not None:
            values["noise.sigma"] = self.noise.sigma
        if self.clip is not None:
            values["clip"] = self.clip
        if self.consensus is not None:
            values["consensus"] = self.consensus
        return values

    def build(self):
        """The :class:`~convergan.methods.Method` this spec describes."""
        from convergan.methods.consensus import Consensus
        from convergan.methods.constraints import WeightClip
        from convergan.methods.method import Method
        from convergan.methods.noise import InstanceNoise

        return Method(
            LOSSES[self.loss](),
            penalties=tuple(p.build() for p in self.penalties),
            noise=None
            if self.noise is None
            else InstanceNoise(self.noise.sigma, self.noise.anneal_steps),
            clip=None if self.clip is None else WeightClip(self.clip),
            consensus=None if self.consensus is None else Consensus(self.consensus),
            name=self.name,
        )

    def as_composition(self) -> MethodSpec:
        return replace(self, preset=None, params={})

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain YAML types; :func:`parse_method` of it gives the spec back."""
        if self.preset is not None:
            return {"name": self.preset, **dict(self.params)}
        return {
            "loss": self.loss,
            "penalties": [p.to_dict() for p in self.penalties],
            "noise": None if self.noise is None else self.noise.to_dict(),
            "clip": self.clip,
            "consensus": self.consensus,
        }

    def __str__(self) -> str:
        values = ", ".join(f"{k}={_short(v)}" for k, v in self.hyperparameters.items())
        return f"{self.name} ({values})" if values else self.name


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A named method: its hyperparameters' defaults and the composition they give."""

    description: str
    defaults: dict[str, float]
    compose: Callable[..., MethodSpec]

    def spec(self, name: str, **params: Any) -> MethodSpec:
        values = {**self.defaults, **params}
        return replace(self.compose(**values), preset=name, params=values)


def register_preset(name: str, description: str, **defaults: float):
    """Decorator: register ``compose(**hyperparameters) -> MethodSpec`` as preset ``name``."""

    def decorator(compose: Callable[..., MethodSpec]) -> Callable[..., MethodSpec]:
        METHODS.register(name, Preset(description, defaults, compose), description=description)
        return compose

    return decorator


def penalty(name: str, **params: Any) -> PenaltySpec:
    """A :class:`PenaltySpec` with the penalty's defaults filled in."""
    return PenaltySpec(name, tuple({**penalty_defaults(name), **params}.items()))


def penalty_defaults(name: str) -> dict[str, Any]:
    signature = inspect.signature(PENALTIES[name])
    return {
        k: p.default
        for k, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


# --------------------------------------------------------------------------- validation


def parse_method(value: Any, key: str = "method") -> MethodSpec:
    """Validate a method given as a preset name, a mapping or a spec; errors name the key."""
    if isinstance(value, MethodSpec):
        return value
    if value is None:
        value = {"name": DEFAULT_METHOD}
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise MethodSpecError(
            f"{key}: expected a method name or a mapping (name: preset, or loss/penalties/...), "
            f"got {_show(value)}"
        )
    name = value.get("name")
    # A preset's own hyperparameter may share a composition key's name (wgan's ``clip``).
    own = set(METHODS[name].defaults) if isinstance(name, str) and name in METHODS else set()
    composed = {k: value[k] for k in COMPOSITION_KEYS if k in value and k not in own}
    if name is None and not composed:
        name = DEFAULT_METHOD  # hyperparameters without a name: the default preset's
    if name is not None:
        if not isinstance(name, str):
            raise MethodSpecError(f"{key}.name: expected a method name, got {_show(name)}")
        if name not in METHODS:
            raise MethodSpecError(f"{key}: {METHODS.unknown(name)}")
        preset = METHODS[name]
        params = {k: float(v) for k, v in preset.defaults.items()}
        for param, given in value.items():
            if param == "name" or param in composed:
                continue
            if param not in preset.defaults:
                takes = ", ".join(preset.defaults) or "no hyperparameters"
                raise MethodSpecError(
                    f"{key}.{param}: method {name!r} does not take {param!r}"
                    f"{_hint(param, list(preset.defaults))}; it takes {takes}"
                )
            params[param] = _number(given, f"{key}.{param}", param)
        spec = preset.spec(name, **params)
        if not composed:
            return spec
    else:
        stray = [k for k in value if k not in COMPOSITION_KEYS]
        if stray:
            raise MethodSpecError(
                f"{key}.{stray[0]}: unknown method key{_hint(stray[0], list(COMPOSITION_KEYS))}; "
                f"a composition takes {', '.join(COMPOSITION_KEYS)} (or name: a preset)"
            )
        spec = MethodSpec()
    parts: dict[str, Any] = {}
    if "loss" in composed:
        loss = composed["loss"]
        if not isinstance(loss, str) or loss not in LOSSES:
            raise MethodSpecError(f"{key}.loss: {LOSSES.unknown(str(loss))}")
        parts["loss"] = loss
    if "penalties" in composed:
        parts["penalties"] = _penalties(composed["penalties"], f"{key}.penalties")
    if "noise" in composed:
        parts["noise"] = _noise(composed["noise"], f"{key}.noise")
    if "clip" in composed:
        parts["clip"] = _optional_number(composed["clip"], f"{key}.clip", "clip")
    if "consensus" in composed:
        parts["consensus"] = _optional_number(composed["consensus"], f"{key}.consensus", "gamma")
    return replace(spec.as_composition(), **parts)


def _penalties(value: Any, key: str) -> tuple[PenaltySpec, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise MethodSpecError(f"{key}: expected a list of penalties, got {_show(value)}")
    return tuple(_penalty(item, f"{key}[{i}]") for i, item in enumerate(value))


def _penalty(item: Any, key: str) -> PenaltySpec:
    """``r1:10`` (name:gamma), ``r1`` (default γ) or ``{name: r1, gamma: 10, ...}``."""
    if isinstance(item, str):
        name, sep, gamma = item.partition(":")
        item = {"name": name.strip()} if not sep else {"name": name.strip(), "gamma": gamma}
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise MethodSpecError(
            f"{key}: expected name:gamma (e.g. r1:10) or {{name: r1, gamma: 10}}, got {_show(item)}"
        )
    name = item["name"]
    if name not in PENALTIES:
        raise MethodSpecError(f"{key}: {PENALTIES.unknown(name)}")
    defaults = penalty_defaults(name)
    params = dict(defaults)
    for param, given in item.items():
        if param == "name":
            continue
        if param not in defaults:
            raise MethodSpecError(
                f"{key}.{param}: penalty {name!r} takes {', '.join(defaults)}, not {param!r}"
            )
        if isinstance(given, str):
            try:
                given = float(given)
            except ValueError:
                raise MethodSpecError(f"{key}.{param}: expected a number, got {given!r}") from None
        params[param] = _number(given, f"{key}.{param}", param)
    return PenaltySpec(name, tuple(params.items()))


def _noise(value: Any, key: str) -> NoiseSpec | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        value = {"sigma": value}
    unknown = [k for k in value if k not in ("sigma", "anneal_steps")]
    if unknown:
        raise MethodSpecError(f"{key}.{unknown[0]}: noise takes sigma and anneal_steps")
    if "sigma" not in value:
        raise MethodSpecError(f"{key}.sigma: missing (the noise standard deviation)")
    sigma = _number(value["sigma"], f"{key}.sigma", "sigma")
    anneal = value.get("anneal_steps")
    if anneal is not None:
        anneal = _number(anneal, f"{key}.anneal_steps", "anneal_steps")
        if not float(anneal).is_integer():
            raise MethodSpecError(f"{key}.anneal_steps: expected an integer, got {anneal}")
        anneal = int(anneal)
    return NoiseSpec(sigma, anneal)


def _optional_number(value: Any, key: str, kind: str) -> float | None:
    return None if value is None else _number(value, key, kind)


def _number(value: Any, key: str, kind: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MethodSpecError(f"{key}: expected a number, got {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise MethodSpecError(f"{key}: expected a finite number, got {value}")
    rule = PARAMETER_RANGES.get(kind)
    if rule is not None:
        symbol, bound = rule
        if (symbol == ">=" and value < bound) or (symbol == ">" and value <= bound):
            raise MethodSpecError(f"{key}: must be {symbol} {bound:g}, got {value:g}")
    return value


def is_composition(value: Any) -> bool:
    """Whether a settings value is a composition (used when merging config layers): it sets
    composition keys that are not its preset's own hyperparameters."""
    if not isinstance(value, Mapping):
        return False
    name = value.get("name")
    own = set(METHODS[name].defaults) if isinstance(name, str) and name in METHODS else set()
    return any(k in value and k not in own for k in COMPOSITION_KEYS)
