"""A scheme *spec*: a registered scheme's name and parameters, validated once.

The ``scheme`` section of a config (and the Dirac command line) is ``{name: altgd, d_steps: 5,
lazy_every: 4}``: the name comes from :data:`~convergan.registry.SCHEMES`, the other keys are
the scheme class's own dataclass fields (read from the class, so a user's scheme needs no
schema entry), and ``lazy_every`` wraps the scheme in lazy regularization. A wrapper scheme's
``inner`` field takes a scheme spec in turn. Learning rates are *not* part of the spec: they
are set in one place, by whoever builds the scheme (the trainer from its optimizers' rates,
the Dirac command line from ``--lr``).

**Defaults, one rule.** A parameter that is not given takes the scheme class's own default,
unless the spec is read in a *context* with defaults by scheme name: the trainer's context,
:data:`TRAINING_SCHEME_DEFAULTS`, runs AltGD with the discriminator first, as GAN_stability
does (the analysis and the class default to the generator first, the order of the paper's
worked values). A context's defaults apply to every scheme of that name anywhere in the spec,
a wrapper's ``inner`` included, so ``scheme=lookahead scheme.inner=altgd`` runs its AltGD in
the same order as ``scheme=altgd``. A wrapper's default inner scheme (an instance in its
class) is read as a spec of that scheme in the same context. A scheme not named is
:data:`DEFAULT_SCHEME`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints

from convergan.options import boolean, fail, integer, number, registered
from convergan.registry import SCHEMES, show

DEFAULT_SCHEME = "altgd"
# The trainer's context (see the module docstring): AltGD runs the discriminator first.
TRAINING_SCHEME_DEFAULTS: dict[str, dict[str, Any]] = {"altgd": {"discriminator_first": True}}
LEARNING_RATE_FIELDS = ("lr", "lr_g", "lr_d")
MAX_STEPS_PER_PHASE = 10_000  # g_steps/d_steps/lazy_every above this are surely typos

Defaults = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class SchemeSpec:
    name: str = DEFAULT_SCHEME
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


def parse_scheme(value: Any, key: str = "scheme", defaults: Defaults | None = None) -> SchemeSpec:
    """Validate ``value`` (a scheme name, a mapping, or ``None`` for :data:`DEFAULT_SCHEME`)
    into a :class:`SchemeSpec`.

    ``defaults`` overrides schemes' own defaults by name, at every depth of the spec
    (:data:`TRAINING_SCHEME_DEFAULTS` in training). Every parameter is filled in, so the spec
    prints back exactly what runs.
    """
    if isinstance(value, SchemeSpec):
        return value
    if value is None:
        value = DEFAULT_SCHEME
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        fail(key, f"expected a scheme name or a mapping, got {show(value)}")
    name = registered(value.get("name", DEFAULT_SCHEME), key, SCHEMES)
    known = scheme_parameters(name)
    values = {k: default for k, (_, default) in known.items()}
    values.update((defaults or {}).get(name, {}))
    for param, default in values.items():
        settings = _as_settings(default)
        if settings is not None:  # a wrapper's default inner scheme, read in the same context
            values[param] = parse_scheme(settings, f"{key}.{param}", defaults)
    lazy_every = integer(
        value.get("lazy_every", 1), f"{key}.lazy_every", ge=1, le=MAX_STEPS_PER_PHASE
    )
    for param, given in value.items():
        if param in ("name", "lazy_every"):
            continue
        if param in LEARNING_RATE_FIELDS:
            fail(f"{key}.{param}", "learning rates are set by optim.g.lr / optim.d.lr (or --lr)")
        if param not in known:
            fail(f"{key}.{param}", f"scheme {name!r} takes {', '.join([*known, 'lazy_every'])}")
        values[param] = _parameter(given, known[param], f"{key}.{param}", defaults)
    spec = SchemeSpec(name, tuple(values.items()), lazy_every)
    try:  # the class's own checks (e.g. d_steps >= 1), as one line naming the section
        spec.build(lr=1.0)
    except (TypeError, ValueError) as error:
        fail(key, str(error))
    return spec


def _parameter(value: Any, kind: tuple[Any, Any], key: str, defaults: Defaults | None) -> Any:
    """A scheme parameter, checked by its annotation (or its default's type: a user's class may
    have annotations that do not resolve)."""
    annotation, default = kind
    if key.endswith(".inner") or isinstance(default, SchemeSpec) or _is_scheme(default):
        return parse_scheme(value, key, defaults)
    text = str(annotation)
    if annotation is bool or isinstance(default, bool) or text == "bool":
        return boolean(value, key)
    if annotation is int or (isinstance(default, int) and text in ("int", "<class 'int'>")):
        return integer(value, key, le=MAX_STEPS_PER_PHASE)
    if isinstance(value, str) and not isinstance(default, (int, float)):
        return value
    converted = number(value, key)
    return converted if isinstance(default, float) else value


def _as_settings(scheme: Any) -> dict[str, Any] | None:
    """A registered scheme's instance as spec settings: its name and the parameters it sets
    away from its class's defaults (so a context's defaults still apply to the rest); ``None``
    for anything else."""
    if not _is_scheme(scheme):
        return None
    name = next((n for n in SCHEMES.names() if SCHEMES[n] is type(scheme)), None)
    if name is None:
        return None
    settings: dict[str, Any] = {"name": name}
    for param, (_, default) in scheme_parameters(name).items():
        given = getattr(scheme, param)
        if given is not default and given != default:
            inner = _as_settings(given)
            settings[param] = given if inner is None else inner
    return settings


def _is_scheme(value: Any) -> bool:
    from convergan.schemes.core import Scheme

    return isinstance(value, Scheme)
