"""R3GAN's architecture: shapes, parameter count from the layer sizes, initialisation, a short
training run, and the discriminator's input gradients (the R1/R2 route) against autograd."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from convergan.cli.main import main
from convergan.field import ParameterLayout
from convergan.methods import preset_spec
from convergan.methods.penalties import output_and_input_gradient
from convergan.models.r3gan import R3GANDiscriminator, R3GANGenerator
from convergan.options import ConfigError
from convergan.registry import ARCHITECTURES

SIZES = [(28, 1), (32, 3), (64, 3)]


@pytest.mark.parametrize("size,channels", SIZES)
def test_shapes_at_each_size(size, channels):
    torch.manual_seed(0)
    g = R3GANGenerator(latent_dim=8, image_size=size, channels=channels, width=16, blocks=1)
    d = R3GANDiscriminator(image_size=size, channels=channels, width=16, blocks=1)
    images = g(torch.randn(3, 8))
    assert images.shape == (3, channels, size, size)
    assert d(images).shape == (3,)
    labels = torch.tensor([0, 4, 2])
    gc = R3GANGenerator(8, size, channels, 16, num_classes=5, blocks=1)
    dc = R3GANDiscriminator(size, channels, 16, num_classes=5, blocks=1)
    assert dc(gc(torch.randn(3, 8), labels), labels).shape == (3,)


def expected_parameters(size, channels, width, blocks, latent, num_classes=None):
    """From the layer sizes: per residual block a 1x1 conv C->2C, a 3x3 conv 2C->2C in groups
    of 16 input channels, a 1x1 conv 2C->C (no conv biases) and two biases of 2C."""
    start = 7 if size == 28 else 4
    stages = int(math.log2(size // start)) + 1
    wide = 2 * width
    block = width * wide + wide * 16 * 9 + wide * width + 2 * wide
    body = stages * blocks * block
    label = num_classes * latent if num_classes else 0
    z_in = latent * (2 if num_classes else 1)
    generator = label + z_in * width + width * start * start + body + width * channels
    discriminator = channels * width + body + width * start * start + width * (num_classes or 1)
    return generator, discriminator


@pytest.mark.parametrize("size,channels", SIZES)
@pytest.mark.parametrize("num_classes", [None, 10])
def test_parameter_count_from_the_layer_sizes(size, channels, num_classes):
    g = R3GANGenerator(12, size, channels, 32, num_classes=num_classes, blocks=2)
    d = R3GANDiscriminator(size, channels, 32, num_classes=num_classes, blocks=2)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert (count(g), count(d)) == expected_parameters(size, channels, 32, 2, 12, num_classes)


def test_fixup_initialisation_makes_every_block_the_identity():
    torch.manual_seed(0)
    d = R3GANDiscriminator(32, 3, 16, blocks=2)
    blocks = [m for m in d.modules() if type(m).__name__ == "ResidualBlock"]
    assert len(blocks) == 8  # 4 stages x 2 blocks
    x = torch.randn(2, 16, 8, 8)
    for block in blocks:
        assert torch.equal(block(x), x)
        # He init for LeakyReLU(0.2), scaled by L^(-1/4), L = 8 blocks.
        fan_in = 16
        want = math.sqrt(2 / 1.04) / math.sqrt(fan_in) * 8 ** (-0.25)
        assert block.widen.weight.std().item() == pytest.approx(want, rel=0.15)


def test_the_registered_builder_checks_size_and_width():
    class M:
        latent_dim, width, depth = 8, 16, 1

    g, d = ARCHITECTURES["r3gan"](M, (3, 32, 32))
    assert isinstance(g, R3GANGenerator) and isinstance(d, R3GANDiscriminator)
    with pytest.raises(ConfigError, match="model.image_size"):
        ARCHITECTURES["r3gan"](M, (3, 48, 48))
    M.width = 12
    with pytest.raises(ConfigError, match="model.width"):
        ARCHITECTURES["r3gan"](M, (3, 32, 32))


def leave_the_identity_start(d):
    """Random last layers and biases: at fix-up's start every block is the identity, and the
    residual branches would not be exercised."""
    for name, p in d.named_parameters():
        if "narrow" in name or "bias" in name:
            torch.nn.init.normal_(p, 0.0, 0.1)


@pytest.mark.parametrize("functional", [False, True])
def test_input_gradient_route_equals_plain_autograd(functional):
    """The stacked real+fake pass R1 + R2 use gives, row by row, each sample's own gradient:
    checked against autograd on one sample at a time (so no sample leaks into another)."""
    torch.manual_seed(0)
    d = R3GANDiscriminator(28, 1, 16, blocks=1)
    leave_the_identity_start(d)
    x = torch.randn(4, 1, 28, 28)
    params = dict(d.named_parameters())

    def call(inputs):
        return torch.func.functional_call(d, params, (inputs,))

    out, grad = output_and_input_gradient(call, x, functional)
    for i in range(4):
        xi = x[i : i + 1].clone().requires_grad_(True)
        yi = d(xi)
        (gi,) = torch.autograd.grad(yi.sum(), xi)
        torch.testing.assert_close(out[i], yi[0].detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad[i], gi[0], rtol=1e-4, atol=1e-6)


def test_r3gan_discriminator_step_equals_r3gan_pattern():
    """Our fused RpGAN + R1 + R2 gradient on R3GAN's players equals R3GAN's own D step (two
    forwards, two create_graph input gradients, one backward)."""
    from convergan.field import DISCRIMINATOR
    from convergan.methods import Batch
    from convergan.training.loop import training_field

    torch.manual_seed(0)
    g = R3GANGenerator(8, 28, 1, 16, blocks=1)
    d = R3GANDiscriminator(28, 1, 16, blocks=1)
    leave_the_identity_start(d)
    batch = Batch(real=torch.randn(4, 1, 28, 28), latent=torch.randn(4, 8))
    gamma = 0.3
    field = training_field(g, d, preset_spec("r3gan", gamma=gamma).build(), lambda: batch)
    x = (ParameterLayout(g).flat(), ParameterLayout(d).flat())
    got = -field.player(DISCRIMINATOR, x)

    real = batch.real.clone().requires_grad_(True)
    fake = g(batch.latent).detach().requires_grad_(True)
    d_real, d_fake = d(real), d(fake)
    (r1,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    (r2,) = torch.autograd.grad(d_fake.sum(), fake, create_graph=True)
    penalty = r1.square().sum([1, 2, 3]) + r2.square().sum([1, 2, 3])
    loss = (torch.nn.functional.softplus(-(d_real - d_fake)) + gamma / 2 * penalty).mean()
    want = torch.cat([w.reshape(-1) for w in torch.autograd.grad(loss, list(d.parameters()))])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # trains the R3GAN preset
def test_a_few_training_steps_with_the_r3gan_preset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    run = tmp_path / "run"
    code = main([
        "train", "fashion-mnist/base", "data.name=npy", f"data.path={tmp_path / 'images.npy'}",
        "data.batch_size=8", "model.name=r3gan", "model.width=16", "model.depth=1",
        "model.latent_dim=16", "method=r3gan", "method.gamma=0.05", "train.steps=3",
        "train.log_every=1", "train.eval_every=0", "train.sample_every=0",
        "train.checkpoint_every=0", "eval.metrics=[]", "device=cpu", f"out_dir={run}", "--quiet",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    lines = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    records = [r for r in lines if "generator/adversarial" in r]  # not the diagnostics' rows
    assert [r["step"] for r in records] == [1, 2, 3]
    last = records[-1]
    assert math.isfinite(last["discriminator/r1"]) and math.isfinite(last["discriminator/r2"])
    assert math.isfinite(last["generator/adversarial"])
