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
        noise: {sigma: 0.1}                           # or a number: sigma
        clip: null                                    # WGAN weight clipping bound
        consensus: null                               # consensus optimization gamma

  On the command line a penalty may be written ``name:gamma``:
  ``method.loss=hinge method.penalties=[r1:10]``.

**Schedules.** Every number of a method but ``clip`` (a penalty's γ, the noise σ, the consensus
γ) may be a schedule, ``{schedule: cosine, start: 0.05, end: 0.005, samples: 20000000}``
(:mod:`convergan.schedules`); the trainer builds the method once, each such number a function
of the training step that the part reads at the step it runs (:meth:`MethodSpec.build` with the
run's samples per step): instance noise annealed to 0 over ``n`` steps is
``noise: {sigma: {schedule: linear, start: s, end: 0, steps: n}}``.

A preset's hyperparameters have one home, ``params``: its parts are composed from them whenever
the spec is made (by :func:`dataclasses.replace` too), never stored beside them.

A preset named together with composition keys is the preset with those parts replaced
(``{name: r1, gamma: 10, loss: hinge}`` is hinge + R1 with γ = 10); the result prints as a
composition. Composition keys that are not given take the preset's parts, or without a
preset: the saturating loss and nothing else.

**Defaults, one rule.** Every default belongs to the part that takes it: a penalty's γ is the
default of its registered factory (:mod:`convergan.methods.penalties`), the noise σ, the clip
bound and the consensus γ are the defaults of :class:`~convergan.methods.noise.InstanceNoise`,
:class:`~convergan.methods.constraints.WeightClip` and
:class:`~convergan.methods.consensus.Consensus`. A preset is a composition with named
hyperparameters whose defaults are read from those definitions (:func:`defaults_of`), never
written a second time, so ``method=r1`` and ``method.penalties=[r1]`` are the same R1 with
the same γ. Every part's weight defaults to 1, the Dirac-GAN scale of the paper's worked values
(R1/R2 with γ = 1 critically damp the saturating Dirac-GAN, whose f'(0) = 1/2); training configs
state their γ explicitly (R1 γ = 10, WGAN-GP γ = 20, i.e. λ = 10 in Gulrajani et al.'s λ·E(…)²).
The defaults of the method itself: :data:`DEFAULT_METHOD` and :data:`DEFAULT_LOSS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from convergan.options import (
    fail,
)
from convergan.registry import LOSSES, METHODS, PENALTIES
from convergan.schedules import Schedule, find_schedules, on_steps

COMPOSITION_KEYS = ("loss", "penalties", "noise", "clip", "consensus")
DEFAULT_METHOD = "r1"
DEFAULT_LOSS = "saturating"

# Bounds of numeric method parameters, by name, whatever part takes them (checked by
# :func:`convergan.options.number`).
PARAMETER_BOUNDS: dict[str, dict[str, float]] = {
    "gamma": {"ge": 0.0},  # penalty / consensus weight
    "sigma": {"ge": 0.0},  # instance-noise standard deviation
    "target": {"ge": 0.0},  # gradient-norm target of a penalty
    "clip": {"gt": 0.0},  # weight-clipping bound; 0 would make D constant
}
# Method numbers that may not follow a schedule: a clip bound reaching 0 would make D constant.
UNSCHEDULED = ("clip",)


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
    """Gaussian instance noise ``σ``: a number or a schedule (annealing is a schedule)."""

    sigma: Any

    def to_dict(self) -> dict[str, Any]:
        return {"sigma": self.sigma}


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

    def __post_init__(self) -> None:
        if self.preset is not None:  # the parts follow from the hyperparameters, their home
            parts = METHODS[self.preset].compose(**self.params)
            for key in COMPOSITION_KEYS:
                object.__setattr__(self, key, getattr(parts, key))
        _each_penalty_once(self.penalties)

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

    def build(self, samples_per_step: int | None = None):
        """The :class:`~convergan.methods.Method` this spec describes. A number that follows a
        schedule becomes a function of the training step, read by its part at the step it
        runs (:func:`convergan.schedules.on_steps`): ``samples_per_step`` is the run's global
        batch. Without it, a spec with schedules has no single method (resolve the spec at a
        step first: :func:`convergan.config.config_at`)."""
        spec = self
        unresolved = find_schedules(self.to_dict(), "method")
        if unresolved:
            if samples_per_step is None:
                key = next(iter(unresolved))
                fail(key, "a schedule has no single value; give the run's samples per step")
            spec = on_steps(self, samples_per_step)
        from convergan.methods.consensus import Consensus
        from convergan.methods.constraints import WeightClip
        from convergan.methods.method import Method
        from convergan.methods.noise import InstanceNoise

        return Method(
            LOSSES[spec.loss](),
            penalties=tuple(p.build() for p in spec.penalties),
            noise=None if spec.noise is None else InstanceNoise(spec.noise.sigma),
            clip=None if spec.clip is None else WeightClip(spec.clip),
            consensus=None if spec.consensus is None else Consensus(spec.consensus),
            name=spec.name,
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
    if isinstance(value, Schedule):
        return f"({value})"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    """A named method: its hyperparameters' defaults and the composition they give.

    ``read_defaults`` returns the defaults; it is called on first use, because it reads them
    from the parts' definitions (modules that import torch), and listing presets must not."""

    description: str
    read_defaults: Callable[[], dict[str, float]]
    compose: Callable[..., MethodSpec]

    @cached_property
    def defaults(self) -> dict[str, float]:
        return dict(self.read_defaults())

    def spec(self, name: str, **params: Any) -> MethodSpec:
        return MethodSpec(preset=name, params={**self.defaults, **params})


def register_preset(name: str, description: str, defaults: Callable[[], dict[str, float]] = dict):
    """Decorator: register ``compose(**hyperparameters) -> MethodSpec`` as preset ``name``,
    with ``defaults()`` giving its hyperparameters' defaults (read on first use)."""

    def decorator(compose: Callable[..., MethodSpec]) -> Callable[..., MethodSpec]:
        METHODS.register(name, Preset(description, defaults, compose), description=description)
        return compose

    return decorator


def penalty(name: str, **params: Any) -> PenaltySpec:
    """A :class:`PenaltySpec` with the penalty's defaults filled in."""
    return PenaltySpec(name, tuple({**penalty_defaults(name), **params}.items()))


def penalty_defaults(name: str) -> dict[str, Any]:
    """The registered penalty's parameters and their defaults (``{"gamma": 1.0}`` for r1)."""
    return defaults_of(PENALTIES[name])


def defaults_of(part: Callable[..., Any], *names: str) -> dict[str, Any]:
    """Defaults of a part's parameters (``names``, or every one that has a default), read from
    its definition: a factory's signature or a dataclass's fields. Presets take their
    hyperparameters' defaults from here, so no default is written twice."""
    parameters = inspect.signature(part).parameters
    return {
        k: p.default
        for k, p in parameters.items()
        if p.default is not inspect.Parameter.empty and (not names or k in names)
    }


# --------------------------------------------------------------------------- one of each penalty


def repeated_penalty(names: list[str]) -> str | None:
    """The first penalty name given more than once, or ``None``: a method holds each penalty
    once (:class:`MethodSpec` and :class:`~convergan.methods.Method` refuse repeats)."""
    return next((name for name in names if names.count(name) > 1), None)


def _each_penalty_once(penalties: tuple[PenaltySpec, ...], key: str = "method.penalties") -> None:
    """Refuse a penalty given twice: its terms would be summed under one name, so the config,
    the logged ``discriminator/<name>`` and what was trained would disagree. The line says
    what to type instead (``[r1:1, r1:2]``: ``method.penalties=[r1:3]``)."""
    names = [p.name for p in penalties]
    twice = repeated_penalty(names)
    if twice is None:
        return
    same = [p for p in penalties if p.name == twice]
    merged: dict[str, PenaltySpec] = {}
    for p in penalties:
        merged.setdefault(p.name, p)
    gammas = [dict(p.params).get("gamma") for p in same]
    others = {tuple((k, v) for k, v in p.params if k != "gamma") for p in same}
    summable = len(others) == 1 and all(isinstance(g, (int, float)) for g in gammas)
    if summable:  # a penalty is linear in its γ: the sum is one penalty with the summed γ
        gamma = sum(gammas)
        merged[twice] = PenaltySpec(
            twice, tuple((k, gamma if k == "gamma" else v) for k, v in same[0].params)
        )
        hint = f"that is one {twice} with the γ's summed: {key}=["
        hint += ", ".join(_penalty_text(p) for p in merged.values()) + "]"
    else:
        hint = f"give it once, with the parameters you mean ({key}=[{twice}:GAMMA, ...])"
    count = names.count(twice)
    fail(key, f"{twice} is given {'twice' if count == 2 else f'{count} times'}; {hint}")


def _penalty_text(p: PenaltySpec) -> str:
    """``r1:3`` for a penalty with only a γ, else ``{name: wgan-gp, gamma: 10, target: 1}``."""
    params = dict(p.params)
    if set(params) == {"gamma"}:
        return f"{p.name}:{params['gamma']:g}"
    inner = ", ".join(
        f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in params.items()
    )
    return "{name: " + p.name + (", " + inner if inner else "") + "}"
