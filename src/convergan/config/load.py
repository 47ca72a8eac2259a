"""YAML config files with inheritance and dotted ``key=value`` overrides.

A config is built from layers, later layers winning:

1. the schema defaults (:mod:`convergan.config.schema`);
2. the chain of ``base:`` files, oldest ancestor first (``base`` is relative to the file
   that names it, or the name of a shipped config such as ``toy2d/base``);
3. the file itself;
4. the command-line overrides, all together as one layer.

Mappings merge key by key; anything else (numbers, strings, lists) is replaced. One exception
keeps presets honest: when a layer switches ``method`` (or ``scheme``) to another name, the
keys set below it are dropped, because they belonged to the other method (``method=wgan`` on
top of ``method: {name: r1, gamma: 10}`` gives WGAN with its own defaults, not an error about
gamma). Composition keys on top of a preset (``method.loss=hinge`` over ``method: r1``) change
that preset's parts; see :mod:`convergan.methods.spec`.

YAML is read with a safe loader that also reads ``1e-4`` as a float; PyYAML's YAML 1.1
resolver would otherwise hand back the string ``"1e-4"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from convergan.config.schema import DEFAULT_OPTIMIZER, Config, config_from_dict, config_to_dict
from convergan.config.shipped import CONFIGS, find_config, shipped_file
from convergan.files import write_text
from convergan.methods.parse import is_composition, parse_method
from convergan.methods.spec import COMPOSITION_KEYS, DEFAULT_METHOD
from convergan.options import ConfigError, fail
from convergan.registry import METHODS
from convergan.schemes.spec import DEFAULT_SCHEME

_OVERRIDE_KEY = re.compile(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*")


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that accepts YAML 1.2 floats (``1e-4``, ``2E5``) and rejects
    duplicate keys (a silently ignored duplicate is a lost setting)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


# Settings nest a few levels (``optim.d.lr``, a list of penalties); far deeper text is an
# accident or an attack, refused in one line before anything recursive meets it.
MAX_NESTING = 64


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML safely; errors become one line ``source:line:column: problem``."""
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except RecursionError:
        raise ConfigError(_too_deep(source)) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = " ".join(str(error.problem or error.context or error).split())
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(error).split())}") from None
    if _nesting(value) > MAX_NESTING:
        raise ConfigError(_too_deep(source))
    return value


def _too_deep(source: str) -> str:
    return f"{source}: nested more than {MAX_NESTING} levels deep; settings nest a few levels"


