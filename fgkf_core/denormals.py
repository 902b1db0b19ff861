"""Denormal floats on CPU: flush them to zero for a run (`Config.flush_denormal`), and read the current mode.

Once a model has trained a while, its LSTM and capsule gradients hold denormal float32 values (below 1.2e-38),
which x86 CPUs process 10-100x slower than normal ones: measured on a full-profile FGKF cws_zx checkpoint, the
LSTM backward took 469 ms per call instead of 37 ms, and a source step 3.3 s instead of 1.0 s. Flushing them
(FTZ/DAZ, as TensorFlow's CPU runtime does) turns such values into zero: a change of at most 1.2e-38 per value.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

_SMALLEST_NORMAL = 1.1754943508222875e-38  # float32


def flushing() -> bool:
    """Whether this thread flushes denormals now (a denormal input then reads as zero)."""
    tiny = torch.tensor([_SMALLEST_NORMAL / 4], dtype=torch.float32)  # [1] a denormal
    return bool((tiny * 1.0).item() == 0.0)


@contextmanager
def flush_denormals(on: bool) -> Iterator[None]:
    """Flush (on) or keep (off) denormals in this thread for the block, then restore the previous mode.

    Applies to the calling thread (and threads it starts later): with the default one torch thread per process,
    that is every kernel of a run. Without CPU support (`torch.set_flush_denormal` returns False) on=True fails.
    """
    before = flushing()
    if not torch.set_flush_denormal(on) and on:
        raise RuntimeError("flush_denormal=true: this CPU cannot flush denormals (no SSE3); set flush_denormal=false")
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
