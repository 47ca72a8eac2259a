"""Words for numbers in what users read: ``1 sample``, ``2,000 samples``."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (``plural``: an irregular plural)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
