"""The Dirac verdict of a method and a scheme (analysis/dirac_verdict.py), below runs and
studies: typed parts in, the analysis' verdict out; a stored config read once into them."""

from __future__ import annotations

from convergan import AltGD, SimGD, analyze, dirac_gan
from convergan.analysis.dirac_verdict import dirac_verdict
from convergan.methods.parse import parse_method
from convergan.studies.theory import dirac_verdict as stored_config_verdict


def test_the_verdict_is_the_analysis_verdict():
    spec, scheme = parse_method({"name": "r1", "gamma": 1.0}), SimGD(lr=0.5)
    verdict = dirac_verdict(spec, scheme)
    result = analyze(dirac_gan(), spec.build(), scheme)
    assert verdict.verdict == result.verdict == "converges"
    assert verdict.spectral_radius == result.spectral_radius == 0.75  # |1 - h/2| at h = 0.5
    assert verdict.regular and verdict.text == "converges (ρ = 0.75)"


def test_cached_by_value_not_by_identity():
    first = dirac_verdict(parse_method({"name": "r1", "gamma": 0.3}), AltGD(lr=0.2))
    again = dirac_verdict(parse_method({"name": "r1", "gamma": 0.3}), AltGD(lr=0.2))
    other = dirac_verdict(parse_method({"name": "r1", "gamma": 0.3}), AltGD(lr=0.3))
    assert again is first and other is not first


def test_refused_parts_give_none():
    # one period of 20,001 moves: beyond the analysis' limit (a ValueError)
    assert dirac_verdict(parse_method({"name": "r1"}), AltGD(lr=0.1, d_steps=20_000)) is None


def test_no_regular_equilibrium_counts_trajectories():
    verdict = dirac_verdict(parse_method({"name": "wgan-gp"}), SimGD(lr=0.1))
    assert not verdict.regular and verdict.spectral_radius is None
    assert verdict.verdict.startswith("no regular equilibrium; trajectories: ")


def test_stored_config_takes_the_optimizers_rates_at_the_end_of_training():
    config = {
        "method": {"name": "r1", "gamma": 1.0},
        "scheme": {"name": "simgd"},
        "optim": {"g": {"name": "sgd", "lr": 0.5}, "d": {"name": "sgd", "lr": 0.5}},
    }
    verdict = stored_config_verdict(config)
    assert verdict.verdict == "converges" and verdict.spectral_radius == 0.75
    assert stored_config_verdict({"method": "no-such-method"}) is None
