"""Training methods, each defined once: losses, penalties, noise, constraints, consensus."""

from convergan.reexport import lazy_exports

# Imported on first use (torch comes with most of them); see convergan.reexport.
_EXPORTS = {
    "AdversarialLoss": "convergan.methods.losses",
    "Batch": "convergan.methods.batch",
    "Consensus": "convergan.methods.consensus",
    "GANLoss": "convergan.methods.losses",
    "GradientPenalty": "convergan.methods.penalties",
    "HingeLoss": "convergan.methods.losses",
    "InstanceNoise": "convergan.methods.noise",
    "LeastSquaresLoss": "convergan.methods.losses",
    "Method": "convergan.methods.method",
    "MethodSpec": "convergan.methods.spec",
    "NoiseSpec": "convergan.methods.spec",
    "PenaltySpec": "convergan.methods.spec",
    "NonSaturatingLoss": "convergan.methods.losses",
    "PairedLoss": "convergan.methods.losses",
    "PlayerLoss": "convergan.methods.method",
    "RelativisticAverageLoss": "convergan.methods.relativistic",
    "RelativisticPairingLoss": "convergan.methods.relativistic",
    "StandardLoss": "convergan.methods.losses",
    "UnknownMethodError": "convergan.methods.presets",
    "WassersteinLoss": "convergan.methods.losses",
    "WeightClip": "convergan.methods.constraints",
    "input_gradient": "convergan.methods.penalties",
    "make_method": "convergan.methods.presets",
    "pairs": "convergan.methods.batch",
    "parse_method": "convergan.methods.parse",
    "penalty": "convergan.methods.spec",
    "preset_spec": "convergan.methods.presets",
    "r1": "convergan.methods.penalties",
    "r2": "convergan.methods.penalties",
    "wgan_gp": "convergan.methods.penalties",
    "weighted_mean": "convergan.methods.batch",
    "zero_gp": "convergan.methods.penalties",
}

__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
