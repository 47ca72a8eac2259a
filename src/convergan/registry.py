"""One registry per kind of part: every list of names in convergan is read from here.

A registry maps a name to an object (a class or a factory) and a one-line description. The
config schema's choices, the command line's choices, ``--help`` texts and the README tables
all read the registry, so an entry registered once is accepted everywhere::

    from convergan.registry import LOSSES

    @LOSSES.register("least-squares", description="LSGAN (Mao et al., 2017)")
    class LeastSquaresLoss(GANLoss): ...

Built-in entries are registered on the first look-up, so importing a registry costs nothing.
A registry's built-ins either come from a light module that registers them (its ``builtins``
module, imported then), or, for parts defined in modules that import torch, are *declared*
here by name, description and ``"module:attribute"`` (``declared``): their names and
descriptions are known without importing the defining module, which is imported when an
entry's value is first asked for. That is what lets ``convergan --help`` list every name
without importing torch. A user's parts live in their own module, named in a config (``plugins:
[mypkg.lsgan]`` or a ``.py`` file) or declared as a ``convergan.plugins`` entry point; see
:func:`load_plugins`.

This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from convergan.plugin_loading import load_plugins

T = TypeVar("T")


class UnknownNameError(ValueError):
    """A name no registry entry has; the message is one line with the valid names."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    value: T
    description: str


@dataclass(frozen=True)
class _Declared:
    """The value of a declared entry before its module is imported: ``"module:attribute"``."""

    target: str

    def load(self) -> Any:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


class Registry(Generic[T]):
    """Names of one kind of part (``kind`` is used in messages, e.g. "loss").

    ``builtins`` is a light module that registers the built-in entries; it is imported before
    the first look-up. ``declared`` maps a built-in name to ``("module:attribute",
    description)``; the module is imported when that entry's value is first needed.
    """

    def __init__(
        self,
        kind: str,
        builtins: str | None = None,
        declared: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.kind = kind
        self._builtins = builtins
        self._populated = False
        self._entries: dict[str, Entry[T]] = {
            name: Entry(name, _Declared(target), description)
            for name, (target, description) in (declared or {}).items()
        }

    def _populate(self) -> None:
        if not self._populated:
            self._populated = True
            if self._builtins is not None:
                importlib.import_module(self._builtins)
            load_plugins(())  # entry points declared by installed packages

    def register(
        self, name: str, value: T | None = None, *, description: str = "", replace: bool = False
    ) -> Any:
        """Register ``value`` as ``name``; without ``value``, a decorator.

        Registering a taken name is an error unless ``replace=True`` (or it is the same
        object, so that re-importing a plugin module is harmless).
        """
        if value is None:

            def decorator(obj: T) -> T:
                self.register(name, obj, description=description, replace=replace)
                return obj

            return decorator
        if not name or any(c.isspace() for c in name) or ":" in name:
            raise ValueError(
                f"{self.kind} name {name!r}: use a non-empty name without spaces or ':'"
            )
        old = self._entries.get(name)
        if isinstance(getattr(old, "value", None), _Declared):
            old = self.entry(name)  # compare with the declared object, not its address
        if old is not None and not replace and not _same(old.value, value):
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True)")
        text = description or _first_line(getattr(value, "__doc__", None)) or name
        self._entries[name] = Entry(name, value, text)
        return value

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def entry(self, name: str) -> Entry[T]:
        self._populate()
        if name not in self._entries:
            raise UnknownNameError(self.unknown(name))
        entry = self._entries[name]
        if isinstance(entry.value, _Declared):
            entry = Entry(name, entry.value.load(), entry.description)
            self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        return self.entry(name).value

    def __contains__(self, name: object) -> bool:
        self._populate()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> tuple[str, ...]:
        self._populate()
        return tuple(self._entries)

    def entries(self) -> tuple[Entry[T], ...]:
        return tuple(self.entry(name) for name in self.names())

    def unknown(self, name: str) -> str:
        """The one-line message for a name that is not registered."""
        names = self.names()
        hint = did_you_mean(str(name), list(names))
        return f"unknown {self.kind} {name!r}{hint}; choose one of {', '.join(names)}"

    def help(self) -> str:
        """``name: description; ...`` for ``--help`` texts."""
        self._populate()  # descriptions only: declared entries stay unimported
        return "; ".join(f"{e.name}: {e.description}" for e in self._entries.values())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


