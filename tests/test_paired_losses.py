"""Losses that pair real and fake samples (RpGAN, RaGAN): values and gradients against
straightforward implementations written here, the Dirac-GAN and two-point analyses against
closed forms derived here, and a user's paired loss from a plugin file."""

from __future__ import annotations

import cmath
import json
import math
import textwrap

import pytest
import torch
import yaml
from torch.nn import functional as F

from convergan.cli.main import main
from convergan.field import ParameterLayout, flatten, game_field
from convergan.games import dirac_gan
from convergan.games.two_points import two_point_game
from convergan.methods import Batch, parse_method, preset_spec
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.registry import LOSSES

pytestmark = pytest.mark.usefixtures("isolated_registries")


def _players(seed=0):
    torch.manual_seed(seed)
    return MLPGenerator(3, out_dim=2, width=8, depth=1), MLPDiscriminator(2, width=8, depth=1)


def _batch(n=16, seed=1, **extra):
    g = torch.Generator().manual_seed(seed)
    return Batch(
        real=torch.randn(n, 2, generator=g), latent=torch.randn(n, 3, generator=g), **extra
    )


# Straightforward references: D high on real data, each player minimises its loss.
def rpgan_reference(d_real, d_fake):
    return (
        F.softplus(-(d_real - d_fake)).mean(),  # D
        F.softplus(-(d_fake - d_real)).mean(),  # G
    )


def ragan_reference(d_real, d_fake, f1, f2):
    rel_real = d_real - d_fake.mean()
    rel_fake = d_fake - d_real.mean()
    return f1(rel_real).mean() + f2(rel_fake).mean(), f1(rel_fake).mean() + f2(rel_real).mean()


REFERENCES = {
    "rpgan": rpgan_reference,
    "ragan": lambda r, f: ragan_reference(
        r, f, lambda y: -F.logsigmoid(y), lambda y: -F.logsigmoid(-y)
    ),
    "ragan-least-squares": lambda r, f: ragan_reference(
        r, f, lambda y: (y - 1) ** 2, lambda y: (y + 1) ** 2
    ),
    "ragan-hinge": lambda r, f: ragan_reference(
        r, f, lambda y: torch.clamp(1 - y, min=0), lambda y: torch.clamp(1 + y, min=0)
    ),
}


@pytest.mark.parametrize("name", list(REFERENCES))
def test_paired_loss_values_and_gradients_equal_a_direct_implementation(name):
    generator, discriminator = _players()
    batch = _batch()
    method = parse_method({"loss": name}).build()
    d_loss = method.discriminator_loss(generator, discriminator, batch).total
    g_loss = method.generator_loss(generator, discriminator, batch).total
    ref_d, ref_g = REFERENCES[name](
        discriminator(batch.real), discriminator(generator(batch.latent))
    )
    torch.testing.assert_close(d_loss, ref_d, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g_loss, ref_g, rtol=1e-6, atol=1e-7)
    for loss, ref, player in ((d_loss, ref_d, discriminator), (g_loss, ref_g, generator)):
        got = torch.autograd.grad(loss, list(player.parameters()), retain_graph=True)
        want = torch.autograd.grad(ref, list(player.parameters()), retain_graph=True)
        for a, b in zip(got, want):
            # atol: a gradient that is 0 exactly (D's last bias, where a loss sees only
            # differences of D) is a float32 rounding of differences of O(1) terms, ~2e-7.
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_rpgan_pairs_row_i_with_row_i():
    """Swapping the order of the latents changes the pairs, hence the loss (a loss of
    independent means would not notice)."""
    generator, discriminator = _players()
    batch = _batch()
    method = parse_method({"loss": "rpgan"}).build()
    shuffled = Batch(real=batch.real, latent=batch.latent.flip(0))
    a = method.discriminator_loss(generator, discriminator, batch).total
    b = method.discriminator_loss(generator, discriminator, shuffled).total
    assert not torch.allclose(a, b)
    d_real, d_fake = discriminator(batch.real), discriminator(generator(batch.latent.flip(0)))
    torch.testing.assert_close(b, rpgan_reference(d_real, d_fake)[0])


