"""Update schemes (:mod:`convergan.schemes.core`) and scheme specs (:mod:`.spec`)."""

from convergan.schemes.core import (
    AltGD,
    Extragradient,
    Lazy,
    Optimistic,
    Rate,
    Scheme,
    SchemeState,
    SimGD,
    combined_period,
    lazy,
    move_all,
    move_player,
)
from convergan.schemes.spec import SchemeSpec, parse_scheme

__all__ = [
    "AltGD",
    "Extragradient",
    "Lazy",
    "Optimistic",
    "Rate",
    "Scheme",
    "SchemeSpec",
    "SchemeState",
    "SimGD",
    "combined_period",
    "lazy",
    "move_all",
    "move_player",
    "parse_scheme",
]
