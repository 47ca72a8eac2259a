"""torch-fidelity's Inception-v3 module, importable with or without a working torchvision.

torch-fidelity (Obukhov et al., https://github.com/toshas/torch-fidelity) ports the TensorFlow
Inception graph used for published FID/IS numbers bit-exactly, including TF1's bilinear
resize. Its ``feature_extractor_inceptionv3`` module needs only torch, but the package's
``__init__`` also imports its CLIP, VGG and DINOv2 extractors, which ``import torchvision``.

PyPI has only CUDA builds of torchvision. Beside a CPU torch their compiled operators do not
load and ``import torchvision`` raises ("operator torchvision::nms does not exist"); so on a CPU
install the Makefile leaves torchvision out and installs torch-fidelity with ``--no-deps``.
There, :func:`ensure_importable` registers ``torch_fidelity`` as a bare package (its
``__init__`` not run) so that its torchvision-free submodules import as usual, for us and for
torchmetrics (whose ``torchmetrics.image.fid`` imports torch-fidelity's Inception whenever the
distribution is installed). Where torchvision imports (a CUDA torch with its matching
torchvision), the real package is used unchanged.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

__all__ = ["ensure_importable", "inception_module", "torchvision_available"]

_PACKAGE = "torch_fidelity"


def torchvision_available() -> bool:
    """Whether ``import torchvision`` succeeds (checked without importing it when absent)."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        importlib.import_module("torchvision")
    except Exception:  # a CUDA build beside a CPU torch raises RuntimeError at import
        return False
    return True


def ensure_importable() -> bool:
    """Make ``torch_fidelity.feature_extractor_inceptionv3`` importable; return False when
    torch-fidelity is not installed. Idempotent and cheap after the first call."""
    if _PACKAGE in sys.modules:
        return True
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return False
    if torchvision_available():
        importlib.import_module(_PACKAGE)
        return True
    # The package without its __init__: submodules load from the same folder, and only the
    # torchvision-free ones (Inception, helpers, TF-compatible interpolation) are used.
    bare = importlib.machinery.ModuleSpec(_PACKAGE, None, is_package=True)
    bare.submodule_search_locations = list(spec.submodule_search_locations)
    sys.modules[_PACKAGE] = importlib.util.module_from_spec(bare)
    return True


def inception_module() -> ModuleType:
    """``torch_fidelity.feature_extractor_inceptionv3``; ImportError (one line) if missing."""
    if not ensure_importable():
        raise ImportError(
            "torch-fidelity is not installed: `make install` installs it, or "
            "`pip install --no-deps torch-fidelity` beside a CPU torch"
        )
    return importlib.import_module(f"{_PACKAGE}.feature_extractor_inceptionv3")
