"""Every penalty on a small conv discriminator against the classic autograd pattern."""

import pytest
import torch
from torch import nn

from convergan.methods import Batch, Method, StandardLoss, r1, r2, wgan_gp, zero_gp
from convergan.methods.penalties import GradientPenalty


class SmallConvD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4, 8, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(8 * 2 * 2, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)


def classic_penalty(d, points, gamma, target):
    """The textbook pattern: autograd.grad(create_graph=True) on the summed outputs."""
    points = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(points).sum(), points, create_graph=True)
    norms = grad.reshape(len(points), -1).norm(dim=1)
    return 0.5 * gamma * ((norms - target) ** 2).mean()


def setup(seed=0):
    torch.manual_seed(seed)
    d = SmallConvD()
    real, fake = torch.randn(6, 1, 8, 8), torch.randn(6, 1, 8, 8)
    u = torch.rand(6)
    return d, real, fake, u


CASES = [
    (r1(3.0), lambda real, fake, u: real, 0.0),
    (r2(3.0), lambda real, fake, u: fake, 0.0),
    (
        wgan_gp(3.0, 1.0),
        lambda real, fake, u: u.view(-1, 1, 1, 1) * real + (1 - u.view(-1, 1, 1, 1)) * fake,
        1.0,
    ),
    (
        zero_gp(3.0),
        lambda real, fake, u: u.view(-1, 1, 1, 1) * real + (1 - u.view(-1, 1, 1, 1)) * fake,
        0.0,
    ),
]


@pytest.mark.parametrize("penalty, points, target", CASES, ids=["r1", "r2", "wgan-gp", "zero-gp"])
def test_value_and_parameter_gradient_eager(penalty, points, target):
    d, real, fake, u = setup()
    value = penalty(d, real, fake, u)
    grads = torch.autograd.grad(value, list(d.parameters()), materialize_grads=True)
    reference = classic_penalty(d, points(real, fake, u), 3.0, target)
    reference_grads = torch.autograd.grad(reference, list(d.parameters()), materialize_grads=True)
    assert value.item() == pytest.approx(reference.item(), abs=1e-6, rel=1e-6)
    for g, r in zip(grads, reference_grads):
        assert torch.allclose(g, r, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("penalty, points, target", CASES, ids=["r1", "r2", "wgan-gp", "zero-gp"])
def test_value_and_parameter_gradient_under_torch_func(penalty, points, target):
    """The analysis path (torch.func) computes the same penalty and gradient."""
    d, real, fake, u = setup(1)
    params = {k: v.detach() for k, v in d.named_parameters()}

    def value_of(p):
        bound = lambda x: torch.func.functional_call(d, p, (x,))  # noqa: E731
        return penalty(bound, real, fake, u, functional=True)

    value = value_of(params)
    grads = torch.func.grad(value_of)(params)
    reference = classic_penalty(d, points(real, fake, u), 3.0, target)
    reference_grads = dict(
        zip(params, torch.autograd.grad(reference, list(d.parameters()), materialize_grads=True))
    )
    assert value.item() == pytest.approx(reference.item(), abs=1e-6, rel=1e-6)
    for name in params:
        assert torch.allclose(grads[name], reference_grads[name], atol=1e-6, rtol=1e-5)


def test_penalty_enters_discriminator_loss_with_gain():
    d, real, fake, u = setup(2)
    generator = lambda z: z  # noqa: E731  (latents are the fake samples)
    method = Method(StandardLoss(), penalties=(r1(2.0),))
    batch = Batch(real=real, latent=fake, interpolation=u)
    plain = Method(StandardLoss()).discriminator_loss(generator, d, batch).total
    with_gain = method.discriminator_loss(generator, d, batch, regularization_gain=4.0).total
    assert (with_gain - plain).item() == pytest.approx(
        4.0 * classic_penalty(d, real, 2.0, 0.0).item(), rel=1e-5
    )
    skipped = method.discriminator_loss(generator, d, batch, regularization_gain=0.0)
    assert "r1" not in skipped.terms and skipped.total.item() == pytest.approx(plain.item())


def test_invalid_penalties():
    with pytest.raises(ValueError, match="gamma"):
        r1(-1.0)
    with pytest.raises(ValueError, match="at must be"):
        GradientPenalty(gamma=1.0, at="elsewhere")
