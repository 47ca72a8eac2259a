"""The registered names, for ``--help`` epilogs (read from the registries, never copied)."""

from __future__ import annotations

from convergan.registry import (
    ARCHITECTURES,
    IMAGE_DATASETS,
    LOSSES,
    METHODS,
    METRICS,
    OPTIMIZERS,
    PENALTIES,
    PROBLEMS_2D,
    SCHEMES,
)

_PARTS = (
    ("losses", LOSSES, "method.loss=NAME"),
    ("penalties", PENALTIES, "method.penalties=[r1:10,r2:10]"),
)
# `dirac` takes --method/--scheme/--lazy flags as well as overrides; `train` overrides only.
ANALYSIS_KINDS = (
    ("presets", METHODS, "method=NAME or --method NAME"),
    *_PARTS,
    ("schemes", SCHEMES, "--scheme NAME; lazy regularization: --lazy K"),
)
TRAINING_KINDS = (
    ("presets", METHODS, "method=NAME"),
    *_PARTS,
    ("schemes", SCHEMES, "scheme=NAME; lazy regularization: scheme.lazy_every=K"),
    ("optimizers", OPTIMIZERS, "optim.d.name=NAME"),
    ("2D problems", PROBLEMS_2D, "data.name=NAME"),
    ("image datasets", IMAGE_DATASETS, "data.name=NAME"),
    ("architectures", ARCHITECTURES, "model.name=NAME"),
    ("metrics", METRICS, "eval.metrics=[NAME,...]"),
)


def registered_names(kinds=TRAINING_KINDS) -> str:
    """``kind  names  (how to choose one)`` lines; plugins add to them (``plugins=[file.py]``)."""
    width = max(len(label) for label, _, _ in kinds)
    lines = ["registered names (a plugin module adds its own: plugins=[my_parts.py]):"]
    for label, registry, usage in kinds:
        lines.append(f"  {label:<{width}}  {', '.join(registry.names())}   ({usage})")
    return "\n".join(lines)
