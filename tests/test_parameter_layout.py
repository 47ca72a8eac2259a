"""The flat parameter layout: views of one vector, in the order of ``module.parameters()``."""

import torch

from convergan.field import ParameterLayout
from convergan.models.dcgan import DCGANDiscriminator, DCGANGenerator


def test_bound_module_equals_the_module_and_assign_round_trips():
    torch.manual_seed(0)
    for module, inputs in (
        (DCGANDiscriminator(image_size=28, channels=1, width=8), torch.randn(5, 1, 28, 28)),
        (DCGANGenerator(16, image_size=28, channels=1, width=8), torch.randn(5, 16)),
    ):
        layout = ParameterLayout(module)
        flat = layout.flat()
        assert flat.shape == (sum(p.numel() for p in module.parameters()),)
        torch.testing.assert_close(layout.bind(flat)(inputs), module(inputs), atol=1e-5, rtol=1e-5)
        # Views of the flat vector, without a copy.
        views = layout.unflatten(flat)
        for name, p in module.named_parameters():
            torch.testing.assert_close(views[name], p.detach())
            assert flat.data_ptr() <= views[name].data_ptr() < flat.data_ptr() + flat.nbytes
        moved = flat + 0.5
        layout.assign(moved)
        torch.testing.assert_close(layout.flat(), moved)
        # The flat order is the parameters' own: the first entries are the first parameter.
        first = next(iter(module.parameters()))
        torch.testing.assert_close(moved[: first.numel()], first.detach().reshape(-1))
