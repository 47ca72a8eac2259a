"""One validation path for user options: every check, every message, one error class.

Config files, the command line's ``key=value`` overrides, method specs, scheme specs and sweep
specs are all checked here, so the same bad value gives the same message wherever it is
written::

    optim.d.lr: must be > 0, got -0.001
    method.gamma: expected a number, got True (bool)
    scheme.d_steps: expected an integer, got 1.5 (float)
    launcher.jobs: must be >= 1, got 0

Each check takes the value and its full dotted key and returns the value converted (ints widen
to floats, ``2e3`` is the integer 2000); a bad value raises :class:`ConfigError`, one line
that starts with the key, because that is the text a user has to find in a file or command
line. :func:`build` walks a frozen dataclass by its type hints and :func:`option` metadata,
so a schema is its dataclasses and nothing else.

This module sits at the bottom of the layers with the registry and imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import types
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NoReturn, TypeVar, Union, get_args, get_origin, get_type_hints

from convergan.registry import Registry, did_you_mean, show
from convergan.schedules import KINDS, UNITS, Schedule

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad user option: one line naming the dotted key, never a traceback."""


# Bound name -> (symbol in messages, test).
BOUNDS = {
    "gt": (">", operator.gt),
    "ge": (">=", operator.ge),
    "lt": ("<", operator.lt),
    "le": ("<=", operator.le),
}


def fail(key: str, problem: str) -> NoReturn:
    """Raise the one-line error ``key: problem``."""
    raise ConfigError(f"{key}: {problem}" if key else problem)


# --------------------------------------------------------------------------- checks


def number(value: Any, key: str, **bounds: float) -> float:
    """A finite real (an int widens to float; a bool is not a number) within ``bounds``
    (``gt``, ``ge``, ``lt``, ``le``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(key, f"expected a number, got {show(value)}")
    try:
        converted = float(value)
    except OverflowError:  # an int beyond float's range
        fail(key, f"expected a finite number, got {show(value)}")
    if not math.isfinite(converted):
        fail(key, f"expected a finite number, got {converted}")
    return within(converted, key, **bounds)


def integer(value: Any, key: str, **bounds: float) -> int:
    """An integer; an integral float means that integer (``2e3`` is 2000, ``1.5`` is an error)."""
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral:
        fail(key, f"expected an integer, got {show(value)}")
    return within(int(value), key, **bounds)


def within(value: T, key: str, **bounds: float) -> T:
    """``value`` if it satisfies every bound (``gt``, ``ge``, ``lt``, ``le``)."""
    for rule, bound in bounds.items():
        symbol, holds = BOUNDS[rule]
        if not holds(value, bound):
            shown = bound if isinstance(bound, int) else f"{bound:g}"
            fail(key, f"must be {symbol} {shown}, got {value}")
    return value


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        fail(key, f"expected true or false, got {show(value)}")
    return value


def string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        fail(key, f"expected a string, got {show(value)}")
    return value


def choice(value: Any, key: str, choices: Any) -> Any:
    """One of ``choices``: a tuple, a registry (its names, read now), a function returning
    the names (read now, e.g. :func:`~convergan.registry.problem_names`), or a tuple mixing
    registries and names."""
    if isinstance(choices, Registry):
        choices = (choices,)
    elif callable(choices):
        choices = tuple(choices())
    names = tuple(n for c in choices for n in (c.names() if isinstance(c, Registry) else (c,)))
    if value not in names:
        hint = did_you_mean(str(value), [str(n) for n in names])
        fail(key, f"{value!r} is not one of {', '.join(map(str, names))}{hint}")
    return value


def registered(value: Any, key: str, registry: Registry) -> str:
    """A name in ``registry``, worded by its kind: ``unknown loss 'lsq' (did you mean ...)``."""
    if not isinstance(value, str):
        fail(key, f"expected a {registry.kind} name, got {show(value)}")
    if value not in registry:
        fail(key, registry.unknown(value))
    return value


def mapping(value: Any, key: str) -> Mapping:
    if not isinstance(value, Mapping):
        fail(key, f"expected a mapping, got {show(value)}")
    return value


def listed(
    value: Any,
    key: str,
    item: Callable[[Any, str], T] | None = None,
    *,
    length: int | None = None,
    noun: str = "values",
) -> list[T]:
    """A list (or tuple), each item checked by ``item(value, "key[i]")``; ``length`` fixes
    its size."""
    if not isinstance(value, (list, tuple)) or (length is not None and len(value) != length):
        wanted = "a list" if length is None else f"a list of {length} {noun}"
        # A bare word meant as a one-item list: say how to write it.
        hint = f"; in brackets: {key}=[{value}]" if isinstance(value, str) and key else ""
        fail(key, f"expected {wanted}, got {show(value)}{hint}")
    if item is None:
        return list(value)
    return [item(v, f"{key}[{i}]") for i, v in enumerate(value)]


def each_once(names: list[str], key: str) -> None:
    """Refuse a name listed twice (a metric, a plugin): the config would say it twice for
    what runs once. The line gives the list to type (``key=[a, b]``, or ``--flag a b``)."""
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        once = list(dict.fromkeys(names))
        typed = f"{key} {' '.join(once)}" if key.startswith("--") else f"{key}=[{', '.join(once)}]"
        fail(key, f"{repeated} is listed twice; give each once: {typed}")


def optional(value: Any, key: str, check: Callable[[Any, str], T]) -> T | None:
    """``None``, or ``value`` checked by ``check``."""
    return None if value is None else check(value, key)


def scheduled(value: Any, key: str, **bounds: float) -> float | Schedule:
    """A number within ``bounds``, or a :class:`~convergan.schedules.Schedule` (a mapping with
    a ``schedule`` key) checked by :func:`schedule`."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, Mapping):
        if "schedule" not in value:
            fail(key, f"expected a number or a schedule ({SCHEDULE_EXAMPLE}), got {show(value)}")
        return schedule(value, key, **bounds)
    return number(value, key, **bounds)