def did_you_mean(word: str, candidates: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def show(value: Any) -> str:
    """A short ``repr`` with the type, for one-line error messages."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    # The same class or function defined again by re-executing its module (a plugin file
    # imported twice) is the same entry.
    return getattr(a, "__qualname__", None) == getattr(b, "__qualname__", 0) and getattr(
        a, "__module__", None
    ) == getattr(b, "__module__", 0)


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


# ------------------------------------------------------------------------------ registries

# Parts defined in modules that import torch are declared here (name, where, description);
# the defining module does not register them again.
LOSSES: Registry[Callable[..., Any]] = Registry(
    "loss",
    declared={
        "saturating": (
            "convergan.methods.losses:StandardLoss",
            "the original GAN: G minimises log(1 - sigmoid(D(G(z))))",
        ),
        "nonsaturating": (
            "convergan.methods.losses:NonSaturatingLoss",
            "non-saturating GAN: G minimises -log sigmoid(D(G(z)))",
        ),
        "wgan": (
            "convergan.methods.losses:WassersteinLoss",
            "Wasserstein: D maximises E D(x) - E D(G(z))",
        ),
        "hinge": (
            "convergan.methods.losses:HingeLoss",
            "hinge D loss with the Wasserstein G term (SNGAN, BigGAN)",
        ),
        "least-squares": (
            "convergan.methods.losses:LeastSquaresLoss",
            "LSGAN (Mao et al., 2017): D regresses real to 1, fake to 0",
        ),
        "rpgan": (
            "convergan.methods.relativistic:RelativisticPairingLoss",
            "relativistic pairing (R3GAN): D minimises softplus(D(G(z)) - D(x)) per real-fake pair",
        ),
        "ragan": (
            "convergan.methods.relativistic:RelativisticAverageLoss",
            "relativistic average GAN (Jolicoeur-Martineau, 2019): each sample against the "
            "other side's mean D",
        ),
        "ragan-hinge": (
            "convergan.methods.relativistic:RelativisticAverageHingeLoss",
            "relativistic average hinge loss (RaHingeGAN)",
        ),
        "ragan-least-squares": (
            "convergan.methods.relativistic:RelativisticAverageLeastSquaresLoss",
            "relativistic average least squares (RaLSGAN)",
        ),
    },
)
PENALTIES: Registry[Callable[..., Any]] = Registry(
    "penalty",
    declared={
        "r1": (
            "convergan.methods.penalties:r1",
            "(gamma/2) E_data |grad_x D|^2 (Mescheder et al., 2018)",
        ),
        "r2": ("convergan.methods.penalties:r2", "(gamma/2) E_generator |grad_x D|^2"),
        "wgan-gp": (
            "convergan.methods.penalties:wgan_gp",
            "(gamma/2) E_interpolates (|grad_x D| - target)^2, target 1 by default",
        ),
        "zero-gp": (
            "convergan.methods.penalties:zero_gp",
            "(gamma/2) E_interpolates |grad_x D|^2 (zero-centred GP)",
        ),
    },
)
METHODS: Registry[Any] = Registry("method", "convergan.methods.presets")
SCHEMES: Registry[type] = Registry(
    "scheme",
    declared={
        "simgd": (
            "convergan.schemes.core:SimGD",
            "simultaneous gradient descent: x <- x + h v(x)",
        ),
        "altgd": (
            "convergan.schemes.core:AltGD",
            "alternating: g_steps G steps, then d_steps D steps (or D first)",
        ),
        "extragradient": (
            "convergan.schemes.core:Extragradient",
            "extragradient: x <- x + h v(x + h v(x))",
        ),
        "optimistic": (
            "convergan.schemes.core:Optimistic",
            "optimistic GD: x + 2h v(x_k) - h v(x_{k-1})",
        ),
    },
)
OPTIMIZERS: Registry[type] = Registry(
    "optimizer",
    declared={
        "sgd": (
            "convergan.optimizers:SGD",
            "SGD with optional heavy-ball momentum (torch.optim.SGD)",
        ),
        "adam": ("convergan.optimizers:Adam", "Adam (Kingma & Ba, 2015; torch.optim.Adam)"),
        "rmsprop": (
            "convergan.optimizers:RMSprop",
            "RMSprop (Tieleman & Hinton, 2012; torch.optim.RMSprop)",
        ),
    },
)
PROBLEMS_2D: Registry[Callable[..., Any]] = Registry(
    "2D problem",
    declared={
        "gaussian": (
            "convergan.data.distributions_2d:Gaussian2D",
            "one isotropic Gaussian (absolutely continuous)",
        ),
        "line": ("convergan.data.distributions_2d:Line", "uniform on a segment (a 1D manifold)"),
        "circle": (
            "convergan.data.distributions_2d:Circle",
            "uniform on a circle (a closed 1D manifold)",
        ),
        "four-lines": (
            "convergan.data.distributions_2d:FourLines",
            "uniform on the four sides of a square",
        ),
        "ring8": (
            "convergan.data.distributions_2d:ring_of_gaussians",
            "8 Gaussians on a ring (mode coverage)",
        ),
        "grid25": (
            "convergan.data.distributions_2d:grid_of_gaussians",
            "25 Gaussians on a 5x5 grid (mode coverage)",
        ),
    },
)
IMAGE_DATASETS: Registry[Callable[..., Any]] = Registry(
    "image dataset",
    declared={
        "fashion-mnist": (
            "convergan.data.datasets:fashion_mnist",
            "Fashion-MNIST IDX files (default: the Debian package dataset-fashion-mnist)",
        ),
        "cifar10": (
            "convergan.data.datasets:cifar10",
            "CIFAR-10 python batches (cifar-10-batches-py)",
        ),
        "image-folder": (
            "convergan.data.datasets:image_folder",
            "a folder of images (labels from sub-folders)",
        ),
        "npy": ("convergan.data.datasets:npy", "a .npy array of images"),
    },
)
METRICS: Registry[Any] = Registry("metric", "convergan.metrics.catalog")
ARCHITECTURES: Registry[Callable[..., Any]] = Registry("architecture", "convergan.models")
# A problem family turns the names of one kind of data (each 2D problem, each image dataset,
# or a user's own kind) into :class:`~convergan.problems.Problem` objects; see problem_names.
PROBLEM_FAMILIES: Registry[Any] = Registry(
    "problem family",
    declared={
        "toy2d": ("convergan.problems.toy2d:FAMILY", "every registered 2D problem"),
        "images": ("convergan.problems.images:FAMILY", "every registered image dataset"),
        "dirac": ("convergan.problems.dirac:FAMILY", "the Dirac-GAN, data at 0 in R^d"),
        "fullbatch": (
            "convergan.problems.fullbatch:FAMILY",
            "<2D problem>-fullbatch: a fixed finite game, every step on all of it",
        ),
    },
)
# How a problem's samples are drawn (a scatter over D's contour, an image grid, ...): a
# function ``(path, real, fake, discriminator, title) -> path`` named by ``Problem.sample_view``.
SAMPLE_VIEWS: Registry[Callable[..., Any]] = Registry("sample view", "convergan.plots.views")

REGISTRIES: dict[str, Registry] = {
    "losses": LOSSES,
    "penalties": PENALTIES,
    "methods": METHODS,
    "schemes": SCHEMES,
    "optimizers": OPTIMIZERS,
    "problems_2d": PROBLEMS_2D,
    "image_datasets": IMAGE_DATASETS,
    "metrics": METRICS,
    "architectures": ARCHITECTURES,
    "problem_families": PROBLEM_FAMILIES,
    "sample_views": SAMPLE_VIEWS,
}


def problem_names() -> tuple[str, ...]:
    """Every name ``data.name`` may take: the names of every registered problem family (its
    ``names()``, read afresh, so a 2D problem or dataset registered later is included)."""
    return tuple(n for entry in PROBLEM_FAMILIES.entries() for n in entry.value.names())