def test_weighted_batches_pair_every_real_with_every_fake():
    generator, discriminator = _players()
    g = torch.Generator().manual_seed(3)
    rw, fw = torch.rand(5, generator=g), torch.rand(7, generator=g)
    batch = Batch(
        real=torch.randn(5, 2, generator=g),
        latent=torch.randn(7, 3, generator=g),
        real_weight=rw / rw.sum(),
        fake_weight=fw / fw.sum(),
        pairing="all",
    )
    total = (
        parse_method({"loss": "rpgan"})
        .build()
        .discriminator_loss(generator, discriminator, batch)
        .total
    )
    d_real, d_fake = discriminator(batch.real), discriminator(generator(batch.latent))
    want = sum(
        batch.real_weight[i] * batch.fake_weight[j] * F.softplus(d_fake[j] - d_real[i])
        for i in range(5)
        for j in range(7)
    )
    torch.testing.assert_close(total, want)


def test_separable_losses_are_bit_identical_to_their_three_terms():
    generator, discriminator = _players()
    batch = _batch()
    for name in ("saturating", "nonsaturating", "wgan", "hinge", "least-squares"):
        method = parse_method({"loss": name}).build()
        loss = method.loss
        d_real, d_fake = discriminator(batch.real), discriminator(generator(batch.latent))
        d_want = loss.real_term(d_real).mean() + loss.fake_term(d_fake).mean()
        g_want = loss.generator_term(d_fake).mean()
        assert torch.equal(method.discriminator_loss(generator, discriminator, batch).total, d_want)
        assert torch.equal(method.generator_loss(generator, discriminator, batch).total, g_want)


# ------------------------------------------------------------------------------ Dirac-GAN


def _field_at(method, theta, psi, game=None):
    game = game or dirac_gan()
    field = game_field(game, method)
    x = (torch.tensor([theta], dtype=torch.float64), torch.tensor([psi], dtype=torch.float64))
    return flatten(field(x))


@pytest.mark.parametrize("penalties", [[], ["r1:0.7"], ["r2:0.7"], ["r1:0.7", "r2:1.3"]])
def test_rpgan_dirac_field_is_the_nonsaturating_field(penalties):
    """On the Dirac-GAN D(G(z)) − D(x) = ψθ: RpGAN's field equals the non-saturating GAN's
    everywhere, not only at the equilibrium, with R1, R2 and both."""
    rp = parse_method({"loss": "rpgan", "penalties": penalties}).build()
    ns = parse_method({"loss": "nonsaturating", "penalties": penalties}).build()
    for theta, psi in [(0.3, -1.2), (-2.0, 0.5), (1.5, 1.5)]:
        torch.testing.assert_close(_field_at(rp, theta, psi), _field_at(ns, theta, psi))
    # The non-saturating field itself, written out (v_θ = ψσ(−ψθ), v_ψ = −θσ(ψθ) − γψ).
    gamma = sum(float(p.split(":")[1]) for p in penalties)
    theta, psi = 0.3, -1.2
    sig = 1 / (1 + math.exp(-psi * theta))
    want = [psi * (1 - sig), -theta * sig - gamma * psi]
    assert _field_at(rp, theta, psi).tolist() == pytest.approx(want, abs=1e-12)


def test_rpgan_dirac_field_with_instance_noise_pairs_independent_draws():
    """With noise the fake and real draws are independent: quadrature pairs every node with
    every node. RpGAN's field then still equals the non-saturating one at the equilibrium's
    linearisation (both have ψψ-curvature σ²/2)."""
    from convergan.analysis.local import field_jacobian

    for loss in ("rpgan", "nonsaturating"):
        method = parse_method({"loss": loss, "noise": 0.8}).build()
        game = dirac_gan(quadrature_nodes=20)
        jac = field_jacobian(game_field(game, method), game.equilibrium())
        # [[0, 1/2], [−1/2, −σ²/2]] (D high on real data; −2·(1/4)σ² in the ψψ entry).
        torch.testing.assert_close(
            jac, torch.tensor([[0.0, 0.5], [-0.5, -0.32]], dtype=torch.float64)
        )


