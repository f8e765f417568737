"""Loader workers: threads that fetch samples (and stack them with numpy) while the training
step runs, and the per-sample random generator that makes augmentation reproducible.

Threads, not processes, by measurement (benchmarks/loader_workers.py, docs/benchmarks.md):
numpy augmentations release the GIL for most of their time, and threads need no pickling of
datasets or batches. Workers return numpy trees, and the loader makes the Tensors in the thread
that iterates it. A dataset may still use Lucid ops (``lucid.rand(1).item()``): each worker has
its own MLX streams and its own seeded generator, its Tensors are handed over as host copies,
and it releases its streams before it ends (MLX aborts the process when a thread's streams are
torn down while the interpreter exits).
"""

from __future__ import annotations

import atexit
import queue
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from lucid import _backend as B

__all__ = [
    "WorkerInfo",
    "get_worker_info",
    "sample_rng",
    "WorkerPool",
    "fetch_samples",
    "raise_from_worker",
]

_local = threading.local()
THREAD_PREFIX = "lucid-data-worker"


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: ``id``, ``num_workers``, ``seed``
    (the base seed of the iteration that started the worker + id) and ``dataset``, as in
    PyTorch."""

    def __init__(self, id, num_workers, seed: int, dataset):  # noqa: A002 (PyTorch's field name)
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


def get_worker_info():
    """The current worker's ``WorkerInfo`` inside a ``DataLoader`` worker, None elsewhere."""
    return getattr(_local, "info", None)


def sample_rng() -> np.random.Generator:
    """A numpy Generator for the sample being fetched: call it in ``Dataset.__getitem__`` to
    draw augmentation parameters. Inside a ``DataLoader`` it is seeded from (the iteration's
    base seed, drawn from the loader's generator or the default one, and the sample's
    position in the epoch), so a seeded run gives the same samples whatever ``num_workers`` is,
    and a resumed epoch the same as the interrupted one; repeated calls within one sample
    continue one stream. Outside a loader it is seeded from a seed drawn from the default
    generator (``lucid.manual_seed``)."""
    seed = getattr(_local, "sample_seed", None)
    if seed is None:
        from lucid import random
        from lucid.data.sampler import draw_seed

        return np.random.default_rng(draw_seed(random.default_generator))
    if _local.rng is None:
        _local.rng = np.random.default_rng(np.random.SeedSequence(list(seed)))
    return _local.rng


def fetch_samples(dataset, indices: Sequence[int], first_position: int, base_seed: int) -> list:
    """``[dataset[i] for i in indices]``, each call seeing its own ``sample_rng``."""
    out = []
    for position, index in enumerate(indices, first_position):
        _local.sample_seed, _local.rng = (base_seed, position), None
        try:
            out.append(dataset[index])
        finally:
            _local.sample_seed, _local.rng = None, None
    return out


class WorkerPool:
    """``num_workers`` threads, all started at once, running loader tasks in submission order;
    ``worker_init_fn(id)`` runs first in each (an error in it is raised by every task of that
    worker, so it surfaces in the loader). Each worker's generator is seeded from its
    ``WorkerInfo.seed`` and ``epoch`` (the epoch the pool starts at). Daemon threads, stopped
    by ``shutdown`` (and joined, unless a worker may hang) when the loader or iterator owning the
    pool goes away, and at interpreter exit."""

    def __init__(
        self, num_workers: int, dataset, base_seed: int, worker_init_fn=None, epoch: int = 0
    ):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [
            threading.Thread(
                target=self._work,
                name=f"{THREAD_PREFIX}-{i}",
                args=(WorkerInfo(i, num_workers, base_seed + i, dataset), worker_init_fn, epoch),
                daemon=True,
            )
            for i in range(num_workers)
        ]
        for thread in self.threads:
            thread.start()
        _LIVE.add(self)

    def _work(self, info, worker_init_fn, epoch):
        try:
            self._serve(info, worker_init_fn, epoch)
        finally:
            # while Python still runs this thread: join() must find its MLX streams gone
            try:
                B.release_thread()
            except Exception as exc:  # noqa: BLE001 (no task is left to carry it)
                warnings.warn(
                    f"DataLoader worker {info.id} ended with failed deferred work: {exc}",
                    RuntimeWarning,
                    stacklevel=1,
                )

    def _serve(self, info, worker_init_fn, epoch):
        _local.info = info
        # each thread has its own generator: seed each worker's apart, anew each epoch
        B.random_seed(int(np.random.SeedSequence([info.seed, epoch]).generate_state(1)[0]))
        init_error = None
        if worker_init_fn is not None:
            try:
                worker_init_fn(info.id)
            except Exception as exc:  # noqa: BLE001 (re-raised by each task of this worker)
                init_error = exc
        while (task := self._tasks.get()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                if init_error is not None:
                    raise init_error
                try:
                    result = fn(*args)
                finally:  # a deferred check made by this task fails this task (its cause first)
                    if B.has_pending():
                        B.check_indices()
            except BaseException as exc:  # noqa: BLE001 (handed to the loader's thread)
                exc.lucid_worker_id = info.id
                future.set_exception(exc)
            else:
                future.set_result(result)
            del task, future, fn, args  # an idle worker must not keep the loader alive
            result = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)`` for the next free worker."""
        future: Future = Future()
        self._tasks.put((future, fn, args))
        return future

    def shutdown(self, wait: bool = False) -> None:
        """Let each thread end after the tasks queued so far (cancel them first to skip them);
        ``wait``: join the threads (all but the calling one, where a worker drops the loader)."""
        for _ in self.threads:
            self._tasks.put(None)
        if wait:
            for thread in self.threads:
                if thread is not threading.current_thread():
                    thread.join()


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_live_pools():
    """At exit, pools of iterators still alive: stop their threads (after the current task)."""
    pools = list(_LIVE)
    for pool in pools:
        pool.shutdown()
    for pool in pools:
        for thread in pool.threads:
            thread.join(timeout=10)


def raise_from_worker(exc: BaseException) -> None:
    """Raise ``exc`` (from a worker) in the loader's thread: same type where it can be built
    from a message, with the worker's id and its original traceback in the message."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = (
        f"Caught {type(exc).__name__} in DataLoader worker "
        f"{getattr(exc, 'lucid_worker_id', '?')}.\nOriginal {text}"
    )
    try:
        error = type(exc)(message)
    except Exception:  # noqa: BLE001 (exception types with other constructors)
        error = RuntimeError(message)
    raise error from exc
