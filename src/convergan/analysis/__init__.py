"""Exact analysis: local (Jacobians, spectral radius, verdicts), trajectories, stability maps."""

from convergan.analysis.local import (
    LocalAnalysis,
    analyze,
    field_jacobian,
    is_regular_equilibrium,
    linearized_update_jacobian,
    max_stable_lr_scale,
    spectral_radius,
    update_jacobian,
    verdict,
)
from convergan.analysis.stability import StabilityMap, field_jacobians_over, stability_map
from convergan.analysis.trajectories import Trajectories, simulate, trajectory_verdict

__all__ = [
    "LocalAnalysis",
    "StabilityMap",
    "Trajectories",
    "analyze",
    "field_jacobian",
    "field_jacobians_over",
    "is_regular_equilibrium",
    "linearized_update_jacobian",
    "max_stable_lr_scale",
    "simulate",
    "spectral_radius",
    "stability_map",
    "trajectory_verdict",
    "update_jacobian",
    "verdict",
]