def _nesting(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:  # no need to walk further than the limit
            children = item.values() if isinstance(item, dict) else item
            if isinstance(item, (dict, list)):
                stack.extend((child, depth + 1) for child in children)
    return deepest


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings of ``path`` (a file, or a shipped config's name such as ``toy2d/circle``)
    merged over its ``base:`` chain (without the ``base`` key)."""
    return _read_chain(find_config(path), ())


def _read_chain(path: Path, children: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in children:
        cycle = " -> ".join(p.name for p in (*children, resolved)[children.index(resolved) :])
        raise ConfigError(f"config inheritance cycle: {cycle}")
    if not path.is_file():
        named_by = f" (base of {children[-1]})" if children else ""
        raise ConfigError(f"config file not found: {path}{named_by}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    data = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base: expected a file path, got {base!r}")
    base_path = path.parent / base
    if not base_path.is_file():
        base_path = shipped_file(CONFIGS, base) or base_path
    parent = _read_chain(base_path, (*children, resolved))
    return merge_layers(parent, data)


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """Turn ``["train.steps=2000", "optim.d.lr=1e-4"]`` into one nested settings layer.

    Values are YAML (``true``, ``[1, 2]``, ``1e-4``, ``null``); an empty value means null.
    ``method=r1`` is shorthand for ``method.name=r1``, so ``method=r2 method.gamma=5`` means
    the same in either order (so are ``scheme=...``, ``optim.g=...`` and ``optim.d=...``).
    """
    layer: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not _OVERRIDE_KEY.fullmatch(key):
            raise ConfigError(
                f"bad override {item!r}: expected key=value with a dotted key, "
                "e.g. train.steps=2000"
            )
        if key.split(".")[0] == "base":
            raise ConfigError(f"bad override {item!r}: base can only be set in a config file")
        shown = item if len(item) <= 60 else item[:57] + "..."
        try:
            value = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as error:
            problem = " ".join(str(getattr(error, "problem", None) or error).split())
            raise ConfigError(f"bad override {shown!r}: invalid YAML value ({problem})") from None
        except RecursionError:
            raise ConfigError(f"bad override {shown!r}: {_too_deep(key)}") from None
        if _nesting(value) > MAX_NESTING:
            raise ConfigError(f"bad override {shown!r}: {_too_deep(key)}")
        if tuple(key.split(".")) in NAMED_SECTIONS and isinstance(value, str):
            key = f"{key}.name"  # method=r1, optim.d=sgd
        _set_dotted(layer, key.split("."), value)
    return layer


def _set_dotted(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        child = tree.get(key)
        if not isinstance(child, dict):  # a later, deeper override wins
            child = {}
        tree[key] = child
        tree = child
    tree[keys[-1]] = value


def merge_layers(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge two settings layers, ``top`` winning; see the module docstring for ``method``,
    ``scheme`` and the optimizers."""
    merged = _deep_merge(base, top)
    for path, (default, kept) in NAMED_SECTIONS.items():
        above = _dotted(top, path)
        if above is _MISSING:
            continue
        below, above = _as_named(_dotted(base, path)), _as_named(above)
        if isinstance(below, Mapping) and isinstance(above, Mapping):
            # A composed method has no name below; naming a preset on top replaces it.
            below_name = None if is_composition(below) else below.get("name", default)
            switched = "name" in above and above["name"] != below_name
            carried = {k: below[k] for k in kept if k in below}
            value = {**carried, **above} if switched else _deep_merge(below, above)
        else:
            value = above  # not a mapping: let validation report it
        if path == ("method",) and isinstance(above, Mapping):
            check_none_dropped(value, [k for k in above if k != "name"])
        _set_dotted(merged, list(path), value)
    return merged


# Sections named by a registry entry whose other keys belong to that entry: switching the
# name drops the keys set below (``method=wgan`` over ``{name: r1, gamma: 10}``; Adam over
# RMSprop's ``alpha``), but for those kept (a player's learning rate is the scheme's).
NAMED_SECTIONS: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {
    ("method",): (DEFAULT_METHOD, ()),
    ("scheme",): (DEFAULT_SCHEME, ()),
    ("optim", "g"): (DEFAULT_OPTIMIZER, ("lr",)),
    ("optim", "d"): (DEFAULT_OPTIMIZER, ("lr",)),
}
_MISSING = object()


def _dotted(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return _MISSING
        tree = tree[key]
    return tree


def _as_named(value: Any) -> Any:
    if value is None:
        return {}
    return {"name": value} if isinstance(value, str) else value


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_none_dropped(value: Any, given: Any, key: str = "method") -> None:
    """Refuse (one line) a preset's hyperparameter among ``given``, set away from its default,
    that the composition keys of the same method replace: ``{name: r1, gamma: 5, penalties:
    [r2]}`` would run R2 with its own γ and drop γ = 5 without a word. ``given``: the keys one
    layer (a file, the command line) set itself; a preset's number from a lower layer that a
    composition replaces on purpose (a sweep's axis over a config file) is left alone."""
    if not isinstance(value, Mapping):
        return
    name = value.get("name", DEFAULT_METHOD)
    if not isinstance(name, str) or name not in METHODS:
        return  # parse_method reports it
    defaults = METHODS[name].defaults
    if not any(k in value for k in COMPOSITION_KEYS if k not in defaults):
        return
    try:  # a plugin's part is not registered yet while layers merge: its run checks it
        method = parse_method(value, key)
    except ConfigError:
        return
    for param in given:
        if param not in defaults or param == "name":
            continue
        default = float(defaults[param])
        if value[param] != default and parse_method({**value, param: default}, key) == method:
            composed = ", ".join(k for k in COMPOSITION_KEYS if k in value and k not in defaults)
            fail(
                f"{key}.{param}",
                f"would be dropped: {composed} replaces the part of {name!r} that {param} "
                f"sets; give it there instead (e.g. {key}.penalties=[r2:5])",
            )


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """Read ``path`` (with its ``base:`` chain), apply ``overrides`` and validate.

    ``path`` is a file or a shipped config's name (``toy2d/circle``); ``path=None`` starts
    from the schema defaults alone. Raises :class:`ConfigError` with one
    line naming the file or the dotted key at fault.
    """
    settings = read_config_file(path) if path is not None else {}
    return config_from_dict(merge_layers(settings, parse_overrides(overrides)))


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the full, validated config so ``load_config(path) == cfg`` reproduces the run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None)
    write_text(path, "# convergan config, written by save_config\n" + text)
