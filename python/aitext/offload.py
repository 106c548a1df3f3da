"""CPU-heavy work off the event loop: `await offload.run(fn, *args)` runs `fn` in a bounded process pool.

While the `local` model computes on a long text (3 s for 16 MB), the worker's event loop must keep
answering cache hits. Threads do not give that: the computation is pure Python and long `re`
calls hold the GIL throughout, so the loop waits for it. Measured on the 2-core dev machine, the
loop's lateness (10 ms ticks with a cache hit's worth of Python work each) while a 16 MB
summarize ran beside it:

    thread pool:  p50 5.5 ms, p99 73-134 ms, max 97-141 ms (GIL switch interval, then whole regex calls)
    process pool: p50 0.3 ms, p99 9-16 ms,   max 21-58 ms (two cores shared with the computation)

So a process pool, spawned (forking a process that runs grpc's threads is unsafe), started on
first use, `offload_processes` per worker. Texts shorter than `offload_min_chars` are computed
in place: below it the work takes a few milliseconds, less than the round trip to a process.
The pool has no queue limit of its own: every caller waiting for it holds one of the worker's
admission slots (AITEXT_MAX_CONCURRENT_RPCS), which bounds the queue; a waiting call that is
cancelled leaves the queue, one already computing runs to its end in its process.

The functions and arguments given to `run` must pickle: module-level functions and plain data.
Long-document work (chunking, map-reduce) is meant to send its CPU steps through the same `run`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar, TypeVarTuple

from aitext.lifeline import end_with_parent

log = logging.getLogger(__name__)

R = TypeVar("R")
Ts = TypeVarTuple("Ts")

POOL_NICENESS = 10

_processes = 0
_min_size = 0
_pool: ProcessPoolExecutor | None = None


class OffloadFailed(RuntimeError):
    """A pool process died while computing (killed, out of memory); the pool is replaced."""


def configure(processes: int, min_size: int) -> None:
    """Sets the pool size (0: run everything in place) and the size below which work stays in place."""
    global _processes, _min_size
    _processes, _min_size = processes, min_size


async def run(fn: Callable[[*Ts], R], *args: *Ts, size: int | None = None) -> R:
    """`fn(*args)`, computed in a pool process; in place when `size` (e.g. characters of text) is small.

    Raises whatever `fn` raises, and OffloadFailed when its process died.
    """
    if _processes == 0 or (size is not None and size < _min_size):
        return fn(*args)
    pool = _running_pool()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    except BrokenProcessPool as exc:
        _discard(pool)
        raise OffloadFailed(f"a compute process died running {getattr(fn, '__name__', fn)!r}") from exc


async def warm() -> None:
    """Starts one pool process ahead of need, so the first long text pays no start-up on the loop."""
    if _processes:
        await asyncio.get_running_loop().run_in_executor(_running_pool(), _ready)


async def shutdown() -> None:
    """Ends the pool's processes at once (if it ever started); until the next configure(), work
    runs in place. Called once the server has drained, so what they still compute has no caller,
    and a process still starting up could take seconds to notice a polite request."""
    global _pool, _processes
    pool, _pool, _processes = _pool, None, 0
    if pool is not None:
        _discard(pool)


def _running_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            _processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_process,
            initargs=(os.getpid(),),
        )
    return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    """Kills a broken or stuck pool's processes; the next run() starts a new pool."""
    global _pool
    if _pool is pool:
        _pool = None
    processes = list(getattr(pool, "_processes", {}).values())  # no public way before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()


def _ready() -> None:
    pass


def _start_process(parent_pid: int) -> None:
    # A pool process holds nothing worth a goodbye: it dies with its worker, however that dies.
    end_with_parent(parent_pid, signal.SIGKILL)
    # Ctrl-C reaches the whole process group; the worker decides what happens to running work.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Long computations yield the CPU to the worker's event loop when cores are short: a cache
    # hit waits for no one, a multi-second computation barely notices.
    os.nice(POOL_NICENESS)
