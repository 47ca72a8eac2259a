"""One intra-op thread for commands whose tensors are tiny (the Dirac-GAN's 2×2 matrices)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)``, then restore the caller's count.

    With two threads every batched op over more than a few dozen small matrices hands work to
    the second thread and waits for it, which costs far more than the op ("Speed of dirac
    analyze" in docs/results/benchmarks.md).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
