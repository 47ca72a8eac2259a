"""Update schemes (:mod:`convergan.schemes.core`) and scheme specs (:mod:`.spec`)."""

from convergan.reexport import lazy_exports

# Imported on first use (torch comes with most of them); see convergan.reexport.
_EXPORTS = {
    "AltGD": "convergan.schemes.core",
    "Extragradient": "convergan.schemes.core",
    "Lazy": "convergan.schemes.core",
    "Optimistic": "convergan.schemes.core",
    "Rate": "convergan.schemes.core",
    "Scheme": "convergan.schemes.core",
    "SchemeSpec": "convergan.schemes.spec",
    "SchemeState": "convergan.schemes.core",
    "SimGD": "convergan.schemes.core",
    "combined_period": "convergan.schemes.core",
    "lazy": "convergan.schemes.core",
    "move_all": "convergan.schemes.core",
    "move_player": "convergan.schemes.core",
    "parse_scheme": "convergan.schemes.spec",
}

__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