@pytest.mark.parametrize("g1,g2", [(0.3, 0.3), (0.2, 1.1), (1.0, 0.0), (0.0, 2.5)])
def test_r3gan_dirac_eigenvalues_are_the_closed_form_with_the_sum_of_gammas(g1, g2):
    """R1 and R2 both reduce to (γ/2)ψ² on the Dirac-GAN, so RpGAN + R1(γ₁) + R2(γ₂) has
    J = [[0, a], [−a, −(γ₁ + γ₂)]] with a = 1/2: λ = −Γ/2 ± √(Γ²/4 − a²), Γ = γ₁ + γ₂."""
    from convergan.analysis.local import analyze
    from convergan.schemes import SimGD

    spec = parse_method({"loss": "rpgan", "penalties": [f"r1:{g1}", f"r2:{g2}"]})
    result = analyze(dirac_gan(), spec.build(), SimGD(lr=0.1))
    total = g1 + g2
    root = cmath.sqrt(total**2 / 4 - 0.25)
    want = sorted([-total / 2 + root, -total / 2 - root], key=lambda z: (z.real, z.imag))
    got = sorted(result.jacobian_eigenvalues.tolist(), key=lambda z: (z.real, z.imag))
    assert got == pytest.approx(want, abs=1e-12)
    if g1 == g2:  # the preset with one γ is the same method
        preset = analyze(dirac_gan(), preset_spec("r3gan", gamma=g1).build(), SimGD(lr=0.1))
        torch.testing.assert_close(preset.jacobian, result.jacobian)


# ------------------------------------------------------------------------------ two points


def _two_point_eigenvalues(ns_curvature_scale, gamma, c=1.0):
    """Blocks (θ₁, ψ₁) and (θ₂, ψ₂): [[0, a·β], [−a·β, −d]] with a = 1/2, β = (1, c) and
    d = ½·K + γ·(1, c²), K = E x² = c² for ψ₁ and E(x²/2)² = c⁴/4 (separable) or
    Var(x²/2) = 0 (RpGAN) for ψ₂."""
    out = []
    for beta, k, r in ((1.0, c**2, 1.0), (c, ns_curvature_scale * c**4 / 4, c**2)):
        d = 0.5 * k + gamma * r
        root = cmath.sqrt(d**2 / 4 - (0.5 * beta) ** 2)
        out += [-d / 2 + root, -d / 2 - root]
    return sorted(out, key=lambda z: (round(z.real, 9), round(z.imag, 9)))


@pytest.mark.parametrize(
    "penalties", [[], ["r1:1"], ["r2:1"], ["r1:1", "r2:1"], ["r1:0.4", "r2:2"]]
)
def test_two_point_game_eigenvalues_for_both_losses(penalties):
    from convergan.analysis.local import analyze
    from convergan.schemes import SimGD

    gamma = sum(float(p.split(":")[1]) for p in penalties)
    for loss, scale in (("nonsaturating", 1.0), ("rpgan", 0.0)):
        spec = parse_method({"loss": loss, "penalties": penalties})
        result = analyze(two_point_game(), spec.build(), SimGD(lr=0.1))
        got = sorted(
            result.jacobian_eigenvalues.tolist(), key=lambda z: (round(z.real, 9), round(z.imag, 9))
        )
        assert got == pytest.approx(_two_point_eigenvalues(scale, gamma), abs=1e-10)
    if not penalties:  # the standard loss is damped, RpGAN's scale block is a pure rotation
        ns = analyze(
            two_point_game(), parse_method({"loss": "nonsaturating"}).build(), SimGD(lr=0.1)
        )
        rp = analyze(two_point_game(), parse_method({"loss": "rpgan"}).build(), SimGD(lr=0.1))
        assert ns.continuous_time_stable and ns.verdict == "converges"
        assert not rp.continuous_time_stable and rp.verdict == "diverges"


