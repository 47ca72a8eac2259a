"""Every shipped image config with a gradient penalty has the strength of the source it follows
(issue 10, item 6), read off the penalty it builds, not off its comments.

The R1 configs follow the paper's text, γ = 10 on R1 = (γ/2)·E‖∇D(x)‖² (Mescheder et al. 2018,
§5); the WGAN-GP config follows Gulrajani et al. (2017), λ = 10 on λ·E(‖∇D(x̂)‖ − 1)². With a
linear discriminator D(x) = w·x + c the gradient is w everywhere, so both are known by hand."""

from pathlib import Path

import pytest
import torch

from convergan.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
PENALISED = sorted(
    p
    for p in CONFIGS.glob("*/*.yaml")
    if p.parent.name != "toy2d" and ("r1" in p.stem or "wgangp" in p.stem)
)


def test_there_are_penalised_configs():
    assert len(PENALISED) >= 6


@pytest.mark.parametrize("path", PENALISED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_penalty_has_its_sources_strength(path):
    torch.manual_seed(0)
    discriminator = torch.nn.Linear(5, 1).double()
    real, fake = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    interpolation = torch.rand(4, dtype=torch.float64)
    (penalty,) = load_config(path).method.build().penalties
    value = float(penalty(discriminator, real, fake, interpolation).detach())
    norm = float(discriminator.weight.detach().norm())
    if "wgangp" in path.stem:
        assert value == pytest.approx(10 * (norm - 1) ** 2, rel=1e-12)  # λ = 10
    else:
        assert value == pytest.approx(10 / 2 * norm**2, rel=1e-12)  # the paper's γ = 10
