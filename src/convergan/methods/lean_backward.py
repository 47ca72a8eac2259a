"""Leaner double backward for gradient penalties: two autograd formulas of PyTorch replaced.

A gradient penalty's D step differentiates D's input gradient again (R1, R2: one forward, one
``create_graph`` input-gradient backward, one double backward). Two of PyTorch's formulas for
that double backward do work the result does not need:

* **Leaky ReLU.** The derivative of ``leaky_relu_backward(grad, x)`` with respect to ``x`` is
  zero almost everywhere, and PyTorch returns it as a *tensor of zeros* the size of the
  activation, which the engine then adds into the forward pass's gradients: a fill and an add
  per activation per step. Here the input gradient is built with ``x`` detached, so no zeros
  are made; every value is the same to the bit.
* **Convolution.** PyTorch's ``_convolution_double_backward`` computes the weight gradient
  of ``conv_backward_input(gO, W)`` as a convolution of the transposed tensors, with the whole
  feature map as the kernel and, for a grouped convolution, one call per group. Here it is
  the weight-gradient kernel of ``convolution_backward`` (the one every first-order backward
  uses), one call; the value is the same up to the order of the sums (float rounding).

The forward values and the input gradient are PyTorch's own kernels, called with the same
arguments. :func:`lean_double_backward` swaps the two functions in for the ops a
discriminator calls inside it (``F.conv2d`` on batches of images, ``F.leaky_relu`` not in
place), eager autograd only (:func:`~convergan.methods.penalties.output_and_input_gradient`
enters it for image samples on the CPU, where it was measured: see
``benchmarks/bench_r3gan_step.py``). Higher derivatives stay exact: the double backward is
written with differentiable ops.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

_convolution = torch.ops.aten.convolution.default
_convolution_backward = torch.ops.aten.convolution_backward.default
_leaky_relu = torch.ops.aten.leaky_relu.default
_leaky_relu_backward = torch.ops.aten.leaky_relu_backward.default


def _will_run(edge) -> bool:
    """Whether the running backward pass needs the gradient along ``edge`` (a node of
    ``ctx.next_functions``): the input-gradient pass needs no weight gradients. PyTorch's own
    kernels skip them the same way (``task_should_compute_output``); a leaf whose gradient is
    asked by ``autograd.grad`` cannot be told apart, so it counts as needed."""
    node = edge[0]
    if node is None:
        return False
    try:
        return bool(torch._C._will_engine_execute_node(node))
    except (RuntimeError, AttributeError):
        return True


def _conv_backward(g_out: Tensor, x: Tensor, w: Tensor, args, bias: bool, mask) -> tuple:
    stride, padding, dilation, groups = args
    sizes = [w.shape[0]] if bias else None
    return _convolution_backward(
        g_out, x, w, sizes, stride, padding, dilation, False, [0, 0], groups, list(mask)
    )


class _Conv2dBackward(Function):
    """``(gO, x, W) ↦ (∇x, ∇W, ∇b)`` of a 2D convolution, differentiable again."""

    @staticmethod
    def forward(ctx, g_out, x, w, args, bias, mask):
        # An output the loss does not use gets no gradient, not a tensor of zeros to convolve.
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(g_out, x, w)
        ctx.args = args
        return _conv_backward(g_out, x, w, args, bias, mask)

    @staticmethod
    def backward(ctx, gg_x, gg_w, gg_b):
        g_out, x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.args
        need_g_out, need_x, need_w = ctx.needs_input_grad[:3]
        grad_g_out = grad_x = grad_w = None
        if need_g_out:
            # ∇x = conv_transposed(gO, W), ∇W = corr(x, gO), ∇b = Σ gO are linear in gO.
            parts = []
            if gg_x is not None:
                parts.append(F.conv2d(gg_x, w, None, stride, padding, dilation, groups))
            if gg_w is not None:
                parts.append(F.conv2d(x, gg_w, None, stride, padding, dilation, groups))
            if gg_b is not None:
                parts.append(gg_b.view(1, -1, 1, 1).expand_as(g_out))
            grad_g_out = sum(parts[1:], parts[0]) if parts else None
        if need_w and gg_x is not None:
            # d⟨gg_x, conv_transposed(gO, W)⟩/dW: the weight gradient of a convolution of
            # gg_x whose output gradient is gO, by the weight-gradient kernel.
            grad_w = _conv_backward(g_out, gg_x, w, ctx.args, False, (False, True, False))[1]
        if need_x and gg_w is not None:
            grad_x = _conv_backward(g_out, x, gg_w, ctx.args, False, (True, False, False))[0]
        return grad_g_out, grad_x, grad_w, None, None, None


class _Conv2d(Function):
    """``F.conv2d`` (PyTorch's kernel) whose backward is :class:`_Conv2dBackward`."""

    @staticmethod
    def forward(ctx, x, w, b, args):
        ctx.save_for_backward(x, w)
        ctx.args, ctx.bias = args, b is not None
        stride, padding, dilation, groups = args
        return _convolution(x, w, b, stride, padding, dilation, False, [0, 0], groups)

    @staticmethod
    def backward(ctx, g_out):
        x, w = ctx.saved_tensors
        needed = ctx.needs_input_grad
        mask = tuple(needed[i] and _will_run(ctx.next_functions[i]) for i in range(3))
        if torch.is_grad_enabled():  # create_graph: the penalty differentiates it again
            grads = _Conv2dBackward.apply(g_out, x, w, ctx.args, ctx.bias, mask)
        else:
            grads = _conv_backward(g_out, x, w, ctx.args, ctx.bias, mask)
        return *(g if m else None for g, m in zip(grads, mask)), None


class _LeakyReLU(Function):
    """``F.leaky_relu`` whose input gradient treats the activation's mask as a constant (its
    derivative is zero almost everywhere), so the double backward makes no zeros."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return _leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, g_out):
        (x,) = ctx.saved_tensors
        return _leaky_relu_backward(g_out, x.detach(), ctx.slope, False), None


def _pair(value) -> list[int]:
    return list(value) if isinstance(value, (tuple, list)) else [value, value]


_CONV_ARGUMENTS = ("bias", "stride", "padding", "dilation", "groups")


class lean_double_backward(TorchFunctionMode):  # noqa: N801 (used as a function)
    """Inside it, ``F.conv2d`` on 4D inputs and ``F.leaky_relu`` (not in place) record the
    functions above; every other op runs as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if torch.is_grad_enabled():
            if func is F.conv2d:
                x, w, *rest = args
                given = {**dict(zip(_CONV_ARGUMENTS, rest)), **kwargs}
                padding = given.get("padding", 0)
                if x.dim() == 4 and not isinstance(padding, str):
                    stride, dilation = given.get("stride", 1), given.get("dilation", 1)
                    conv_args = (_pair(stride), _pair(padding), _pair(dilation))
                    conv_args += (given.get("groups", 1),)
                    return _Conv2d.apply(x, w, given.get("bias"), conv_args)
            elif func is F.leaky_relu:
                given = {**dict(zip(("negative_slope", "inplace"), args[1:])), **kwargs}
                if not given.get("inplace", False):
                    return _LeakyReLU.apply(args[0], given.get("negative_slope", 0.01))
        return func(*args, **kwargs)
