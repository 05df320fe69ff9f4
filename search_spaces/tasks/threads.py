"""One torch thread-count guard for every built-in space."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int | None = 1) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (unchanged when None), then restore.

    The built-in models are small and the machines shared: extra threads only add
    synchronisation, and on a busy machine two threads can be ten times slower than one.
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
