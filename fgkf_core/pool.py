"""The worker processes of a sweep or a study queue: spawned, one run each at a time, gone with their parent.

Ctrl-C (SIGINT) reaches only the parent: it kills the workers at once and re-raises, so a sweep stops as a
whole instead of each worker stopping its own run while the pool starts the next. A killed run resumes
exactly from its last checkpoint.
"""
from __future__ import annotations

import multiprocessing as mp
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator


def worker_init() -> None:
    """Worker initializer: ignore SIGINT (the parent handles it) and, on Linux, die with the parent, so no
    orphan keeps training and holding its run's lock."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context pool of `workers` processes; on KeyboardInterrupt (or any error of the parent) its workers
    are killed (not waited for), queued runs are cancelled, and the exception propagates."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=worker_init)
    try:
        yield pool
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):  # no public way to stop a running task
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
