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
_DENORMAL_BITS = 0x00200000  # float32 bits of _SMALLEST_NORMAL / 4


def flushing() -> bool:
    """Whether this thread flushes denormals now (a denormal input then reads as zero)."""
    tiny = torch.tensor([_SMALLEST_NORMAL / 4], dtype=torch.float32)  # [1] a denormal
    return bool((tiny * 1.0).item() == 0.0)


def flushing_all_threads() -> bool:
    """Whether every intra-op torch thread flushes denormals now: an elementwise op over a denormal tensor, split
    across the threads, gives only zeros."""
    n = torch.get_num_threads()
    # made from its bits: a float literal converted on a flushing thread would already be 0
    tiny = torch.full((max(1, n) << 20,), _DENORMAL_BITS, dtype=torch.int32).view(torch.float32)  # [n * 2^20]
    out = (tiny * 1.0).view(torch.int32)  # [n * 2^20] bits, as a flushing thread would read 0 if compared as floats
    return not bool(out.any())


def _set_mode(on: bool) -> bool:
    """Set the mode on this thread and, with more than one torch thread, on each of torch's intra-op threads:
    `torch.set_flush_denormal` reaches the calling thread only, and workers started before it keep theirs
    (measured: half the threads of a 2-thread run kept denormals). False where the CPU cannot flush."""
    if not torch.set_flush_denormal(on):
        return False
    if torch.get_num_threads() > 1:
        from .cext import build

        # -fopenmp at compile time only: its OpenMP calls bind to the runtime torch loaded, hence torch's threads
        build("fgkf_threads", "threads.cpp", "use --threads 1", ("-fopenmp",)).set_flush_denormal_all(on)
    return True


@contextmanager
def flush_denormals(on: bool) -> Iterator[None]:
    """Flush (on) or keep (off) denormals for the block on every torch thread, then restore the previous mode.

    Without CPU support (`torch.set_flush_denormal` returns False) on=True fails.
    """
    before = flushing()
    if not (on or before):
        yield  # nothing to set or restore: every thread keeps denormals unless a flush reached it
        return
    if not _set_mode(on) and on:
        raise RuntimeError("flush_denormal=true: this CPU cannot flush denormals (no SSE3); set flush_denormal=false")
    if on and not flushing_all_threads():
        _set_mode(before)
        raise RuntimeError(f"flush_denormal=true: could not flush on all {torch.get_num_threads()} torch threads; "
                           "use --threads 1")
    try:
        yield
    finally:
        _set_mode(before)
