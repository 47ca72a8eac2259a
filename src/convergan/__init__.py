"""convergan: does this GAN training method converge?

Every training method is defined once (:mod:`convergan.methods`); the exact analysis
(:mod:`convergan.analysis`) differentiates that code on small games (:mod:`convergan.games`)
and the trainer runs it on real networks. Update schemes live in :mod:`convergan.schemes`.
"""

from convergan.analysis import analyze, simulate, stability_map
from convergan.field import GameField, game_field
from convergan.games import dirac_gan
from convergan.methods import Method, MethodSpec, make_method, parse_method
from convergan.schemes import AltGD, Extragradient, Lazy, Optimistic, SimGD, lazy

__version__ = "0.1.0"

__all__ = [
    "AltGD",
    "Extragradient",
    "GameField",
    "Lazy",
    "Method",
    "MethodSpec",
    "Optimistic",
    "SimGD",
    "analyze",
    "dirac_gan",
    "game_field",
    "lazy",
    "make_method",
    "parse_method",
    "simulate",
    "stability_map",
]
