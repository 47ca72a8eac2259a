"""Named methods shared by the Dirac CLI and the trainer's configs (``method=r1``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from convergan.methods.consensus import Consensus
from convergan.methods.constraints import WeightClip
from convergan.methods.losses import NonSaturatingLoss, StandardLoss, WassersteinLoss
from convergan.methods.method import Method
from convergan.methods.noise import InstanceNoise
from convergan.methods.penalties import r1, r2, wgan_gp


@dataclass(frozen=True)
class Preset:
    """A named method: its factory, the hyperparameters it takes and their defaults."""

    name: str
    description: str
    build: Callable[..., Method]
    defaults: dict[str, float]


def _preset(name: str, description: str, **defaults: float):
    def register(build: Callable[..., Method]) -> Callable[..., Method]:
        PRESETS[name] = Preset(name, description, build, defaults)
        return build

    return register


PRESETS: dict[str, Preset] = {}


@_preset("gan", "unregularized GAN (saturating loss)")
def _gan() -> Method:
    return Method(StandardLoss())


@_preset("nsgan", "unregularized non-saturating GAN")
def _nsgan() -> Method:
    return Method(NonSaturatingLoss())


@_preset("wgan", "WGAN with weight clipping |w| <= clip", clip=1.0)
def _wgan(clip: float) -> Method:
    return Method(WassersteinLoss(), clip=WeightClip(clip))


@_preset(
    "wgan-gp", "WGAN-GP: (gamma/2) E(|grad D| - target)^2 at interpolates", gamma=1.0, target=1.0
)
def _wgan_gp(gamma: float, target: float) -> Method:
    return Method(WassersteinLoss(), penalties=(wgan_gp(gamma, target),))


@_preset("consensus", "consensus optimization on the saturating GAN", gamma=1.0)
def _consensus(gamma: float) -> Method:
    return Method(StandardLoss(), consensus=Consensus(gamma))


@_preset("instance-noise", "saturating GAN with Gaussian instance noise N(0, sigma^2)", sigma=1.0)
def _instance_noise(sigma: float) -> Method:
    return Method(StandardLoss(), noise=InstanceNoise(sigma))


@_preset("r1", "saturating GAN + R1 = (gamma/2) E_data |grad_x D|^2", gamma=1.0)
def _r1(gamma: float) -> Method:
    return Method(StandardLoss(), penalties=(r1(gamma),))


@_preset("r2", "saturating GAN + R2 = (gamma/2) E_generator |grad_x D|^2", gamma=1.0)
def _r2(gamma: float) -> Method:
    return Method(StandardLoss(), penalties=(r2(gamma),))


@_preset("nsgan-r1", "non-saturating GAN + R1", gamma=1.0)
def _nsgan_r1(gamma: float) -> Method:
    return Method(NonSaturatingLoss(), penalties=(r1(gamma),))


class UnknownMethodError(ValueError):
    pass


def make_method(name: str, **params: float | None) -> Method:
    """Build the preset ``name``; ``params`` the preset does not take must be ``None``.

    >>> make_method("r1", gamma=10.0).penalties[0].gamma
    10.0
    """
    if name not in PRESETS:
        raise UnknownMethodError(f"unknown method {name!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    given = {k: v for k, v in params.items() if v is not None}
    unused = sorted(set(given) - set(preset.defaults))
    if unused:
        takes = ", ".join(preset.defaults) or "no parameters"
        raise UnknownMethodError(
            f"method {name!r} does not take {', '.join(unused)} (it takes {takes})"
        )
    return preset.build(**{**preset.defaults, **given}).with_name(name)
