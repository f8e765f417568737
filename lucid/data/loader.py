"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches."""

from __future__ import annotations

import collections
import itertools
import weakref
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from lucid.data.collate import convert_sample, finish_batch, from_host, stack_samples, to_host
from lucid.data.dataset import Subset, TensorDataset, _seed, checked_indices
from lucid.data.workers import WorkerPool, fetch_samples, raise_from_worker

__all__ = ["DataLoader"]


def _tensor_source(dataset):
    """(TensorDataset, index arrays of the Subsets around it, outermost first) when batches can
    be gathered straight from the dataset's arrays, else None."""
    levels = []
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        levels.append(np.asarray(dataset.indices, dtype=np.int64))
        dataset = dataset.dataset
    if (
        isinstance(dataset, TensorDataset)
        and type(dataset).__getitem__ is TensorDataset.__getitem__
    ):
        return dataset, levels
    return None


def _gather(source, indices) -> tuple:
    """One batch of a TensorDataset source: the indices mapped through each Subset (each
    checked against that Subset's length), then one gather per tensor."""
    dataset, levels = source
    idx = indices
    for level in levels:
        idx = level[checked_indices(idx, len(level), "Subset")]
    return dataset.batch(idx)


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=8, shuffle=True)``.

    ``shuffle`` draws a new order every epoch from the loader's own numpy Generator, seeded
    once from ``seed`` (or from ``lucid.random.seed``'s state when ``seed`` is None), so epochs
    differ and a run is reproducible. ``sampler`` (an iterable of indices, re-iterated each
    epoch) replaces the order; ``batch_sampler`` (an iterable of lists of indices) replaces the
    batching too; ``batch_size=None`` yields samples one by one (numpy arrays made Tensors,
    ``collate_fn`` applied to each), as in PyTorch. ``drop_last`` skips a final short batch.
    ``collate_fn`` turns a list of samples into a batch (``default_collate`` by default). A
    ``TensorDataset`` (or a ``Subset`` of one) with the default collate is batched by one
    gather per tensor. Indices are checked on the host: one outside the dataset raises
    IndexError naming it and the size.

    ``num_workers > 0`` fetches samples in that many worker threads, up to
    ``prefetch_factor`` (default 2) batches per worker ahead, while the step runs; batches
    come in order, an error in a worker is raised here with its traceback, ``timeout``
    (seconds, 0 = none) bounds the wait for a batch, ``worker_init_fn(id)`` runs first in each
    worker and ``persistent_workers`` keeps the threads between epochs. Samples drawing their
    randomness from ``lucid.data.sample_rng()`` are the same for any ``num_workers``.
    ``pin_memory`` is accepted and does nothing (MLX memory is unified). See docs/data.md.
    """

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn=None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        seed: int | None = None,
    ):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler is mutually exclusive with batch_size, "
                    "shuffle, sampler and drop_last"
                )
            batch_size = None
        elif batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle=True are mutually exclusive")
        if shuffle and len(dataset) == 0:  # as PyTorch's RandomSampler
            raise ValueError("shuffle=True needs a non-empty dataset, got one of length 0")
        _check_worker_args(num_workers, prefetch_factor, persistent_workers, timeout)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = (
            prefetch_factor if prefetch_factor is not None else (2 if num_workers else None)
        )
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.seed = seed
        self._base_seed = _seed(seed)  # shuffling and every sample's sample_rng derive from it
        self._rng = np.random.default_rng(self._base_seed) if shuffle else None
        self._epoch = 0
        self._pool = None
        self._unbatched = batch_size is None and batch_sampler is None
        self._source = (
            _tensor_source(dataset) if collate_fn is None and not self._unbatched else None
        )

    def _index_batches(self):
        """The lists of indices of this epoch's batches."""
        if self.batch_sampler is not None:
            yield from (list(b) for b in self.batch_sampler)
            return
        if self.sampler is not None:
            order = list(self.sampler)
        elif self.shuffle:
            order = self._rng.permutation(len(self.dataset)).tolist()
        else:
            order = range(len(self.dataset))
        if self._unbatched:  # PyTorch's batch_size=None: one sample at a time
            yield from ([i] for i in order)
            return
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        for start in range(0, stop, self.batch_size):
            yield list(order[start : start + self.batch_size])

    def _tasks(self, epoch):
        """(indices, position of the first sample in the epoch, epoch) per batch."""
        position = 0
        for indices in self._index_batches():
            yield indices, position, epoch
            position += len(indices)

    def _load(self, indices, position, epoch):
        """The numpy stage of a batch (runs in a worker): samples fetched, default-stacked."""
        samples = fetch_samples(self.dataset, indices, position, self._base_seed, epoch)
        if self.num_workers:
            samples = to_host(samples)  # a worker's MLX arrays are unusable elsewhere
        if self._unbatched:
            return samples[0]
        return samples if self.collate_fn is not None else stack_samples(samples)

    def _finish(self, loaded):
        """The batch from ``_load``'s result (runs where the loader is iterated)."""
        if self._unbatched and self.collate_fn is None:
            return convert_sample(loaded)
        if self.collate_fn is not None:
            return self.collate_fn(from_host(loaded) if self.num_workers else loaded)
        return finish_batch(loaded)

    def __iter__(self):
        epoch, self._epoch = self._epoch, self._epoch + 1
        if self._source is not None:  # one gather per batch: nothing for workers to do
            return (_gather(self._source, indices) for indices in self._index_batches())
        if self.num_workers == 0:
            return (self._finish(self._load(*task)) for task in self._tasks(epoch))
        return self._iter_with_workers(epoch)

    def _iter_with_workers(self, epoch):
        pool = self._pool or WorkerPool(
            self.num_workers, self.dataset, self._base_seed, self.worker_init_fn, epoch
        )
        if self.persistent_workers and self._pool is None:
            self._pool = pool
            weakref.finalize(self, pool.shutdown)
        tasks = self._tasks(epoch)
        pending = collections.deque(
            pool.submit(self._load, *task)
            for task in itertools.islice(tasks, self.num_workers * self.prefetch_factor)
        )
        hung = False  # a worker that timed out may never end: do not wait for it
        try:
            while pending:
                future = pending.popleft()
                try:
                    loaded = future.result(timeout=self.timeout or None)
                except FutureTimeout:
                    hung = True
                    raise RuntimeError(
                        f"DataLoader timed out after {self.timeout} seconds waiting for a batch"
                    ) from None
                except Exception as exc:  # noqa: BLE001 (re-raised with the worker's traceback)
                    raise_from_worker(exc)
                for task in itertools.islice(tasks, 1):  # keep the workers busy meanwhile
                    pending.append(pool.submit(self._load, *task))
                yield self._finish(loaded)
        finally:  # also when the iterator is abandoned: queued work is cancelled
            for future in pending:
                future.cancel()
            if pool is not self._pool:  # joined: no worker may outlive the loop into exit
                pool.shutdown(wait=not hung)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self._unbatched or self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _check_worker_args(num_workers, prefetch_factor, persistent_workers, timeout):
    """PyTorch's checks of the worker arguments."""
    if (
        isinstance(num_workers, bool)
        or not isinstance(num_workers, (int, np.integer))
        or num_workers < 0
    ):
        raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
    if prefetch_factor is not None:
        if num_workers == 0:
            raise ValueError(
                "prefetch_factor needs num_workers > 0 (it counts batches prefetched per worker)"
            )
        if (
            isinstance(prefetch_factor, bool)
            or not isinstance(prefetch_factor, int)
            or prefetch_factor < 1
        ):
            raise ValueError(f"prefetch_factor must be a positive int, got {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers needs num_workers > 0")
    if not timeout >= 0:
        raise ValueError(f"timeout must be non-negative, got {timeout!r}")
