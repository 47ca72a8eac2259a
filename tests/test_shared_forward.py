"""The eager field computes both players' losses from one generator forward (and one pass of D
on the generated samples); its value and the products through its kept graph must be those
of the two losses computed apart.

The reference here is the field as two separate computations: each player's loss on its own
generator forward (``Method.generator_loss`` / ``Method.discriminator_loss``, each on freshly
bound players), one ``torch.autograd.grad`` per player, consensus as ``v − γ∇(½‖v‖²)`` written
out; ``Jᵀw`` is one backward of that reference field and ``J u`` the backward of a backward.
A ``w`` nonzero in one player's block only takes a backward through that player's field
alone, with the same product. Every registered loss, with every registered penalty, R1 + R2
together, instance noise and consensus, on a small MLP pair (float64) and on the Dirac-GAN."""

from __future__ import annotations

import pytest
import torch

from convergan.analysis.spectrum import JacobianOperator
from convergan.field import GameField, flatten, game_field, unflatten
from convergan.games import dirac_gan
from convergan.methods import Batch, Consensus, InstanceNoise, Method
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.registry import LOSSES, PENALTIES

N, LATENT = 6, 3
PENALTY_SETS = {"none": (), **{name: (name,) for name in PENALTIES.names()}, "r1+r2": ("r1", "r2")}


def method(loss: str, penalties=(), noise: bool = False, consensus: bool = False) -> Method:
    return Method(
        loss=LOSSES[loss](),
        penalties=tuple(PENALTIES[p](gamma=0.7) for p in penalties),
        noise=InstanceNoise(0.3) if noise else None,
        consensus=Consensus(0.4) if consensus else None,
    )


def mlp_field(m: Method) -> tuple[GameField, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    generator = MLPGenerator(LATENT, 2, width=8, depth=1).double()
    discriminator = MLPDiscriminator(2, width=8, depth=1).double()
    g = torch.Generator().manual_seed(1)
    batch = Batch(
        real=torch.randn(N, 2, generator=g, dtype=torch.float64),
        latent=torch.randn(N, LATENT, generator=g, dtype=torch.float64),
        real_noise=torch.randn(N, 2, generator=g, dtype=torch.float64),
        fake_noise=torch.randn(N, 2, generator=g, dtype=torch.float64),
        interpolation=torch.rand(N, generator=g, dtype=torch.float64),
    )
    field = GameField(generator, discriminator, m, batch, route="eager")
    x = tuple(layout.flat().detach() for layout in field.layouts)
    return field, x


def dirac_field(m: Method):
    game = dirac_gan(theta=0.3, psi=-0.2)
    x = tuple(torch.tensor([v], dtype=torch.float64) for v in (0.3, -0.2))
    return game_field(game, m, route="eager"), x


def reference_field(field: GameField, z: torch.Tensor) -> torch.Tensor:
    """The field at flat ``z`` (which requires grad) with its graph: each player's loss on
    its own generator forward and its own gradient, consensus written out."""
    m, batch = field.method, field.batch
    theta, psi = unflatten(z, field.sizes)
    directions = []
    for i in (0, 1):
        own = (theta, psi)[i].clone()
        point = (own, psi) if i == 0 else (theta, own)
        generator = field.layouts[0].bind(point[0])
        discriminator = field.layouts[1].bind(point[1])
        if i == 0:
            loss = m.generator_loss(generator, discriminator, batch)
        else:
            loss = m.discriminator_loss(generator, discriminator, batch)
        (grad,) = torch.autograd.grad(loss.total, own, create_graph=True)
        directions.append(-grad)
    v = torch.cat(directions)
    if m.consensus is not None:
        (jtv,) = torch.autograd.grad(0.5 * (v * v).sum(), z, create_graph=True)
        v = v - m.consensus.gamma * jtv
    return v


def check_against_reference(field: GameField, x) -> None:
    z = flatten(x).clone().requires_grad_(True)
    v = reference_field(field, z)
    g = torch.Generator().manual_seed(2)
    u, w = (torch.randn(z.shape[0], generator=g, dtype=torch.float64) for _ in range(2))
    (jtw,) = torch.autograd.grad(v, z, w, retain_graph=True)
    dummy = torch.zeros_like(v, requires_grad=True)
    (g_of_dummy,) = torch.autograd.grad(v, z, dummy, create_graph=True)
    (ju,) = torch.autograd.grad(g_of_dummy, dummy, u)

    shared = flatten(field(x))
    torch.testing.assert_close(shared, v.detach(), rtol=1e-12, atol=1e-12)
    operator = JacobianOperator(field, x)
    torch.testing.assert_close(operator.value, v.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(operator.rmatvec(w), jtw, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(operator.matvec(u), ju, rtol=1e-10, atol=1e-10)
    # One player's block of w zero (a step of one player in F′ᵀ): the backward skips the
    # other player's graph, and the product is the same.
    for i in (0, 1):
        masked = torch.cat([b if j == i else torch.zeros_like(b) for j, b in enumerate(
            torch.split(w, field.sizes)
        )])  # fmt: skip
        (expected,) = torch.autograd.grad(v, z, masked, retain_graph=True)
        torch.testing.assert_close(operator.rmatvec(masked), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("penalties", list(PENALTY_SETS))
@pytest.mark.parametrize("loss", LOSSES.names())
def test_mlp_field_and_products_equal_the_two_losses_apart(loss, penalties):
    check_against_reference(*mlp_field(method(loss, PENALTY_SETS[penalties])))


@pytest.mark.parametrize("loss", ["saturating", "nonsaturating", "rpgan", "ragan"])
@pytest.mark.parametrize("noise, consensus", [(True, False), (False, True), (True, True)])
def test_mlp_with_instance_noise_and_consensus(loss, noise, consensus):
    m = method(loss, ("r1",), noise=noise, consensus=consensus)
    check_against_reference(*mlp_field(m))


@pytest.mark.parametrize("penalties", list(PENALTY_SETS))
@pytest.mark.parametrize("loss", LOSSES.names())
def test_dirac_field_and_products_equal_the_two_losses_apart(loss, penalties):
    check_against_reference(*dirac_field(method(loss, PENALTY_SETS[penalties])))


@pytest.mark.parametrize("loss", LOSSES.names())
@pytest.mark.parametrize("noise, consensus", [(True, False), (False, True)])
def test_dirac_with_instance_noise_and_consensus(loss, noise, consensus):
    """Instance noise makes the Dirac batch a quadrature (weights, every real-fake pair)."""
    check_against_reference(*dirac_field(method(loss, ("r1",), noise, consensus)))


@pytest.mark.parametrize("preset_parts", [("nonsaturating", ("r1",)), ("rpgan", ("r1", "r2"))])
def test_the_field_runs_the_generator_once_and_d_once_per_side(preset_parts):
    """One evaluation: one generator forward, and D once on the real and once on the
    generated samples (R1 + R2 stacked: once on both), where apart it was twice each."""
    field, x = mlp_field(method(*preset_parts))
    calls = {"generator": 0, "discriminator": 0}

    def count(name):
        def hook(module, inputs, output):
            calls[name] += 1

        return hook

    field.generator.register_forward_hook(count("generator"))
    field.discriminator.register_forward_hook(count("discriminator"))
    field(x)
    assert calls["generator"] == 1
    stacked = len(preset_parts[1]) == 2
    assert calls["discriminator"] == (1 if stacked else 2)