SCHEDULE_EXAMPLE = "{schedule: cosine, start: 0.05, end: 0.005, samples: 20000000}"
SCHEDULE_KEYS = ("schedule", "start", "end", *UNITS, "warmup_start") + tuple(
    f"{part}_{unit}" for part in ("warmup", "hold") for unit in UNITS
)


def schedule(value: Any, key: str, **bounds: float) -> Schedule:
    """A schedule (see :mod:`convergan.schedules`). ``start``, ``end`` and ``warmup_start``
    obey the key's ``bounds``, except that a bound ``> 0`` admits 0: a warm-up from 0, a
    half-life ramped up from 0 and a decay to 0 are what schedules are for; a schedule that
    stays at 0 (start and end 0) is refused like the constant 0."""
    value = mapping(value, key)
    for name in value:
        if name not in SCHEDULE_KEYS:
            raise ConfigError(unknown_key(str(name), list(SCHEDULE_KEYS), f"{key}."))
    kind = choice(value.get("schedule"), f"{key}.schedule", KINDS)
    units = [unit for unit in UNITS if unit in value]
    if len(units) != 1:
        fail(
            key,
            f"a schedule takes its length in steps or in samples (one of them), e.g. "
            f"{SCHEDULE_EXAMPLE}",
        )
    (unit,) = units
    for part in ("warmup", "hold"):
        other = f"{part}_{UNITS[1 - UNITS.index(unit)]}"
        if other in value:
            fail(f"{key}.{other}", f"a schedule in {unit} takes {part}_{unit}")
    relaxed = {("ge" if rule == "gt" else rule): bound for rule, bound in bounds.items()}
    ends = {}
    for name in ("start", "end"):
        if name not in value:
            fail(
                f"{key}.{name}",
                f"missing (a schedule takes start and end, e.g. {SCHEDULE_EXAMPLE})",
            )
        ends[name] = number(value[name], f"{key}.{name}", **relaxed)
    if "gt" in bounds and not (ends["start"] > bounds["gt"] or ends["end"] > bounds["gt"]):
        # Reaching the bound is what schedules are for; staying on it is a constant that the
        # key refuses (a rate of 0 trains nothing).
        fail(key, f"a schedule from {ends['start']:g} to {ends['end']:g} never exceeds "
             f"{bounds['gt']:g}; start or end must be > {bounds['gt']:g}")  # fmt: skip
    warmup_start = number(value.get("warmup_start", 0.0), f"{key}.warmup_start", **relaxed)
    length = integer(value[unit], f"{key}.{unit}", gt=0)
    warmup = integer(value.get(f"warmup_{unit}", 0), f"{key}.warmup_{unit}", ge=0)
    hold = integer(value.get(f"hold_{unit}", 0), f"{key}.hold_{unit}", ge=0)
    if warmup + hold > length:
        fail(f"{key}.{unit}", f"must be >= warm-up + hold ({warmup + hold}), got {length}")
    if "warmup_start" in value and not warmup:
        fail(f"{key}.warmup_start", f"needs a warm-up (warmup_{unit})")
    return Schedule(kind, ends["start"], ends["end"], length, unit, warmup, hold, warmup_start)


