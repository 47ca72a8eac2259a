"""One training step of every method preset against a straightforward PyTorch reference.

The library side is the trainer's own step: :class:`GameField` on fresh minibatches with the
eager route (reported through :class:`Observed`), moved by per-player optimizers
(:class:`OptimizerStep`) that the schemes hand their learning rates.
The reference side is the textbook GAN step written here from the conventions of DESIGN.md,
with plain ``nn.Module``s, explicit loss formulas, ``torch.autograd.grad(create_graph=True)``
for penalties and consensus, and ``torch.optim`` optimizers on the modules' own parameters.
Both sides draw the same batches from a deterministic sampler, in the order each scheme is
documented to draw them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from convergan.config.schema import OptimizerConfig, parse_optimizer
from convergan.field import GameField, Observed, OptimizerStep, ParameterLayout
from convergan.methods import Batch, make_method
from convergan.models.mlp import MLPDiscriminator, MLPGenerator
from convergan.schemes import AltGD, Extragradient, Optimistic, SimGD, lazy
from convergan.training.optim import build_optimizer

LATENT, WIDTH, BATCH = 2, 8, 6
LR_G, LR_D = 0.01, 0.02  # different, so swapping the players' rates is caught
ATOL = 1e-6

# ------------------------------------------------------------------- reference definitions


@dataclass(frozen=True)
class Spec:
    """What the reference computes, written from DESIGN.md, not taken from the library."""

    loss: str  # "saturating", "nonsaturating" or "wgan"
    penalty: str | None = None  # "r1", "r2" or "wgan-gp"
    gamma: float = 0.0
    target: float = 0.0
    sigma: float = 0.0  # instance noise
    clip: float | None = None  # WGAN weight clipping of D
    consensus: float = 0.0  # consensus gamma


# Non-default hyperparameters, so a preset that ignores its parameters is caught.
PRESETS: dict[str, tuple[dict[str, float], Spec]] = {
    "gan": ({}, Spec("saturating")),
    "nsgan": ({}, Spec("nonsaturating")),
    "wgan": ({"clip": 0.05}, Spec("wgan", clip=0.05)),
    "wgan-gp": (
        {"gamma": 3.0, "target": 0.7},
        Spec("wgan", penalty="wgan-gp", gamma=3.0, target=0.7),
    ),
    "consensus": ({"gamma": 0.5}, Spec("saturating", consensus=0.5)),
    "instance-noise": ({"sigma": 0.3}, Spec("saturating", sigma=0.3)),
    "r1": ({"gamma": 3.0}, Spec("saturating", penalty="r1", gamma=3.0)),
    "r2": ({"gamma": 3.0}, Spec("saturating", penalty="r2", gamma=3.0)),
    "nsgan-r1": ({"gamma": 3.0}, Spec("nonsaturating", penalty="r1", gamma=3.0)),
}


class ReferenceMLP(nn.Module):
    """Linear → LeakyReLU(0.2) → Linear, the tiny player of both sides."""

    def __init__(self, in_dim: int, out_dim: int, squeeze: bool) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, WIDTH), nn.LeakyReLU(0.2), nn.Linear(WIDTH, out_dim)
        )
        self.squeeze = squeeze

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.squeeze else out


def reference_losses(G, D, batch: Batch, spec: Spec, gain: float):
    """``(L_G, L_D, terms)`` with D high on real data; ``gain`` multiplies the penalty."""
    fake = G(batch.latent)
    real = batch.real
    if spec.sigma:
        real = real + spec.sigma * batch.real_noise
        fake = fake + spec.sigma * batch.fake_noise
    d_real, d_fake = D(real), D(fake)
    if spec.loss == "wgan":
        adversarial_d = (-d_real).mean() + d_fake.mean()
        loss_g = (-d_fake).mean()
    else:
        adversarial_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        if spec.loss == "saturating":
            loss_g = (-F.softplus(d_fake)).mean()
        else:
            loss_g = F.softplus(-d_fake).mean()
    terms_d = {"discriminator/adversarial": adversarial_d}
    loss_d = adversarial_d
    if spec.penalty is not None and gain != 0:
        if spec.penalty == "r1":
            points = real
        elif spec.penalty == "r2":
            points = fake
        else:
            u = batch.interpolation.view(-1, 1)
            points = u * real + (1 - u) * fake
        points = points.detach().requires_grad_(True)
        (grad_x,) = torch.autograd.grad(D(points).sum(), points, create_graph=True)
        norms = grad_x.pow(2).sum(dim=1).sqrt()
        penalty = 0.5 * spec.gamma * (norms - spec.target).pow(2).mean()
        terms_d[f"discriminator/{spec.penalty}"] = penalty
        loss_d = loss_d + gain * penalty
    return loss_g, loss_d, {"generator/adversarial": loss_g}, terms_d


def reference_gradients(G, D, batch: Batch, spec: Spec, gain: float, players=(0, 1)):
    """Each player's gradient (the optimizer's ``.grad``, i.e. minus the field) and the loss
    terms, in the order the library reports them (player by player)."""
    params = (list(G.parameters()), list(D.parameters()))
    loss_g, loss_d, terms_g, terms_d = reference_losses(G, D, batch, spec, gain)
    losses, terms = (loss_g, loss_d), (terms_g, terms_d)
    if spec.consensus and gain != 0:
        # w = v − γ·∇(½‖v‖²) with v = −(∇_θ L_G, ∇_ψ L_D): the gradient is g + γ·∇(½‖g‖²).
        grads = [torch.autograd.grad(losses[i], params[i], create_graph=True) for i in (0, 1)]
        half_squared_norm = 0.5 * sum(g.pow(2).sum() for gs in grads for g in gs)
        correction = torch.autograd.grad(half_squared_norm, params[0] + params[1])
        sizes = len(params[0])
        corrections = (correction[:sizes], correction[sizes:])
        gamma = gain * spec.consensus
        out = {
            i: [g.detach() + gamma * c for g, c in zip(grads[i], corrections[i])] for i in (0, 1)
        }
        recorded = {**terms_g, **terms_d}  # the library evaluates the whole field
    else:
        out = {
            i: list(torch.autograd.grad(losses[i], params[i], retain_graph=True)) for i in players
        }
        recorded = {k: v for i in players for k, v in terms[i].items()}
    return out, {k: float(v.detach()) for k, v in recorded.items()}


def flat(tensors) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


class Reference:
    """The two players with ``torch.optim`` optimizers; every optimizer step is logged."""

    def __init__(self, spec: Spec, optimizers: tuple[OptimizerConfig, OptimizerConfig], seed=0):
        torch.manual_seed(seed)
        self.G = ReferenceMLP(LATENT, 2, squeeze=False)
        self.D = ReferenceMLP(2, 1, squeeze=True)
        self.spec = spec
        self.optimizers = tuple(
            torch_optimizer(c, list(m.parameters()), lr)
            for c, m, lr in zip(optimizers, (self.G, self.D), (LR_G, LR_D))
        )
        self.moves: list[tuple[int, Tensor]] = []  # (player, gradient given to the optimizer)
        self.terms: list[tuple[str, float]] = []

    @property
    def players(self):
        return (self.G, self.D)

    def gradients(self, batch, gain=1.0, players=(0, 1)):
        grads, terms = reference_gradients(self.G, self.D, batch, self.spec, gain, players)
        self.terms += list(terms.items())
        return grads

    def move(self, i: int, grads) -> None:
        module = self.players[i]
        for p, g in zip(module.parameters(), grads):
            p.grad = g.detach().clone()
        self.optimizers[i].step()
        self.optimizers[i].zero_grad(set_to_none=True)
        if i == 1 and self.spec.clip is not None:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-self.spec.clip, self.spec.clip)
        self.moves.append((i, flat(grads)))

    def state(self) -> tuple[Tensor, Tensor]:
        return flat(self.G.parameters()), flat(self.D.parameters())

    # -- the schemes, written out ----------------------------------------------------------
    def simgd(self, batches, gain=1.0):
        grads = self.gradients(next(batches), gain)
        for i in (0, 1):
            self.move(i, grads[i])

    def altgd(self, batches, d_steps, discriminator_first, gain=1.0):
        phases = [(0, 1), (1, d_steps)]
        if discriminator_first:
            phases.reverse()
        for player, repeats in phases:
            for _ in range(repeats):
                self.move(player, self.gradients(next(batches), gain, players=(player,))[player])

    def extragradient(self, batches):
        start = [[p.detach().clone() for p in m.parameters()] for m in self.players]
        grads = self.gradients(next(batches))
        for i in (0, 1):
            self.move(i, grads[i])  # the look-ahead step also updates the optimizer's moments
        grads = self.gradients(next(batches))
        with torch.no_grad():
            for module, saved in zip(self.players, start):
                for p, s in zip(module.parameters(), saved):
                    p.copy_(s)
        for i in (0, 1):
            self.move(i, grads[i])

    def optimistic(self, batches, previous):
        grads = self.gradients(next(batches))
        for i in (0, 1):
            self.move(i, [2 * g - p for g, p in zip(grads[i], previous[i])])
        return grads


def torch_optimizer(config: OptimizerConfig, params, lr) -> torch.optim.Optimizer:
    if config.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=config.betas, eps=config.eps)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, alpha=config.alpha, eps=config.eps, momentum=config.momentum
        )
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum)


# ------------------------------------------------------------------- the library side


class Batches:
    """A deterministic sampler: hands out pre-drawn batches in order and counts the calls."""

    def __init__(self, count: int = 12, seed: int = 1) -> None:
        g = torch.Generator().manual_seed(seed)
        self.batches = [
            Batch(
                real=torch.randn(BATCH, 2, generator=g) * 0.7 + 0.3,
                latent=torch.randn(BATCH, LATENT, generator=g),
                real_noise=torch.randn(BATCH, 2, generator=g),
                fake_noise=torch.randn(BATCH, 2, generator=g),
                interpolation=torch.rand(BATCH, generator=g),
            )
            for _ in range(count)
        ]
        self.calls = 0

    def __call__(self) -> Batch:
        self.calls += 1
        return self.batches[self.calls - 1]

    def __iter__(self):
        return iter(self.batches)


class RecordingMover(OptimizerStep):
    """The library's optimizer moves, logging the gradient (−direction) of every move."""

    def __init__(self, optimizers, moves, clip):
        super().__init__(optimizers, clip)
        object.__setattr__(self, "moves", moves)

    def __call__(self, i, x_i, direction, lr, state):
        self.moves.append((i, -direction.detach().clone(), float(lr)))
        return super().__call__(i, x_i, direction, lr, state)


