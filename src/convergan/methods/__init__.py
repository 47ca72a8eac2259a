"""Training methods, each defined once: losses, penalties, noise, constraints, consensus."""

from convergan.methods.batch import Batch, weighted_mean
from convergan.methods.consensus import Consensus
from convergan.methods.constraints import WeightClip
from convergan.methods.losses import (
    GANLoss,
    HingeLoss,
    NonSaturatingLoss,
    StandardLoss,
    WassersteinLoss,
)
from convergan.methods.method import Method, PlayerLoss
from convergan.methods.noise import InstanceNoise
from convergan.methods.penalties import GradientPenalty, input_gradient, r1, r2, wgan_gp, zero_gp
from convergan.methods.presets import PRESETS, UnknownMethodError, make_method

__all__ = [
    "Batch",
    "Consensus",
    "GANLoss",
    "GradientPenalty",
    "HingeLoss",
    "InstanceNoise",
    "Method",
    "NonSaturatingLoss",
    "PRESETS",
    "PlayerLoss",
    "StandardLoss",
    "UnknownMethodError",
    "WassersteinLoss",
    "WeightClip",
    "input_gradient",
    "make_method",
    "r1",
    "r2",
    "wgan_gp",
    "weighted_mean",
    "zero_gp",
]
