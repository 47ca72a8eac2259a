import os

import pytest
import torch
from hypothesis import HealthCheck, settings

os.environ.setdefault("MPLBACKEND", "Agg")
# Under pytest-xdist (`make test`, `make test-fast`) each worker has one core of its own; a
# single run uses up to two. The tests' tensors are small: more threads only contend.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))

# Hypothesis: in CI (the ``CI`` variable set) every run draws the same examples (derandomize:
# a seed fixed per test), reads no example database and prints the blob that replays a
# failure; nothing depends on the clock (no deadline, no too-slow health check), so a loaded
# runner cannot fail a test. Locally ("dev") each run explores new examples and replays the
# failures it saved. `pytest --hypothesis-profile=ci` picks a profile by hand.
DEFAULTS = settings.get_profile("default")  # not whatever profile Hypothesis chose itself
settings.register_profile(
    "ci",
    DEFAULTS,
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", DEFAULTS, print_blob=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