class Library:
    def __init__(self, preset: str, reference: Reference, optimizers, batches: Batches):
        params, _ = PRESETS[preset]
        self.method = make_method(preset, **params)
        self.G = MLPGenerator(LATENT, out_dim=2, width=WIDTH, depth=1)
        self.D = MLPDiscriminator(in_dim=2, width=WIDTH, depth=1)
        self.G.load_state_dict(reference.G.state_dict())  # strict: the same architecture
        self.D.load_state_dict(reference.D.state_dict())
        self.x = (ParameterLayout(self.G).flat(), ParameterLayout(self.D).flat())
        self.moves: list[tuple[int, Tensor, float]] = []
        self.terms: list[tuple[str, float]] = []
        optimizers = tuple(build_optimizer(c) for c in optimizers)
        self.mover = RecordingMover(optimizers, self.moves, self.method.clip)
        self.batches = batches
        game = GameField(self.G, self.D, self.method, self.batches, route="eager")
        self.observed = Observed(game, reporter=self.record)

    def field(self, step: int) -> Observed:
        return self.observed.at_step(step)

    LOGGING_ONLY = ("/output_real", "/output_fake", "/gradient_norm")

    def record(self, name: str, value) -> None:
        """Loss terms only: the mean D outputs and field norms are logging extras."""
        if not name.endswith(self.LOGGING_ONLY):
            self.terms.append((name, float(value)))

    def run(self, scheme, steps: int) -> None:
        state = scheme.init(self.field(0), self.mover, self.x)
        for t in range(steps):
            self.x, state = scheme.step(self.field(t), self.mover, self.x, state, t)


