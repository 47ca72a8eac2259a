"""Named methods (``method=r1``), each a composition of registered parts.

A preset is a function from its hyperparameters to a :class:`~convergan.methods.spec.
MethodSpec`; it is registered in :data:`~convergan.registry.METHODS` with its defaults, so the
config schema, the command line, the Dirac table and the README read the same list. Each
default is read from the definition of the part the hyperparameter sets (:func:`defaults_of`),
so ``method=r1`` and ``method.penalties=[r1]`` have the same γ.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from convergan.methods.spec import (
    MethodSpec,
    NoiseSpec,
    defaults_of,
    penalty,
    penalty_defaults,
    register_preset,
)
from convergan.registry import METHODS, UnknownNameError

if TYPE_CHECKING:  # the Method (torch) is imported by make_method: listing presets stays light
    from convergan.methods.method import Method


def _part(module: str, name: str):
    """A part's class from ``convergan.methods.<module>``, imported when its defaults are
    first read (the parts import torch; listing presets must not)."""
    return getattr(importlib.import_module(f"convergan.methods.{module}"), name)


@register_preset("gan", "unregularized GAN (saturating loss)")
def _gan() -> MethodSpec:
    return MethodSpec(loss="saturating")


@register_preset("nsgan", "unregularized non-saturating GAN")
def _nsgan() -> MethodSpec:
    return MethodSpec(loss="nonsaturating")


@register_preset(
    "wgan",
    "WGAN with weight clipping |w| <= clip",
    defaults=lambda: defaults_of(_part("constraints", "WeightClip")),
)
def _wgan(clip: Any) -> MethodSpec:
    return MethodSpec(loss="wgan", clip=clip)


@register_preset(
    "wgan-gp",
    "WGAN-GP: (gamma/2) E(|grad D| - target)^2 at interpolates",
    defaults=lambda: penalty_defaults("wgan-gp"),
)
def _wgan_gp(gamma: Any, target: Any) -> MethodSpec:
    return MethodSpec(loss="wgan", penalties=(penalty("wgan-gp", gamma=gamma, target=target),))


@register_preset(
    "consensus",
    "consensus optimization on the saturating GAN",
    defaults=lambda: defaults_of(_part("consensus", "Consensus")),
)
def _consensus(gamma: Any) -> MethodSpec:
    return MethodSpec(loss="saturating", consensus=gamma)


@register_preset(
    "instance-noise",
    "saturating GAN with Gaussian instance noise N(0, sigma^2)",
    defaults=lambda: defaults_of(_part("noise", "InstanceNoise"), "sigma"),
)
def _instance_noise(sigma: Any) -> MethodSpec:
    return MethodSpec(loss="saturating", noise=NoiseSpec(sigma))


@register_preset(
    "r1",
    "saturating GAN + R1 = (gamma/2) E_data |grad_x D|^2",
    defaults=lambda: penalty_defaults("r1"),
)
def _r1(gamma: Any) -> MethodSpec:
    return MethodSpec(loss="saturating", penalties=(penalty("r1", gamma=gamma),))


@register_preset(
    "r2",
    "saturating GAN + R2 = (gamma/2) E_generator |grad_x D|^2",
    defaults=lambda: penalty_defaults("r2"),
)
def _r2(gamma: Any) -> MethodSpec:
    return MethodSpec(loss="saturating", penalties=(penalty("r2", gamma=gamma),))


@register_preset("nsgan-r1", "non-saturating GAN + R1", defaults=lambda: penalty_defaults("r1"))
def _nsgan_r1(gamma: Any) -> MethodSpec:
    return MethodSpec(loss="nonsaturating", penalties=(penalty("r1", gamma=gamma),))


@register_preset(
    "r3gan",
    "R3GAN (Huang et al., 2024): RpGAN loss + R1 + R2, both with one gamma",
    defaults=lambda: penalty_defaults("r1"),
)
def _r3gan(gamma: Any) -> MethodSpec:
    return MethodSpec(
        loss="rpgan", penalties=(penalty("r1", gamma=gamma), penalty("r2", gamma=gamma))
    )


class UnknownMethodError(UnknownNameError):
    pass


def preset_spec(name: str, **params: Any) -> MethodSpec:
    """The spec of preset ``name``; ``params`` it does not take must be ``None``.

    Values are not range-checked here, so they may be tensors (batched analysis); configs and
    the command line validate through :func:`~convergan.methods.parse.parse_method`.
    """
    if name not in METHODS:
        raise UnknownMethodError(METHODS.unknown(name))
    preset = METHODS[name]
    given = {k: v for k, v in params.items() if v is not None}
    unused = sorted(set(given) - set(preset.defaults))
    if unused:
        takes = ", ".join(preset.defaults) or "no parameters"
        raise UnknownMethodError(
            f"method {name!r} does not take {', '.join(unused)} (it takes {takes})"
        )
    return preset.spec(name, **given)


def make_method(name: str, **params: Any) -> Method:
    """Build the preset ``name``; ``params`` it does not take must be ``None``.

    >>> make_method("r1", gamma=10.0).penalties[0].gamma
    10.0
    """
    return preset_spec(name, **params).build()
