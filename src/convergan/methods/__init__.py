"""Training methods, each defined once: losses, penalties, noise, constraints, consensus."""

from convergan.methods.batch import Batch, weighted_mean
from convergan.methods.consensus import Consensus
from convergan.methods.constraints import WeightClip
from convergan.methods.losses import (
    GANLoss,
    HingeLoss,
    LeastSquaresLoss,
    NonSaturatingLoss,
    StandardLoss,
    WassersteinLoss,
)
from convergan.methods.method import Method, PlayerLoss
from convergan.methods.noise import InstanceNoise
from convergan.methods.penalties import GradientPenalty, input_gradient, r1, r2, wgan_gp, zero_gp
from convergan.methods.presets import UnknownMethodError, make_method, preset_spec
from convergan.methods.spec import MethodSpec, NoiseSpec, PenaltySpec, parse_method, penalty

__all__ = [
    "Batch",
    "Consensus",
    "GANLoss",
    "GradientPenalty",
    "HingeLoss",
    "InstanceNoise",
    "LeastSquaresLoss",
    "Method",
    "MethodSpec",
    "NoiseSpec",
    "PenaltySpec",
    "NonSaturatingLoss",
    "PlayerLoss",
    "StandardLoss",
    "UnknownMethodError",
    "WassersteinLoss",
    "WeightClip",
    "input_gradient",
    "make_method",
    "parse_method",
    "penalty",
    "preset_spec",
    "r1",
    "r2",
    "wgan_gp",
    "weighted_mean",
    "zero_gp",
]