ADAM = parse_optimizer({"name": "adam", "lr": LR_G, "betas": [0.5, 0.9]}, "optim.g")
SGD = parse_optimizer({"name": "sgd", "lr": LR_G, "momentum": 0.9}, "optim.g")
RMSPROP = parse_optimizer({"name": "rmsprop", "lr": LR_G, "alpha": 0.9}, "optim.g")


def assert_same(library: Library, reference: Reference, batches_used: int) -> None:
    assert library.batches.calls == batches_used
    assert [name for name, _ in library.terms] == [name for name, _ in reference.terms]
    for (name, value), (_, expected) in zip(library.terms, reference.terms):
        assert math.isclose(value, expected, rel_tol=0, abs_tol=ATOL), name
    assert [m[0] for m in library.moves] == [m[0] for m in reference.moves]
    for (player, grad, lr), (_, expected) in zip(library.moves, reference.moves):
        assert lr == pytest.approx((LR_G, LR_D)[player], rel=1e-12)
        torch.testing.assert_close(grad, expected, atol=ATOL, rtol=0)
    for x_i, expected in zip(library.x, reference.state()):
        torch.testing.assert_close(x_i, expected, atol=ATOL, rtol=0)


def setup(preset: str, optimizers=(ADAM, ADAM)):
    _, spec = PRESETS[preset]
    reference = Reference(spec, optimizers)
    batches = Batches()
    library = Library(preset, reference, optimizers, batches)
    return library, reference, iter(batches)


# ------------------------------------------------------------------- tests


@pytest.mark.parametrize("preset", list(PRESETS))
def test_altgd_discriminator_first_two_d_steps_adam(preset):
    library, reference, batches = setup(preset)
    library.run(AltGD(lr_g=LR_G, lr_d=LR_D, d_steps=2, discriminator_first=True), steps=1)
    reference.altgd(batches, d_steps=2, discriminator_first=True)
    assert_same(library, reference, batches_used=3)  # a fresh batch for every player step


