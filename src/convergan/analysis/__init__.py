"""Exact analysis: local (Jacobians, spectral radius, verdicts), trajectories, stability maps."""

from convergan.reexport import lazy_exports

# Imported on first use (torch comes with them); see convergan.reexport.
_EXPORTS = {
    "LocalAnalysis": "convergan.analysis.local",
    "StabilityMap": "convergan.analysis.stability",
    "Trajectories": "convergan.analysis.trajectories",
    "analyze": "convergan.analysis.local",
    "field_jacobian": "convergan.analysis.local",
    "field_jacobians_over": "convergan.analysis.stability",
    "is_regular_equilibrium": "convergan.analysis.local",
    "linearized_update_jacobian": "convergan.analysis.operators",
    "max_stable_lr_scale": "convergan.analysis.stable_rates",
    "stable_lr_intervals": "convergan.analysis.stable_rates",
    "simulate": "convergan.analysis.trajectories",
    "spectral_radius": "convergan.analysis.operators",
    "stability_map": "convergan.analysis.stability",
    "trajectory_verdict": "convergan.analysis.trajectories",
    "update_jacobian": "convergan.analysis.operators",
    "verdict": "convergan.analysis.operators",
}

__all__ = list(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
