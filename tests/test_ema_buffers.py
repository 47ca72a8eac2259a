"""EMA of the generator's buffers (BatchNorm statistics) and the reporter's checkpointed,
process-averaged means (issue 10, item 5)."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from convergan.checkpoint import load_checkpoint, save_checkpoint
from convergan.field import ParameterLayout
from convergan.training.ema import GeneratorEMA
from convergan.training.generate import generate
from convergan.training.report import Reporter


def bn_generator() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, 4), nn.BatchNorm1d(4, momentum=0.3), nn.ReLU(), nn.Linear(4, 2)
    )


def test_ema_buffers_are_the_hand_computed_average_of_the_live_ones():
    g = bn_generator()
    batch, half_life = 8, 20.0
    beta = 0.5 ** (batch / half_life)
    layout = ParameterLayout(g)
    ema = GeneratorEMA(layout.flat(), half_life, buffers_of=g)
    history = [g[1].running_mean.clone()]  # b_0, then the live statistics after every step
    variances = [g[1].running_var.clone()]
    for step in range(5):
        g(torch.randn(batch, 2) * (step + 1) + step)  # train mode: BN updates its statistics
        ema.update(layout.flat(), batch, (step + 1) * batch)
        history.append(g[1].running_mean.clone())
        variances.append(g[1].running_var.clone())
    k = len(history) - 1
    # avg_k = β^k·b_0 + Σ_{i=1..k} (1 − β)·β^(k − i)·b_i
    expected_mean = beta**k * history[0] + sum(
        (1 - beta) * beta ** (k - i) * history[i] for i in range(1, k + 1)
    )
    expected_var = beta**k * variances[0] + sum(
        (1 - beta) * beta ** (k - i) * variances[i] for i in range(1, k + 1)
    )
    assert torch.allclose(ema.buffers["1.running_mean"], expected_mean, rtol=1e-6, atol=1e-7)
    assert torch.allclose(ema.buffers["1.running_var"], expected_var, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(ema.buffers["1.running_mean"], g[1].running_mean)  # not copied
    # The step counter is a counter, not a statistic: copied.
    assert int(ema.buffers["1.num_batches_tracked"]) == int(g[1].num_batches_tracked) == 5


def test_sampling_with_ema_buffers_uses_them_and_leaves_the_live_module_alone():
    g = bn_generator()
    layout = ParameterLayout(g)
    ema = GeneratorEMA(layout.flat(), 10.0, buffers_of=g)
    for _ in range(3):
        g(torch.randn(16, 2) * 3)
        ema.update(layout.flat() * 0.9, 16, 64)
    live = {n: b.clone() for n, b in g.named_buffers()}
    g.eval()  # running statistics are what BatchNorm uses at evaluation
    z = torch.randn(5, 2)
    out = generate(g, ema.average, z, buffers=ema.buffers)
    # Reference: a copy of the module with the EMA weights and buffers loaded by hand.
    reference = bn_generator().eval()
    ParameterLayout(reference).assign(ema.average)
    with torch.no_grad():
        reference[1].running_mean.copy_(ema.buffers["1.running_mean"])
        reference[1].running_var.copy_(ema.buffers["1.running_var"])
        assert torch.allclose(out, reference(z), atol=1e-6)
    assert all(torch.equal(b, live[n]) for n, b in g.named_buffers())


def test_ema_buffers_survive_a_checkpoint():
    g = bn_generator()
    ema = GeneratorEMA(ParameterLayout(g).flat(), 10.0, buffers_of=g)
    g(torch.randn(8, 2))
    ema.update(ParameterLayout(g).flat(), 8, 8)
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(os.path.join(folder, "ema.pt"), {"ema": ema.state_dict()})
        fresh = GeneratorEMA(torch.zeros_like(ema.average), 10.0, buffers_of=bn_generator())
        fresh.load_state_dict(load_checkpoint(path)["ema"])
    assert torch.equal(fresh.average, ema.average)
    assert all(torch.equal(fresh.buffers[n], b) for n, b in ema.buffers.items())


# ------------------------------------------------------------------ the reporter


def test_reporter_state_round_trip_gives_the_uninterrupted_means():
    values = torch.tensor([0.1, 1e7, -1e7, 0.3, 2.5], dtype=torch.float32)
    straight = Reporter()
    for v in values:
        straight("loss", v)
    first = Reporter()
    for v in values[:3]:
        first("loss", v)
    saved = first.state_dict()
    resumed = Reporter()
    for v in values[3:]:  # the steps after the resume run before the values are put back
        resumed("loss", v)
    resumed.load_state_dict(saved)
    assert resumed.summary() == straight.summary()


def _two_process_summary(rank: int, init_file: str, out: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        reporter = Reporter()
        for v in [1.0, 2.0, 6.0] if rank == 0 else [10.0, 20.0, 30.0]:
            reporter("discriminator/adversarial", v)
        reporter("generator/adversarial", float(rank))

        def average(t):
            t = t.clone()
            dist.all_reduce(t)
            return t / 2

        out[rank] = reporter.summary(average=average)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two processes
def test_reporter_means_are_averaged_across_processes(tmp_path):
    init_file = str(tmp_path / "init")
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_two_process_summary, args=(init_file, out), nprocs=2, join=True)
        results = dict(out)
    # Process means 3 and 20: the logged value is their mean; the same on both processes.
    for rank in (0, 1):
        assert results[rank]["discriminator/adversarial"] == pytest.approx(11.5)
        assert results[rank]["generator/adversarial"] == pytest.approx(0.5)


def test_module_buffers_round_trip_through_a_checkpoint_state():
    from convergan.training.state_checkpoints import load_module_buffers, module_buffers

    trained = bn_generator()
    trained(torch.randn(8, 2) * 5)  # moves the running statistics away from their init
    saved = module_buffers(trained)
    fresh = bn_generator()
    assert not torch.equal(fresh[1].running_mean, trained[1].running_mean)
    load_module_buffers(fresh, saved)
    for (name, a), (_, b) in zip(fresh.named_buffers(), trained.named_buffers()):
        assert torch.equal(a, b), name