@pytest.mark.parametrize("preset", list(PRESETS))
def test_simgd_sgd_with_momentum(preset):
    library, reference, batches = setup(preset, (SGD, SGD))
    library.run(SimGD(lr_g=LR_G, lr_d=LR_D), steps=2)
    reference.simgd(batches)
    reference.simgd(batches)
    assert_same(library, reference, batches_used=2)  # one batch for both players per step


@pytest.mark.parametrize("preset", ["r1", "wgan-gp", "consensus", "instance-noise"])
def test_altgd_generator_first_rmsprop(preset):
    library, reference, batches = setup(preset, (RMSPROP, ADAM))
    library.run(AltGD(lr_g=LR_G, lr_d=LR_D, d_steps=2, discriminator_first=False), steps=1)
    reference.altgd(batches, d_steps=2, discriminator_first=False)
    assert_same(library, reference, batches_used=3)


@pytest.mark.parametrize("optimizer", [ADAM, SGD], ids=["adam", "sgd"])
@pytest.mark.parametrize("preset", ["r1", "nsgan", "consensus"])
def test_extragradient_first_two_steps(preset, optimizer):
    library, reference, batches = setup(preset, (optimizer, optimizer))
    library.run(Extragradient(lr_g=LR_G, lr_d=LR_D), steps=2)
    for _ in range(2):
        reference.extragradient(batches)
    assert_same(library, reference, batches_used=4)  # look-ahead and update batches


@pytest.mark.parametrize("optimizer", [ADAM, SGD], ids=["adam", "sgd"])
@pytest.mark.parametrize("preset", ["r1", "wgan-gp", "consensus"])
def test_optimistic_first_two_steps(preset, optimizer):
    library, reference, batches = setup(preset, (optimizer, optimizer))
    library.run(Optimistic(lr_g=LR_G, lr_d=LR_D), steps=2)
    previous = reference.gradients(next(batches))  # init: v(x_0) on its own batch
    for _ in range(2):
        previous = reference.optimistic(batches, previous)
    assert_same(library, reference, batches_used=3)


@pytest.mark.parametrize("preset", ["r1", "nsgan-r1"])
def test_lazy_r1_every_two_steps_gain_two(preset):
    library, reference, batches = setup(preset)
    inner = AltGD(lr_g=LR_G, lr_d=LR_D, d_steps=1, discriminator_first=True)
    library.run(lazy(inner, 2), steps=2)
    reference.altgd(batches, d_steps=1, discriminator_first=True, gain=0.0)  # step 1: no R1
    reference.altgd(batches, d_steps=1, discriminator_first=True, gain=2.0)  # step 2: R1 × 2
    assert_same(library, reference, batches_used=4)
    names = [name for name, _ in library.terms]
    assert names.count("discriminator/r1") == 1  # only on the second step
    assert names.index("discriminator/r1") > names.index("generator/adversarial")


def test_lazy_gain_really_doubles_the_penalty_gradient():
    """The test above can tell gain 2 from gain 1: a reference at gain 1 differs."""
    library, reference, batches = setup("r1")
    library.run(lazy(AltGD(lr_g=LR_G, lr_d=LR_D, discriminator_first=True), 2), steps=2)
    reference.altgd(batches, d_steps=1, discriminator_first=True, gain=0.0)
    reference.altgd(batches, d_steps=1, discriminator_first=True, gain=1.0)
    d_moves = [g for i, g, _ in library.moves if i == 1]
    d_reference = [g for i, g in reference.moves if i == 1]
    assert not torch.allclose(d_moves[1], d_reference[1], atol=1e-4)


def test_wgan_clips_every_discriminator_step_and_not_the_generator():
    library, reference, batches = setup("wgan")
    clip = PRESETS["wgan"][1].clip
    assert ParameterLayout(library.D).flat().abs().max() > clip  # clipping has work to do
    library.run(AltGD(lr_g=LR_G, lr_d=LR_D, d_steps=2, discriminator_first=True), steps=1)
    reference.altgd(batches, d_steps=2, discriminator_first=True)
    assert_same(library, reference, batches_used=3)
    theta, psi = library.x
    assert psi.abs().max() <= clip
    assert (psi.abs() == clip).sum() >= 5  # weights that ended outside are on the bound
    assert theta.abs().max() > clip  # the generator is never clipped


@pytest.mark.parametrize("preset", list(PRESETS))
def test_field_is_minus_the_reference_gradients(preset):
    """The field v = (−∇_θ L_G, −∇_ψ L_D) (consensus: v − γ·v′ᵀv) on one batch."""
    library, reference, batches = setup(preset)
    v = library.field(0)(library.x)
    grads = reference.gradients(next(batches))
    for i in (0, 1):
        torch.testing.assert_close(-v[i], flat(grads[i]), atol=ATOL, rtol=0)
    assert [n for n, _ in library.terms] == [n for n, _ in reference.terms]
