"""Validation of a method as a config, the command line or Python gives it: :func:`parse_method`
turns a preset name, a mapping or a :class:`~convergan.methods.spec.MethodSpec` into a spec,
every error one line naming the key (``method.penalties[0].gamma: ...``).

The forms it accepts and the one rule for defaults are described in
:mod:`convergan.methods.spec`; this module only checks and builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from convergan.methods.spec import (
    COMPOSITION_KEYS,
    DEFAULT_METHOD,
    PARAMETER_BOUNDS,
    UNSCHEDULED,
    MethodSpec,
    NoiseSpec,
    PenaltySpec,
    penalty_defaults,
)
from convergan.options import fail, listed, number, optional, registered, scheduled
from convergan.registry import LOSSES, METHODS, PENALTIES, did_you_mean, show
from convergan.schedules import Schedule


def parse_method(value: Any, key: str = "method") -> MethodSpec:
    """Validate a method given as a preset name, a mapping or a spec; errors name the key."""
    if isinstance(value, MethodSpec):
        return value
    if value is None:
        value = {"name": DEFAULT_METHOD}
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        fail(
            key,
            "expected a method name or a mapping (name: preset, or loss/penalties/...), "
            f"got {show(value)}",
        )
    name = value.get("name")
    # A preset's own hyperparameter may share a composition key's name (wgan's ``clip``).
    own = set(METHODS[name].defaults) if isinstance(name, str) and name in METHODS else set()
    composed = {k: value[k] for k in COMPOSITION_KEYS if k in value and k not in own}
    if name is None and not composed:
        name = DEFAULT_METHOD  # hyperparameters without a name: the default preset's
    if name is not None:
        if not isinstance(name, str):
            fail(f"{key}.name", f"expected a method name, got {show(name)}")
        registered(name, key, METHODS)
        preset = METHODS[name]
        params = {k: float(v) for k, v in preset.defaults.items()}
        for param, given in value.items():
            if param == "name" or param in composed:
                continue
            if param not in preset.defaults:
                takes = ", ".join(preset.defaults) or "no hyperparameters"
                fail(
                    f"{key}.{param}",
                    f"method {name!r} does not take {param!r}"
                    f"{did_you_mean(param, list(preset.defaults))}; it takes {takes}",
                )
            params[param] = _parameter(given, f"{key}.{param}", param)
        spec = preset.spec(name, **params)
        if not composed:
            return spec
    else:
        stray = [k for k in value if k not in COMPOSITION_KEYS]
        if stray:
            fail(
                f"{key}.{stray[0]}",
                f"unknown method key{did_you_mean(stray[0], list(COMPOSITION_KEYS))}; "
                f"a composition takes {', '.join(COMPOSITION_KEYS)} (or name: a preset)",
            )
        spec = MethodSpec()
    parts: dict[str, Any] = {}
    if "loss" in composed:
        parts["loss"] = registered(composed["loss"], f"{key}.loss", LOSSES)
    if "penalties" in composed:
        parts["penalties"] = _penalties(composed["penalties"], f"{key}.penalties")
    if "noise" in composed:
        # A noise part without sigma keeps the preset's (instance-noise's default 1, or the
        # sigma it was given).
        below = None if spec.noise is None else spec.noise.sigma
        parts["noise"] = optional(
            composed["noise"], f"{key}.noise", lambda v, k: _noise(v, k, below)
        )
    for part, param in (("clip", "clip"), ("consensus", "gamma")):
        if part in composed:
            parts[part] = optional(
                composed[part], f"{key}.{part}", lambda v, k, p=param: _parameter(v, k, p)
            )
    return replace(spec.as_composition(), **parts)


def _parameter(value: Any, key: str, name: str) -> float | Schedule:
    """A method's number (or schedule, but for :data:`UNSCHEDULED`), within the bounds of the
    parameter ``name``."""
    check = number if name in UNSCHEDULED else scheduled
    return check(value, key, **PARAMETER_BOUNDS.get(name, {}))


def _penalties(value: Any, key: str) -> tuple[PenaltySpec, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        fail(key, f"expected a list of penalties, got {show(value)}")
    return tuple(listed(value, key, _penalty))


def _penalty(item: Any, key: str) -> PenaltySpec:
    """``r1:10`` (name:gamma), ``r1`` (the penalty's default γ) or ``{name: r1, gamma: 10}``."""
    if isinstance(item, str):
        name, sep, gamma = item.partition(":")
        item = {"name": name.strip()} if not sep else {"name": name.strip(), "gamma": gamma}
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        fail(key, f"expected name:gamma (e.g. r1:10) or {{name: r1, gamma: 10}}, got {show(item)}")
    name = registered(item["name"], key, PENALTIES)
    defaults = penalty_defaults(name)
    params = dict(defaults)
    for param, given in item.items():
        if param == "name":
            continue
        if param not in defaults:
            fail(f"{key}.{param}", f"penalty {name!r} takes {', '.join(defaults)}, not {param!r}")
        params[param] = _parameter(_shorthand_number(given), f"{key}.{param}", param)
    return PenaltySpec(name, tuple(params.items()))


def _shorthand_number(text: Any) -> Any:
    """The number in ``r1:10``'s text; anything else is left for the number check to report."""
    if not isinstance(text, str):
        return text
    try:
        return float(text)
    except ValueError:
        return text


def _noise(value: Any, key: str, sigma_below: Any = None) -> NoiseSpec:
    if not isinstance(value, Mapping):
        value = {"sigma": value}
    unknown = [k for k in value if k != "sigma"]
    if unknown:
        fail(
            f"{key}.{unknown[0]}",
            "noise takes only sigma, a number or a schedule "
            "({schedule: linear, start: 1, end: 0, steps: 1000} anneals it to 0)",
        )
    if "sigma" not in value and sigma_below is None:
        fail(f"{key}.sigma", f"missing: give the noise standard deviation, e.g. {key}.sigma=0.1")
    return NoiseSpec(_parameter(value.get("sigma", sigma_below), f"{key}.sigma", "sigma"))


def is_composition(value: Any) -> bool:
    """Whether a settings value is a composition (used when merging config layers): it sets
    composition keys that are not its preset's own hyperparameters."""
    if not isinstance(value, Mapping):
        return False
    name = value.get("name")
    own = set(METHODS[name].defaults) if isinstance(name, str) and name in METHODS else set()
    return any(k in value and k not in own for k in COMPOSITION_KEYS)
