"""The intra-op CPU thread count of PyTorch, set for a block of work and restored after it."""
import contextlib
from typing import Iterator, Optional

import torch


@contextlib.contextmanager
def cpu_threads(threads: Optional[int]) -> Iterator[None]:
    """Run with ``threads`` intra-op CPU threads (None: unchanged), then restore the previous count."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
