import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def isolated_registries():
    """Plugins loaded by a test (in-process CLI calls included) are forgotten after it, so the
    registries other test files see hold the built-in names only."""
    import sys

    from convergan.registry import REGISTRIES

    for registry in REGISTRIES.values():
        registry.names()  # populate the built-ins first
    saved = {key: dict(r._entries) for key, r in REGISTRIES.items()}
    modules = set(sys.modules)
    yield
    for key, registry in REGISTRIES.items():
        registry._entries = saved[key]
    for name in set(sys.modules) - modules:
        if name.startswith("convergan_plugin_"):
            del sys.modules[name]