def unknown_key(key: str, siblings: list[str] | tuple[str, ...], prefix: str = "") -> str:
    """``unknown key 'prefix.key' (did you mean 'prefix.close'?)``, or the valid keys."""
    close = difflib.get_close_matches(key, list(siblings), n=1, cutoff=0.6)
    if close:
        return f"unknown key {prefix + key!r} (did you mean {prefix + close[0]!r}?)"
    return f"unknown key {prefix + key!r}; valid keys here: {', '.join(siblings)}"


# --------------------------------------------------------------------------- schemas


def option(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    choices: Any = None,
    parse: Callable[[Any, str], Any] | None = None,
    repeats: bool = False,
    **bounds: float,
) -> Any:
    """A dataclass field with what :func:`build` checks: ``choices`` (see :func:`choice`),
    bounds ``gt``/``ge``/``lt``/``le``, or ``parse(value, key)`` for a value with its own
    validator (a method or scheme spec). A list default is copied for each instance; a list
    of names refuses a name given twice unless ``repeats``."""
    unsupported = set(bounds) - set(BOUNDS)
    if unsupported:
        raise TypeError(f"unsupported bounds {sorted(unsupported)}")
    metadata = {"choices": choices, "parse": parse, "bounds": bounds, "repeats": repeats}
    if isinstance(default, list):
        items = default
        factory, default = (lambda: list(items)), dataclasses.MISSING
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


UnknownKey = Callable[[str, str, list[str]], str]


def build(cls: type[T], data: Any, key: str = "", unknown: UnknownKey | None = None) -> T:
    """The dataclass ``cls`` from a mapping, every field checked by its type hint and
    :func:`option` metadata; missing fields take their defaults.

    ``unknown(name, prefix, siblings)`` words the error for a key ``cls`` does not have
    (:func:`unknown_key` by default).
    """
    data = mapping(data, key or "config")
    prefix = f"{key}." if key else ""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in fields:
            raise ConfigError((unknown or _unknown)(str(name), prefix, list(fields)))
    hints = _hints(cls)
    values = {}
    for name, value in data.items():
        rules = fields[name].metadata
        values[name] = _check(value, hints[name], prefix + name, rules, unknown)
    return cls(**values)


def _unknown(name: str, prefix: str, siblings: list[str]) -> str:
    return unknown_key(name, siblings, prefix)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _check(value: Any, hint: Any, key: str, rules: Mapping[str, Any], unknown: Any) -> Any:
    """``value`` checked against a type hint; bounds and choices apply to each item of a list."""
    if rules.get("parse") is not None:
        return rules["parse"](value, key)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key, unknown)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType) and Schedule in args:  # a number or a schedule
        return scheduled(value, key, **rules.get("bounds", {}))
    if origin in (Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return optional(value, key, lambda v, k: _check(v, inner, k, rules, unknown))
    if origin is tuple:
        items = listed(value, key, length=len(args), noun="numbers")
        return tuple(
            _check(v, t, f"{key}[{i}]", rules, unknown) for i, (v, t) in enumerate(zip(items, args))
        )
    if origin is list:
        (inner,) = args
        items = listed(value, key, lambda v, k: _check(v, inner, k, rules, unknown))
        if inner is str and not rules.get("repeats"):
            each_once(items, key)
        return items
    if origin is dict or hint is dict:
        return dict(mapping(value, key))
    if hint is Any:
        return value
    bounds = rules.get("bounds", {})
    if hint is bool:
        return boolean(value, key)
    if hint is int:
        return integer(value, key, **bounds)
    if hint is float:
        return number(value, key, **bounds)
    if hint is str:
        value = string(value, key)
        return value if rules.get("choices") is None else choice(value, key, rules["choices"])
    raise TypeError(f"{key}: no check for type {hint!r}")  # a schema bug, not a user error
