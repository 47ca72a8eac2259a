"""The leaner double backward of gradient penalties (convergan.methods.lean_backward) against
PyTorch's own autograd formulas: same values, less work."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from convergan.methods.lean_backward import lean_double_backward
from convergan.methods.penalties import output_and_input_gradient
from convergan.models.r3gan import R3GANDiscriminator, Resample


class BiasedConvD(nn.Module):
    """Convolutions with biases, strides, padding and groups, leaky ReLUs, a linear end."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, 8, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8, 8, 3, padding=1, groups=4),
            nn.LeakyReLU(0.1),
            nn.Conv2d(8, 4, 1, bias=False),
            nn.Flatten(),
            nn.Linear(4 * 4 * 4, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)


def r3gan_d():
    d = R3GANDiscriminator(28, 1, 16, blocks=1)
    for name, p in d.named_parameters():  # leave fix-up's identity start (as test_r3gan_arch)
        if "narrow" in name or "bias" in name:
            nn.init.normal_(p, 0.0, 0.1)
    return d


def players(kind):
    torch.manual_seed(0)
    if kind == "r3gan":
        return r3gan_d(), torch.randn(3, 1, 28, 28), torch.randn(3, 1, 28, 28)
    return BiasedConvD(), torch.randn(4, 2, 8, 8), torch.randn(4, 2, 8, 8)


def pytorch_step(d, real, fake, gamma=0.7):
    """R3GAN's D step with PyTorch's formulas: two create_graph input gradients, one
    backward of softplus(−(D(x) − D(G(z)))) + (γ/2)(R1 + R2)."""
    real, fake = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    d_real, d_fake = d(real), d(fake)
    (g_real,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    (g_fake,) = torch.autograd.grad(d_fake.sum(), fake, create_graph=True)
    norms = g_real.square().flatten(1).sum(1) + g_fake.square().flatten(1).sum(1)
    loss = (F.softplus(-(d_real - d_fake)) + gamma / 2 * norms).mean()
    return torch.autograd.grad(loss, list(d.parameters()))


def lean_step(d, real, fake, gamma=0.7):
    """The same step through the library's input-gradient route (lean on CPU images)."""
    d_real, g_real = output_and_input_gradient(d, real)
    d_fake, g_fake = output_and_input_gradient(d, fake)
    norms = g_real.square().flatten(1).sum(1) + g_fake.square().flatten(1).sum(1)
    loss = (F.softplus(-(d_real - d_fake)) + gamma / 2 * norms).mean()
    return torch.autograd.grad(loss, list(d.parameters()))


@pytest.mark.parametrize("kind", ["biased-conv", "r3gan"])
def test_parameter_gradient_equals_pytorch_formulas(kind):
    d, real, fake = players(kind)
    for want, got in zip(pytorch_step(d, real, fake), lean_step(d, real, fake)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["biased-conv", "r3gan"])
def test_output_and_input_gradient_are_pytorch_kernels_to_the_bit(kind):
    d, real, _ = players(kind)
    x = real.clone().requires_grad_(True)
    out = d(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    lean_out, lean_grad = output_and_input_gradient(d, real)
    assert torch.equal(lean_out, out) and torch.equal(lean_grad, grad)


def test_second_and_third_derivatives_by_finite_differences():
    """gradcheck and gradgradcheck (float64) of a convolution with bias and groups followed by
    a leaky ReLU, under lean_double_backward: the double backward is differentiable again
    (consensus differentiates the penalised field once more)."""
    # As small as keeps every feature (a batch, two groups, stride, padding, bias): finite
    # differences cost one evaluation per input entry, a third derivative one per pair.
    torch.manual_seed(1)
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)

    def layer(x, w, b):
        with lean_double_backward():
            return F.leaky_relu(F.conv2d(x, w, b, stride=2, padding=1, groups=2), 0.2)

    assert torch.autograd.gradcheck(layer, (x, w, b))
    assert torch.autograd.gradgradcheck(layer, (x, w, b))


class OpLog(TorchDispatchMode):
    """The aten ops run inside it, with the convolution_backward output masks."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        self.ops.append((name, args[-1] if name == "convolution_backward" else None))
        return func(*args, **(kwargs or {}))

    def count(self, *names):
        return sum(name in names for name, _ in self.ops)


def final_backward_ops(d, real, fake, lean):
    """The aten ops of the backward that differentiates the penalty (the double backward)."""
    if lean:
        (d_real, g_real), (d_fake, g_fake) = (output_and_input_gradient(d, x) for x in (real, fake))
    else:
        outputs = []
        for x in (real, fake):
            x = x.clone().requires_grad_(True)
            out = d(x)
            outputs.append((out, torch.autograd.grad(out.sum(), x, create_graph=True)[0]))
        (d_real, g_real), (d_fake, g_fake) = outputs
    loss = F.softplus(d_fake - d_real).mean() + (g_real.square().sum() + g_fake.square().sum())
    with OpLog() as log:
        torch.autograd.grad(loss, list(d.parameters()))
    return log


def test_no_zero_tensors_and_one_weight_gradient_kernel_per_convolution():
    """PyTorch's formulas fill a tensor of zeros per leaky ReLU and convolve per group for a
    weight gradient in the double backward; the lean ones do neither."""
    d, real, fake = players("r3gan")
    grouped = [m for m in d.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    convolutions = sum(isinstance(m, (nn.Conv2d, Resample)) for m in d.modules())
    native = final_backward_ops(d, real, fake, lean=False)
    lean = final_backward_ops(d, real, fake, lean=True)
    assert native.count("fill_", "zero_", "zeros_like") > 0  # the test can fail
    assert lean.count("fill_", "zero_", "zeros_like") == 0
    # Per side: one convolution forward per layer in the double backward (gradient of the
    # output gradient), and no per-group weight-gradient convolutions.
    assert native.count("convolution") > 2 * convolutions + len(grouped)
    assert lean.count("convolution") == 2 * convolutions


def test_input_gradient_pass_computes_no_weight_gradients():
    d, real, _ = players("biased-conv")
    x = real.clone().requires_grad_(True)
    with lean_double_backward():
        out = d(x.view_as(x))
    with OpLog() as log:
        torch.autograd.grad(out.sum(), x, create_graph=True)
    masks = [mask for name, mask in log.ops if name == "convolution_backward"]
    assert masks and all(list(mask) == [True, False, False] for mask in masks)
