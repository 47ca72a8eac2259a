"""MkDocs hook: the reference pages' generated parts, read from the code at build time.

A page holds a marker line where a generated part goes:

- ``<!-- generated: cli -->``: every command's ``--help``, as ``convergan ... --help`` prints it;
- ``<!-- generated: config -->``: every configuration key of :mod:`convergan.config.schema`,
  with its type, default, allowed values and the comment beside it in the schema;
- ``<!-- generated: registries -->``: every registry's names and descriptions;
- ``<!-- generated: api PACKAGE -->``: a mkdocstrings block (``::: module.name``) for every
  public name of ``PACKAGE`` (its ``__all__``), at the module that defines it.

The figures of the recorded results (``benchmarks/results/**/*.png``) are published as
``results/figures/...``, so the results pages show the committed files themselves.

Nothing here is hand-copied, so the reference cannot drift from the code. The functions are
plain (markdown in, markdown out) so that tests can call them without MkDocs.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import io
import os
import re
import sys
import textwrap
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(r"^<!-- generated: (\w+)(?: ([\w.]+))? -->$", flags=re.M)
HELP_COLUMNS = "100"

# `convergan sweep status` is a word after `sweep`, not a sub-parser (see cli/sweep.py).
EXTRA_COMMANDS = [("sweep", "status")]


def _import_convergan() -> None:
    """The checkout's sources win over an installed copy."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


# ------------------------------------------------------------------------------------ CLI


def command_paths() -> list[tuple[str, ...]]:
    """Every command, in the parser's order: ``()`` for ``convergan``, then each sub-command
    and its own sub-commands."""
    _import_convergan()
    import argparse

    from convergan.cli.main import build_parser

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [path]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found += walk(sub, (*path, name))
                    found += [p for p in EXTRA_COMMANDS if p[:-1] == (*path, name)]
        return found

    return walk(build_parser(), ())


def help_text(path: tuple[str, ...]) -> str:
    """What ``convergan PATH --help`` prints, at a fixed width of 100 columns."""
    _import_convergan()
    from convergan.cli.main import main

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([*path, "--help"])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return out.getvalue().rstrip()


def cli_reference() -> str:
    parts = []
    for path in command_paths():
        title = " ".join(("convergan", *path))
        level = "#" * min(2 + max(len(path) - 1, 0), 4)
        parts.append(f"{level} `{title}`\n\n```text\n$ {title} --help\n{help_text(path)}\n```\n")
    return "\n".join(parts)


# ------------------------------------------------------------------------------ config keys


def _field_comments(cls: type) -> dict[str, str]:
    """The comment beside each field of a dataclass in its source, and the comment lines
    just above it (the schema's documentation of that key)."""
    lines, _ = inspect.getsourcelines(cls)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    (node,) = tree.body
    comments: dict[str, str] = {}
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        first, last = statement.lineno - 1, statement.end_lineno - 1
        above = []
        at = first - 1
        while at >= 0 and lines[at].strip().startswith("#"):
            above.insert(0, lines[at].strip().lstrip("#").strip())
            at -= 1
        beside = ""
        tail = lines[last]
        if "#" in tail:
            code, _, comment = tail.partition("  #")
            beside = comment.strip() if code else ""
        comments[statement.target.id] = " ".join(t for t in [*above, beside] if t)
    return comments


def _type_name(hint) -> str:
    text = str(hint) if not isinstance(hint, type) else hint.__name__
    text = re.sub(r"\b(?:typing|convergan)\.(?:\w+\.)*(\w+)", r"\1", text)
    return text.replace("NoneType", "None")


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    return _shown(value)


def _shown(value) -> str:
    """A default as a config file writes it: a spec as its mapping, tuples as lists."""

    def plain(value):
        if hasattr(value, "to_dict"):
            value = value.to_dict()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    value = plain(value)
    return "null" if value is None else str(value).replace("'", "")


def _allowed(field: dataclasses.Field) -> str:
    meta = field.metadata
    notes = []
    choices = meta.get("choices")
    if choices is not None:
        names = choices() if callable(choices) and not hasattr(choices, "names") else choices
        names = names.names() if hasattr(names, "names") else names
        notes.append("one of " + ", ".join(f"`{n}`" for n in names))
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    for bound, value in (meta.get("bounds") or {}).items():
        notes.append(f"{symbols[bound]} {value:g}")
    return "; ".join(notes)


# Keys whose value is a spec with its own grammar, validated by its own parser.
SPECS = {
    "method": "a preset or a composition: see [Methods](../getting-started/methods.md)",
    "scheme": "a registered scheme and its parameters: see [Schemes](#schemes)",
    "optim.g": "the generator's optimizer: `name`, `lr` and its [options](#optimizers)",
    "optim.d": "the discriminator's optimizer, as `optim.g`",
}


