"""Importing a user's parts: plugin modules or ``.py`` files named in a config, and the
``convergan.plugins`` entry points of installed packages. Importing a plugin registers its
parts in :mod:`convergan.registry`; loading twice is harmless.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

ENTRY_POINT_GROUP = "convergan.plugins"

_loaded_entry_points = False


class PluginError(ValueError):
    """A plugin could not be imported; one line naming it."""


def load_plugins(plugins: tuple[str, ...] | list[str], base: Path | None = None) -> None:
    """Import user modules that register parts, plus every ``convergan.plugins`` entry point.

    Each plugin is a module path (``mypkg.lsgan``) or a ``.py`` file (relative to ``base``,
    then to the working directory). Importing twice is harmless.
    """
    global _loaded_entry_points
    if not _loaded_entry_points:
        _loaded_entry_points = True
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                point.load()
            except Exception as error:  # a broken installed plugin must not hide the others
                raise PluginError(f"plugin entry point {point.name!r} failed: {error}") from None
    for plugin in plugins:
        _import_plugin(str(plugin), base)


def _import_plugin(plugin: str, base: Path | None) -> None:
    if plugin.endswith(".py"):
        candidates = [Path(plugin)] if base is None else [base / plugin, Path(plugin)]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise PluginError(f"plugin file not found: {plugin}")
        name = f"convergan_plugin_{path.resolve().stem}_{abs(hash(str(path.resolve())))}"
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SystemExit as error:  # would end the command silently with the plugin's code
            del sys.modules[name]
            raise PluginError(
                f"plugin {plugin} called sys.exit({error.code!r}) at import"
            ) from None
        except Exception as error:
            del sys.modules[name]
            raise PluginError(f"plugin {plugin} failed to import: {error}") from None
        return
    try:
        importlib.import_module(plugin)
    except SystemExit as error:
        raise PluginError(f"plugin {plugin!r} called sys.exit({error.code!r}) at import") from None
    except ImportError as error:
        raise PluginError(f"cannot import plugin {plugin!r}: {error}") from None
