"""A scheme *spec*: a registered scheme's name and parameters, validated once.

The ``scheme`` section of a config (and the Dirac command line) is ``{name: altgd, d_steps: 5,
lazy_every: 4}``: the name comes from :data:`~convergan.registry.SCHEMES`, the other keys are
the scheme class's own dataclass fields (read from the class, so a user's scheme needs no
schema entry), and ``lazy_every`` wraps the scheme in lazy regularization. A wrapper scheme's
``inner`` field takes a scheme spec in turn. Learning rates are *not* part of the spec: they
are set in one place, by whoever builds the scheme (the trainer from its optimizers' rates,
the Dirac command line from ``--lr``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from convergan.registry import SCHEMES

LEARNING_RATE_FIELDS = ("lr", "lr_g", "lr_d")
MAX_STEPS_PER_PHASE = 10_000  # g_steps/d_steps/lazy_every above this are surely typos


class SchemeSpecError(ValueError):
    """A bad scheme spec; one line naming the dotted key."""


@dataclass(frozen=True)
class SchemeSpec:
    name: str = "altgd"
    params: tuple[tuple[str, Any], ...] = ()
    lazy_every: int = 1

    def build(self, lr_g: Any = None, lr_d: Any = None, lr: Any = None):
        """The :class:`~convergan.schemes.Scheme` with these learning rates."""
        from convergan.schemes.core import lazy

        kwargs = {
            k: (v.build(lr_g, lr_d, lr) if isinstance(v, SchemeSpec) else v) for k, v in self.params
        }
        rates = {k: v for k, v in (("lr", lr), ("lr_g", lr_g), ("lr_d", lr_d)) if v is not None}
        scheme = SCHEMES[self.name](**rates, **kwargs)
        return lazy(scheme, self.lazy_every) if self.lazy_every > 1 else scheme

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.params).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        params = {k: (v.to_dict() if isinstance(v, SchemeSpec) else v) for k, v in self.params}
        return {"name": self.name, **params, "lazy_every": self.lazy_every}

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.params if not isinstance(v, SchemeSpec)]
        if self.lazy_every > 1:
            parts.append(f"lazy_every={self.lazy_every}")
        return f"{self.name} ({', '.join(parts)})" if parts else self.name


def scheme_parameters(name: str) -> dict[str, tuple[Any, Any]]:
    """``{field: (type, default)}`` of a registered scheme class, learning rates excluded."""
    cls = SCHEMES[name]
    try:
        hints = get_type_hints(cls)
    except Exception:  # unresolvable annotations in a user's class: fall back to the defaults
        hints = {}
    params = {}
    for f in dataclasses.fields(cls):
        if f.name in LEARNING_RATE_FIELDS or not f.init:
            continue
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        params[f.name] = (hints.get(f.name, type(default)), default)
    return params


def parse_scheme(
    value: Any, key: str = "scheme", defaults: Mapping[str, Mapping[str, Any]] | None = None
) -> SchemeSpec:
    """Validate ``value`` (a scheme name or a mapping) into a :class:`SchemeSpec`.

    ``defaults`` may override a scheme's own defaults by name (the trainer runs AltGD with
    the discriminator first, as GAN_stability does). Every parameter is filled in, so the
    spec prints back exactly what runs.
    """
    if isinstance(value, SchemeSpec):
        return value
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise SchemeSpecError(f"{key}: expected a scheme name or a mapping, got {value!r}")
    name = value.get("name", "altgd")
    if not isinstance(name, str) or name not in SCHEMES:
        raise SchemeSpecError(f"{key}: {SCHEMES.unknown(str(name))}")
    known = scheme_parameters(name)
    values = {k: default for k, (_, default) in known.items()}
    values.update((defaults or {}).get(name, {}))
    lazy_every = value.get("lazy_every", 1)
    lazy_every = _integer(lazy_every, f"{key}.lazy_every")
    if lazy_every < 1:
        raise SchemeSpecError(f"{key}.lazy_every: must be >= 1, got {lazy_every}")
    if lazy_every > MAX_STEPS_PER_PHASE:
        raise SchemeSpecError(
            f"{key}.lazy_every: must be <= {MAX_STEPS_PER_PHASE}, got {lazy_every}"
        )
    for param, given in value.items():
        if param in ("name", "lazy_every"):
            continue
        if param in LEARNING_RATE_FIELDS:
            raise SchemeSpecError(
                f"{key}.{param}: learning rates are set by optim.g.lr / optim.d.lr (or --lr)"
            )
        if param not in known:
            takes = ", ".join([*known, "lazy_every"])
            raise SchemeSpecError(f"{key}.{param}: scheme {name!r} takes {takes}")
        values[param] = _convert(given, known[param], f"{key}.{param}")
    spec = SchemeSpec(name, tuple(values.items()), lazy_every)
    try:  # the class's own checks (e.g. d_steps >= 1), as one line naming the section
        spec.build(lr=1.0)
    except (TypeError, ValueError) as error:
        raise SchemeSpecError(f"{key}: {error}") from None
    return spec


def _convert(value: Any, kind: tuple[Any, Any], key: str) -> Any:
    annotation, default = kind
    if key.endswith(".inner") or isinstance(default, SchemeSpec) or _is_scheme(default):
        return parse_scheme(value, key)
    text = str(annotation)
    if annotation is bool or isinstance(default, bool) or text == "bool":
        if not isinstance(value, bool):
            raise SchemeSpecError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation is int or (isinstance(default, int) and text in ("int", "<class 'int'>")):
        number = _integer(value, key)
        if number > MAX_STEPS_PER_PHASE:
            raise SchemeSpecError(f"{key}: must be <= {MAX_STEPS_PER_PHASE}, got {number}")
        return number
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SchemeSpecError(f"{key}: expected a number or a string, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise SchemeSpecError(f"{key}: expected a finite number, got {value}")
        return float(value) if isinstance(default, float) else value
    return value


def _integer(value: Any, key: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not float(value).is_integer()
    ):
        raise SchemeSpecError(f"{key}: expected an integer, got {value!r}")
    return int(value)


def _is_scheme(value: Any) -> bool:
    from convergan.schemes.core import Scheme

    return isinstance(value, Scheme)
