"""How many threads NumPy's OpenBLAS may use for one of Lucid's GEMMs.

OpenBLAS splits every GEMM over all cores and its workers spin between calls. When another
process keeps a core busy, each split GEMM waits for a worker that is not running, and the many
small GEMMs of a training step then cost a scheduler time slice each (issue 10: a 22 ms step
became 240 ms; ``OPENBLAS_NUM_THREADS=1`` removed it). The policy here: a GEMM runs on one
thread unless it is big enough for the split to pay even when a core is contended
(``threads_for``), and Lucid restores the library's setting after each call, so a user's own
NumPy code is not affected.

The library is found by reading ``/proc/self/maps`` for the OpenBLAS that NumPy loaded and
binding its ``*_set_num_threads*`` / ``*_get_num_threads*`` functions with ctypes (NumPy's wheels
bundle ``scipy_openblas`` with suffixed names). Where there is no such library (macOS's
Accelerate, MKL, no ``/proc``) every function here does nothing.

Many small GEMMs of one convolution (its im2col chunks) are instead spread over a pool of
threads (``run_ordered``), each chunk's copy and GEMM on one thread, taken from a queue: a worker
whose core is busy simply takes fewer chunks, so nothing waits on it except the last chunk,
where a split GEMM would wait on every call. Results are combined in chunk order, so the sums
do not depend on which thread computed what.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Symbol name stems, most specific first: NumPy's scipy_openblas (64-bit ints, suffixed), then a
# plain OpenBLAS.
_PREFIXES = ("scipy_openblas_", "openblas_")
_SUFFIXES = ("64_", "_64_", "")

# A GEMM with fewer multiply-adds than this runs on one thread. Measured (docs/benchmarks.md): a
# split halves a GEMM on a quiet machine, saving ~1 ms at 2^27 (a 512^3 product) and ~0.06 ms
# at 2^23 (a typical im2col chunk of the demo network), while on a contended core each split
# GEMM may wait a scheduler time slice (several ms) for its second thread.
MIN_WORK_TO_SPLIT = 1 << 27


class _OpenBlas:
    """The set/get thread-count functions of one loaded OpenBLAS."""

    def __init__(self, set_fn, get_fn):
        self._set, self._get = set_fn, get_fn

    def get(self) -> int:
        return max(1, int(self._get()))

    def set(self, n: int) -> None:
        self._set(int(n))


def _bind(lib):
    """(set, get) ctypes functions of an OpenBLAS library, or None."""
    for prefix in _PREFIXES:
        for suffix in _SUFFIXES:
            try:
                set_fn = getattr(lib, f"{prefix}set_num_threads{suffix}")
                get_fn = getattr(lib, f"{prefix}get_num_threads{suffix}")
            except AttributeError:
                continue
            set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
            get_fn.argtypes, get_fn.restype = [], ctypes.c_int
            return set_fn, get_fn
    return None


def loaded_openblas_paths(maps_text: str) -> list:
    """Paths of the OpenBLAS shared libraries named in a ``/proc/<pid>/maps`` text, NumPy's own
    bundled copy first."""
    paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so[\w.]*)", maps_text, re.IGNORECASE)))
    return sorted(paths, key=lambda p: ("numpy" not in p and "scipy_openblas" not in p, p))


def _find():
    """The OpenBLAS NumPy uses, or None (not Linux, or another BLAS)."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return None
    for path in loaded_openblas_paths(maps):
        try:
            fns = _bind(ctypes.CDLL(path))
        except OSError:
            continue
        if fns is not None:
            return _OpenBlas(*fns)
    return None


_UNSET = object()
_blas = _UNSET


def openblas():
    """The bound OpenBLAS (found once), or None where there is none to control."""
    global _blas
    if _blas is _UNSET:
        _blas = _find()
    return _blas


# A GEMM with few columns is bound by reading its large operand, not by its multiply-adds: a
# 512 x 13824 float32 weight times 6 columns (42M multiply-adds, a deep 3D conv layer of a
# small volume) took 5.2 ms on one thread and 2.9 ms on two, as long as ~2^27 multiply-adds of
# a square product. So an operand element counts as this many multiply-adds in the split
# decision (the splitting threshold is then reached by an operand of ~16 MiB of float32).
MOVE_COST = 32


def threads_for(work: int, allowed: int) -> int:
    """Threads for a GEMM of ``work`` multiply-adds when ``allowed`` are available: one below
    MIN_WORK_TO_SPLIT, else all of them."""
    return allowed if work >= MIN_WORK_TO_SPLIT else 1