@pytest.mark.slow  # `dirac table` on the two-point game: 8 methods under 4 schemes
def test_two_point_table_from_the_command_line(capsys):
    from convergan.analysis.table import TABLES
    from convergan.cli.dirac_table import TABLE_GAMES

    assert tuple(TABLES) == TABLE_GAMES
    assert main(["dirac", "table", "--game", "two-points", "--lr", "0.1", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    methods = {r["method"] for r in records}
    assert methods == {f"{loss}{suffix}" for loss in ("nonsaturating", "rpgan")
                       for suffix in ("", "+r1", "+r2", "+r1+r2")}  # fmt: skip
    assert all(r["theory_max_error"] < 1e-12 for r in records)
    simgd = {r["method"]: r["verdict"] for r in records if r["scheme"] == "simgd"}
    assert simgd["nonsaturating"] == "converges" and simgd["rpgan"] == "diverges"
    assert simgd["rpgan+r1+r2"] == simgd["nonsaturating+r1+r2"] == "converges"


# ------------------------------------------------------------------------------ plugin

PLUGIN = textwrap.dedent(
    """
    from dataclasses import dataclass

    import torch

    from convergan.methods import PairedLoss
    from convergan.registry import LOSSES


    @LOSSES.register("pair-hinge", description="hinge on D(x) - D(G(z)) per pair")
    @dataclass(frozen=True)
    class PairHinge(PairedLoss):
        name: str = "pair-hinge"

        def discriminator_term(self, d_real, d_fake):
            return torch.relu(1.0 - (d_real - d_fake))

        def generator_term(self, d_real, d_fake):
            return d_real - d_fake
    """
)


def test_a_users_paired_loss_from_a_plugin_file_trains_and_is_analysed(capsys, tmp_path):
    plugin = tmp_path / "pair_hinge.py"
    plugin.write_text(PLUGIN)
    code = main([
        "train", "toy2d/circle", f"plugins=[{plugin}]", "method.loss=pair-hinge",
        "method.penalties=[r1:1]", "train.steps=4", "model.width=16", "model.depth=1",
        "data.batch_size=16", "train.eval_every=0", "train.sample_every=0", "train.log_every=2",
        f"out_dir={tmp_path / 'run'}", "--quiet",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["method"]["loss"] == (
        "pair-hinge"
    )
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert records[-1]["step"] == 4
    capsys.readouterr()
    code = main(["dirac", "analyze", f"plugins=[{plugin}]", "method.loss=pair-hinge",
                 "method.penalties=[r1:1]", "--lr", "0.5", "--json"])  # fmt: skip
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    # Dirac-GAN: D's loss relu(1 + ψθ) + (1/2)ψ², G's ψ·0 − ψθ: linear near 0, a = 1, so
    # J = [[0, 1], [−1, −1]]: λ = −1/2 ± i√3/2.
    got = sorted((complex(*p) for p in record["jacobian_eigenvalues"]), key=lambda z: z.imag)
    want = [complex(-0.5, -math.sqrt(3) / 2), complex(-0.5, math.sqrt(3) / 2)]
    assert got == pytest.approx(want, abs=1e-12)
    assert "pair-hinge" in LOSSES


@pytest.mark.parametrize("n", [16, 70])  # one stacked pass; three, the last one partial
def test_training_field_of_r3gan_equals_hand_written_r3gan_step(n):
    """The fused R1 + R2 (one pass over real and fake stacked) gives the gradient of
    softplus(−(D(x) − D(G(z)))) + (γ/2)(‖∇D(x)‖² + ‖∇D(G(z))‖²), computed R3GAN's way."""
    from convergan.field import DISCRIMINATOR
    from convergan.training.loop import training_field

    generator, discriminator = _players()
    batch = _batch(n)
    gamma = 0.7
    field = training_field(generator, discriminator, preset_spec("r3gan", gamma=gamma).build(),
                           lambda: batch)  # fmt: skip
    x = (ParameterLayout(generator).flat(), ParameterLayout(discriminator).flat())
    got = -field.player(DISCRIMINATOR, x)

    real = batch.real.clone().requires_grad_(True)
    fake = generator(batch.latent).detach().requires_grad_(True)
    d_real, d_fake = discriminator(real), discriminator(fake)
    (g_real,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    (g_fake,) = torch.autograd.grad(d_fake.sum(), fake, create_graph=True)
    loss = F.softplus(-(d_real - d_fake)) + gamma / 2 * (
        g_real.pow(2).sum(1) + g_fake.pow(2).sum(1)
    )
    want = torch.autograd.grad(loss.mean(), list(discriminator.parameters()))
    torch.testing.assert_close(got, torch.cat([w.reshape(-1) for w in want]), rtol=1e-5, atol=1e-7)
