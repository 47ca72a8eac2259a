"""convergan: does this GAN training method converge?

Every training method is defined once (:mod:`convergan.methods`); the exact analysis
(:mod:`convergan.analysis`) differentiates that code on small games (:mod:`convergan.games`)
and the trainer runs it on real networks. Update schemes live in :mod:`convergan.schemes`.
"""

from convergan.reexport import lazy_exports

# Imported on first use (torch comes with most of them); see convergan.reexport.
_EXPORTS = {
    "AltGD": "convergan.schemes",
    "Extragradient": "convergan.schemes",
    "GameField": "convergan.field",
    "Lazy": "convergan.schemes",
    "Method": "convergan.methods",
    "MethodSpec": "convergan.methods",
    "Optimistic": "convergan.schemes",
    "SimGD": "convergan.schemes",
    "analyze": "convergan.analysis",
    "dirac_gan": "convergan.games",
    "game_field": "convergan.field",
    "lazy": "convergan.schemes",
    "make_method": "convergan.methods",
    "parse_method": "convergan.methods",
    "simulate": "convergan.analysis",
    "stability_map": "convergan.analysis",
}

__version__ = "0.1.0"

__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