@contextlib.contextmanager
def gemm_threads(work: int):
    """Within the block, NumPy's OpenBLAS uses the threads ``threads_for(work)`` allows; the
    previous setting is restored after it, and it is also the most used (so a user's own limit,
    e.g. threadpoolctl's, holds). Does nothing where there is no OpenBLAS to control."""
    blas = openblas()
    if blas is None:
        yield
        return
    before = blas.get()
    want = threads_for(work, before)
    if want == before:
        yield
        return
    blas.set(want)
    try:
        yield
    finally:
        blas.set(before)


def gemm_work(a_shape, a_size, b_shape, b_size) -> int:
    """Multiply-adds of a (batched, broadcast) matmul of operands of these shapes and sizes
    (both at least 2-D)."""
    batch = max(
        a_size // max(1, a_shape[-2] * a_shape[-1]), b_size // max(1, b_shape[-2] * b_shape[-1])
    )
    return batch * a_shape[-2] * a_shape[-1] * b_shape[-1]


def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)`` with the threads the policy gives a GEMM of its size (every
    GEMM of Lucid's NumPy kernels goes through here): its multiply-adds, or its operands' or
    result's elements times MOVE_COST where that is more (a GEMM bound by memory, not
    arithmetic). In a ``run_ordered`` worker it runs as it is: the pool set one thread for its
    whole run."""
    if getattr(_worker, "active", False):
        return np.matmul(a, b, out=out)
    work = gemm_work(a.shape, a.size, b.shape, b.size)
    out_size = work // max(1, a.shape[-1])  # a weight gradient's product is the large one
    with gemm_threads(max(work, MOVE_COST * max(a.size, b.size, out_size))):
        return np.matmul(a, b, out=out)


# run_ordered's pool on or off (benchmarks/contention.py measures both)
CHUNK_POOL = True
_worker = threading.local()
_pool: list = []  # [(pid, workers, executor)]: rebuilt in a forked child, whose threads are gone
_pool_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child (a DataLoader worker) has none of the pool's threads, and the lock may have
    been held by a parent thread at the fork: start both afresh."""
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _executor(workers: int) -> ThreadPoolExecutor:
    with _pool_lock:
        if _pool and (_pool[0][0] != os.getpid() or _pool[0][1] != workers):
            if _pool[0][0] == os.getpid():
                _pool[0][2].shutdown(wait=False)
            _pool.clear()
        if not _pool:
            ex = ThreadPoolExecutor(workers, thread_name_prefix="lucid-gemm")
            _pool.append((os.getpid(), workers, ex))
        return _pool[0][2]


def _in_worker(fn, item):
    _worker.active = True
    return fn(item)


def run_ordered(fn, items, work_per_item: int, consume=None) -> None:
    """``consume(fn(item))`` for every item, in the items' order (``consume`` runs in the
    calling thread). Where OpenBLAS can be controlled and allows several threads, and there are
    several items each too small for OpenBLAS to split (``work_per_item`` multiply-adds below
    MIN_WORK_TO_SPLIT), the ``fn`` calls run on a pool of that many threads with OpenBLAS set to
    one thread for the whole run; otherwise here, one after another. ``fn`` must only write
    where no other item writes."""
    items = list(items)
    blas = openblas()
    allowed = blas.get() if blas is not None else 1
    if (
        not CHUNK_POOL
        or blas is None
        or len(items) < 2
        or allowed < 2
        or work_per_item >= MIN_WORK_TO_SPLIT
    ):
        for item in items:
            r = fn(item)
            if consume is not None:
                consume(r)
        return
    workers = min(allowed, os.cpu_count() or allowed)
    ex = _executor(workers)
    pending: collections.deque = collections.deque()
    todo = iter(items)
    blas.set(1)
    try:
        for item in todo:  # at most 2 per worker in flight: bounded memory for the results
            pending.append(ex.submit(_in_worker, fn, item))
            if len(pending) >= 2 * workers:
                break
        while pending:
            r = pending.popleft().result()
            nxt = next(todo, _DONE)
            if nxt is not _DONE:
                pending.append(ex.submit(_in_worker, fn, nxt))
            if consume is not None:
                consume(r)
    finally:
        for f in pending:  # an error: let the chunks already running finish before returning
            f.cancel()
        for f in pending:
            if not f.cancelled():
                f.exception()
        blas.set(allowed)


_DONE = object()