def config_rows(cls=None, prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """``(dotted key, type, default, allowed values, description)`` for every key."""
    _import_convergan()
    from convergan.config.schema import Config

    cls = cls or Config
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    rows = []
    for field in dataclasses.fields(cls):
        key, hint = prefix + field.name, hints[field.name]
        if field.metadata.get("parse") is not None:  # a method or scheme spec: its own page
            rows.append((key, "spec", _default(field), "", SPECS.get(key, "")))
            continue
        if dataclasses.is_dataclass(hint):
            rows += config_rows(hint, key + ".")
            continue
        rows.append(
            (key, _type_name(hint), _default(field), _allowed(field), comments.get(field.name, ""))
        )
    return rows


def scheme_rows(name: str) -> list[tuple[str, str, str, str, str]]:
    """The parameters a registered scheme takes (``scheme.<field>``), read from its class."""
    _import_convergan()
    from convergan.registry import SCHEMES
    from convergan.schemes.spec import scheme_parameters

    comments = _field_comments(SCHEMES[name])
    return [
        (f"scheme.{field}", _type_name(kind), _shown(default), "", comments.get(field, ""))
        for field, (kind, default) in scheme_parameters(name).items()
    ]


def optimizer_rows(name: str) -> list[tuple[str, str, str, str, str]]:
    """The options a registered optimizer's class takes (``optim.g.<field>``)."""
    _import_convergan()
    from convergan.registry import OPTIMIZERS

    return config_rows(OPTIMIZERS[name], "optim.g.")


def _table(rows: list[tuple[str, str, str, str, str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, kind, default, allowed, meaning in rows:
        kind = kind.replace(" | ", " or ")
        lines.append(
            f"| `{key}` | {cell(kind)} | `{cell(default)}` | {cell(allowed)} | {cell(meaning)} |"
        )
    return [*lines, ""]


def spec_keys(sections: dict[str, list]) -> set[str]:
    """The keys shown as one spec row (their own grammar) rather than one row per field."""
    return {key for rows in sections.values() for key, kind, *_ in rows if kind == "spec"}


def config_reference() -> str:
    from convergan.registry import OPTIMIZERS, SCHEMES

    sections: dict[str, list] = {}
    for row in config_rows():
        top = row[0].split(".")[0] if "." in row[0] else "(top level)"
        sections.setdefault(top, []).append(row)
    parts = []
    for top, rows in sections.items():
        parts.append(f"### `{top}`\n" if top != "(top level)" else "### Top-level keys\n")
        parts += _table(rows)
    if "optim.g" in spec_keys(sections):  # each optimizer's options are read from its class
        parts.append(
            "### Optimizers\n\n`optim.g` and `optim.d` each take `name`, `lr` and the options "
            "of the optimizer they name (shown for `optim.g`; `optim.d` takes the same):\n"
        )
        for name in OPTIMIZERS.names():
            parts += [f"#### `{name}`\n", *_table(optimizer_rows(name))]
    parts.append(
        "### Schemes\n\n`scheme` names a registered scheme; these are the parameters each "
        "takes besides `scheme.lazy_every` (learning rates come from `optim.*.lr`). In "
        "training, AltGD moves the discriminator first (`scheme.discriminator_first: true`).\n"
    )
    for name in SCHEMES.names():
        rows = scheme_rows(name)
        parts += [f"#### `{name}`\n", *(_table(rows) if rows else ["No parameters.\n"])]
    return "\n".join(parts)


# ------------------------------------------------------------------------------ registries


def registry_reference() -> str:
    _import_convergan()
    from convergan.registry import REGISTRIES

    parts = []
    for key, registry in REGISTRIES.items():
        parts.append(f"### `{key.upper()}`\n\nA {registry.kind}; ")
        parts[-1] = parts[-1].rstrip("; ") + f" (`convergan.registry.{key.upper()}`).\n"
        parts.append("| name | description |\n|---|---|")
        for entry in _entries(registry):
            parts.append(f"| `{entry[0]}` | {entry[1].replace('|', chr(92) + '|')} |")
        parts.append("")
    return "\n".join(parts)


def _entries(registry) -> list[tuple[str, str]]:
    """Names and descriptions, without importing a declared entry's module."""
    registry._populate()
    return [(e.name, e.description) for e in registry._entries.values()]


# ------------------------------------------------------------------------------ Python API


def api_reference(package: str) -> str:
    """A ``::: module.name`` block for every name in ``package.__all__``, at the module that
    defines it (found by reading the sources: re-exports and lazy ``_EXPORTS`` followed)."""
    _import_convergan()
    module = importlib.import_module(package)
    names = sorted(module.__all__, key=str.lower)
    constants = [n for n in names if n.isupper()]  # plain values, without docstrings
    blocks = [f"::: {defining_module(package, n)}.{n}" for n in names if n not in constants]
    if constants:
        blocks.append("Constants: " + ", ".join(f"`{package}.{n}`" for n in constants) + ".")
    return "\n\n".join(blocks) + "\n"


def defining_module(module: str, name: str) -> str:
    """The module whose source defines ``name``, following ``from X import name`` and a
    package's lazy ``_EXPORTS``; ``module`` itself when it defines the name."""
    spec = importlib.util.find_spec(module)
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if any((a.asname or a.name) == name for a in node.names):
                return defining_module(node.module, name)
        targets = []
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            targets = [node.name]
        elif isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if targets == ["_EXPORTS"] and isinstance(node.value, ast.Dict):
                exports = {
                    ast.literal_eval(k): ast.literal_eval(v)
                    for k, v in zip(node.value.keys, node.value.values)
                }
                if name in exports:
                    return defining_module(exports[name], name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if name in targets:
            return module
    return module


GENERATORS = {
    "cli": lambda _: cli_reference(),
    "config": lambda _: config_reference(),
    "registries": lambda _: registry_reference(),
    "api": api_reference,
}


def render(markdown: str) -> str:
    """``markdown`` with every generated part in place of its marker."""
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](m.group(2)), markdown)


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (MkDocs hook signature)
    return render(markdown)


# Docstrings cite code with Sphinx roles (:func:`~convergan.x.f`); the HTML shows the name.
SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def on_page_content(html, page, config, files):  # noqa: ARG001 (MkDocs hook signature)
    def name(match: re.Match) -> str:
        short = match.group(2).rsplit(".", 1)[-1] if match.group(1) else match.group(2)
        return f"<code>{short}</code>"

    return SPHINX_ROLE.sub(name, html)


def on_files(files, config):
    from mkdocs.structure.files import File

    for figure in sorted(RESULTS.rglob("*.png")):
        uri = f"results/figures/{figure.relative_to(RESULTS).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(figure)))
    return files
