"""The docs' generated reference (docs/hooks/reference.py) covers every command, configuration
key, registry entry and public name, checked against the code by other routes: the top-level
``--help`` listing, the config written back as a dict, ``Registry.help`` and plain imports."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re

import pytest
from doc_pages import DOCS

from convergan.cli.main import main

spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks" / "reference.py")
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def help_of(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def listed_commands(help_text: str) -> list[str]:
    """The sub-commands a ``--help`` text lists under its ``COMMAND`` positional."""
    block = help_text.split("positional arguments:")[1].split("options:")[0]
    return re.findall(r"^    (\S+)", block, flags=re.M)


def test_the_cli_reference_has_every_command_and_its_help(capsys):
    page = reference.cli_reference()
    top = listed_commands(help_of(capsys))
    assert "dirac" in top and "verdict" in top
    commands = [(c,) for c in top]
    commands += [("dirac", c) for c in listed_commands(help_of(capsys, "dirac"))]
    commands += [("sweep", "status")]
    for command in commands:
        title = " ".join(("convergan", *command))
        assert re.search(rf"^#+ `{title}`$", page, flags=re.M), title
        assert f"$ {title} --help\nusage: {title} " in page, title


def _leaves(mapping: dict, stop: set[str], prefix: str = "") -> dict:
    leaves = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and prefix + key not in stop:
            leaves.update(_leaves(value, stop, f"{prefix}{key}."))
        else:
            leaves[prefix + key] = value
    return leaves


def test_the_config_reference_has_every_key_with_its_default():
    from convergan.config.schema import Config, config_to_dict

    rows = {key: (kind, default) for key, kind, default, _, _ in reference.config_rows()}
    specs = {key for key, (kind, _) in rows.items() if kind == "spec"}
    assert {"method", "scheme"} <= specs
    written = _leaves(config_to_dict(Config()), specs)
    assert set(rows) == set(written)
    for key, value in written.items():
        shown = "null" if value is None else str(list(value) if isinstance(value, tuple) else value)
        assert rows[key][1] == shown.replace("'", ""), key
    page = reference.config_reference()
    assert all(f"| `{key}` |" in page for key in written)
    assert "| `optim.d.lr` | float or Schedule | `0.0001` | > 0 |" in page or "optim.d" in specs


def test_the_config_reference_has_every_schemes_parameters():
    import dataclasses

    from convergan.registry import SCHEMES

    page = reference.config_reference()
    for name in SCHEMES:
        assert f"#### `{name}`" in page, name
        for field in dataclasses.fields(SCHEMES[name]):
            if field.init and field.name not in ("lr", "lr_g", "lr_d"):
                assert f"| `scheme.{field.name}` |" in page, (name, field.name)
    assert "| `scheme.d_steps` | int | `1` |" in page


def test_the_config_reference_carries_the_schemas_comments():
    rows = {key: meaning for key, _, _, _, meaning in reference.config_rows()}
    assert rows["train.steps"] == "generator updates in the whole run"
    # a comment above the key and one beside it are both kept
    assert rows["eval.features"].startswith("Feature extractor for image metrics")


def test_the_registry_reference_has_every_entry_and_its_description():
    from convergan.registry import REGISTRIES

    page = reference.registry_reference()
    for key, registry in REGISTRIES.items():
        assert f"### `{key.upper()}`" in page
        for entry in registry.entries():
            escaped = entry.description.replace("|", "\\|")
            assert f"| `{entry.name}` | {escaped} |" in page, entry.name


@pytest.mark.parametrize(
    "package",
    sorted(
        re.search(r"<!-- generated: api ([\w.]+) -->", p.read_text()).group(1)
        for p in (DOCS / "reference" / "api").glob("*.md")
        if "generated: api" in p.read_text()
    ),
)
def test_the_api_reference_documents_each_public_name_where_it_is_defined(package):
    blocks = reference.api_reference(package)
    module = importlib.import_module(package)
    targets = re.findall(r"^::: ([\w.]+)$", blocks, flags=re.M)
    documented = {t.rsplit(".", 1)[1] for t in targets}
    assert documented == {n for n in module.__all__ if not n.isupper()}
    for target in targets:
        where, attribute = target.rsplit(".", 1)
        value = getattr(importlib.import_module(where), attribute)
        assert value is getattr(module, attribute), target
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == where, target


def test_the_generators_replace_only_their_markers():
    page = "# Title\n\n<!-- generated: api convergan.games -->\n\ntext\n"
    rendered = reference.render(page)
    assert rendered.startswith("# Title\n\n::: convergan.games.dirac.")
    assert rendered.endswith("\ntext\n") and "<!-- generated" not in rendered
