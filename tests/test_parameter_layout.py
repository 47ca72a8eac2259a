"""The flat parameter layout: channels-last storage of conv weights is invisible outside."""

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
        # Conv weights are viewed channels-last, with no copy of the flat vector.
        views = layout.unflatten(flat)
        for name, p in module.named_parameters():
            torch.testing.assert_close(views[name], p.detach())
            if p.dim() == 4:
                assert views[name].is_contiguous(memory_format=torch.channels_last)
                assert views[name].data_ptr() >= flat.data_ptr()
        moved = flat + 0.5
        layout.assign(moved)
        torch.testing.assert_close(layout.flat(), moved)
        # The flat order is channels last: a conv weight's first entries run over in-channels.
        first = next(p for p in module.parameters() if p.dim() == 4)
        offset = 0
        for p in module.parameters():
            if p is first:
                break
            offset += p.numel()
        n_in = first.shape[1]
        torch.testing.assert_close(moved[offset : offset + n_in], first.detach()[0, :, 0, 0])
