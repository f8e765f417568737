"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches."""

from __future__ import annotations

import collections
import itertools
import weakref
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from lucid import random as _random
from lucid.data.collate import convert_sample, finish_batch, from_host, stack_samples, to_host
from lucid.data.dataset import Subset, TensorDataset, checked_indices
from lucid.data.sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    _DrawnSampler,
    batches,
    draw_seed,
)
from lucid.data.workers import WorkerPool, fetch_samples, raise_from_worker
from lucid.random import Generator
from lucid.tensor import Tensor

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


class _Epoch:
    """One iteration over a loader: what its random draws were (to redraw it) and how far the
    consumer got."""

    def __init__(self, base_seed: int, sampler_state, skip: int):
        self.base_seed = base_seed  # every sample's sample_rng and the workers' seeds
        self.sampler_state = sampler_state  # the sampler's generator state when it began
        self.skip = skip  # batches yielded before it was interrupted (resuming: not again)
        self.yielded = skip  # batches handed out, the skipped ones included
        self.done = False


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=8, shuffle=True)``.

    As PyTorch's: ``shuffle=True`` makes ``sampler`` a ``RandomSampler(dataset,
    generator=generator)``, ``False`` a ``SequentialSampler``; each epoch's order is drawn when
    the loader is iterated, from ``generator`` or (None) from a seed drawn from the default
    generator, so ``lucid.manual_seed`` (or restoring ``lucid.get_rng_state()``) reproduces it.
    Every iteration also draws a base seed from ``generator`` (or the default generator) for
    the samples' ``sample_rng`` and the workers. ``seed=s`` (Lucid's) is
    ``generator=lucid.Generator().manual_seed(s)``. ``sampler`` (any iterable of indices,
    re-iterated each epoch) replaces the order; ``batch_sampler`` (an iterable of lists of
    indices) replaces the batching too; ``batch_size=None`` yields samples one by one (numpy
    arrays made Tensors, ``collate_fn`` applied to each). ``drop_last`` skips a final short
    batch. ``collate_fn`` turns a list of samples into a batch (``default_collate`` by default).
    A ``TensorDataset`` (or a ``Subset`` of one) with the default collate is batched by one
    gather per tensor. Indices are checked on the host: one outside the dataset raises
    IndexError naming it and the size.

    ``num_workers > 0`` fetches samples in that many worker threads, up to
    ``prefetch_factor`` (default 2) batches per worker ahead, while the step runs; batches
    come in order, an error in a worker is raised here with its traceback, ``timeout``
    (seconds, 0 = none) bounds the wait for a batch, ``worker_init_fn(id)`` runs first in each
    worker and ``persistent_workers`` keeps the threads between epochs. Samples drawing their
    randomness from ``lucid.data.sample_rng()`` are the same for any ``num_workers``.
    ``pin_memory`` is accepted and does nothing (MLX memory is unified).

    ``state_dict()`` / ``load_state_dict()`` save and restore the position in an epoch: a
    loader given the state of one interrupted after k batches yields, on its next iteration,
    that epoch's remaining batches (same order, same samples), without drawing from any
    generator that the interrupted epoch had already drawn from. See docs/data.md.
    """

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn=None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        seed: int | None = None,
    ):
        if multiprocessing_context is not None:
            raise ValueError(
                "multiprocessing_context: Lucid's DataLoader workers are threads, not processes"
            )
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
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(
                f"generator must be a lucid.Generator or None, got {type(generator).__name__}"
            )
        if seed is not None:
            if generator is not None:
                raise ValueError("give generator= or seed=, not both")
            generator = Generator().manual_seed(seed)
        _check_worker_args(num_workers, prefetch_factor, persistent_workers, timeout)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.generator = generator
        self.seed = seed
        if sampler is None:  # as PyTorch's (unused beside a batch_sampler)
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        self.sampler = sampler
        self._own_batching = batch_sampler is None and batch_size is not None
        if batch_sampler is None and batch_size is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), drop_last)
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = (
            prefetch_factor if prefetch_factor is not None else (2 if num_workers else None)
        )
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self._base_seed: int | None = None  # the current iteration's (workers' seeds)
        self._epoch: _Epoch | None = None  # the current (or last) iteration
        self._resume: dict | None = None  # a state to continue from, set by load_state_dict
        self._pool = None
        self._unbatched = batch_size is None and batch_sampler is None
        self._source = (
            _tensor_source(dataset) if collate_fn is None and not self._unbatched else None
        )

    # -- the epoch's order ---------------------------------------------------------------------
    def _start(self) -> tuple:
        """Begin an iteration: (its _Epoch, all its batches of indices). Draws the base seed
        and the sampler's order, or redraws those of the state given to ``load_state_dict``
        (whose batches already yielded are then skipped: ``_Epoch.skip``)."""
        resume, self._resume = self._resume, None
        drawn = isinstance(self.sampler, _DrawnSampler)
        order = None
        if resume is None or resume["base_seed"] is None:  # a fresh epoch
            epoch = _Epoch(draw_seed(self.generator or _random.default_generator), None, 0)
            if drawn:
                source = self.sampler._source()
                epoch.sampler_state = source.get_state()
                order = self.sampler._order(source)
        else:
            epoch = _Epoch(resume["base_seed"], resume["sampler_state"], resume["batches_yielded"])
            if drawn and epoch.sampler_state is not None:
                own = self.sampler.generator  # redraw from it; else from a copy of the state
                source = own if own is not None else Generator()
                order = self.sampler._order(source.set_state(epoch.sampler_state))
        self._epoch, self._base_seed = epoch, epoch.base_seed
        return epoch, self._index_batches(order)

    def _index_batches(self, order):
        """The lists of indices of this epoch's batches (``order``: the sampler's drawn order,
        None to iterate the sampler)."""
        indices = iter(order) if order is not None else None
        if not self._own_batching and self.batch_sampler is not None:
            yield from (list(b) for b in self.batch_sampler)
            return
        if indices is None:
            indices = iter(self.sampler)
        if self._unbatched:  # PyTorch's batch_size=None: one sample at a time
            yield from ([i] for i in indices)
            return
        yield from batches(indices, self.batch_size, self.drop_last)

    def _tasks(self, epoch, index_batches):
        """(indices, position of the first sample in the epoch, base seed) per batch, the
        first ``epoch.skip`` batches left out."""
        position = 0
        for i, indices in enumerate(index_batches):
            if i >= epoch.skip:
                yield indices, position, epoch.base_seed
            position += len(indices)

    def _load(self, indices, position, base_seed):
        """The numpy stage of a batch (runs in a worker): samples fetched, default-stacked."""
        samples = fetch_samples(self.dataset, indices, position, base_seed)
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
        epoch, index_batches = self._start()
        if self._source is not None:  # one gather per batch: nothing for workers to do
            kept = itertools.islice(index_batches, epoch.skip, None)
            out = (_gather(self._source, indices) for indices in kept)
        elif self.num_workers == 0:
            out = (self._finish(self._load(*task)) for task in self._tasks(epoch, index_batches))
        else:
            out = self._iter_with_workers(epoch, index_batches)
        return self._counted(epoch, out)

    @staticmethod
    def _counted(epoch, batches_out):
        for batch in batches_out:
            epoch.yielded += 1
            yield batch
        epoch.done = True

    def _iter_with_workers(self, epoch, index_batches):
        pool = self._pool or WorkerPool(
            self.num_workers, self.dataset, epoch.base_seed, self.worker_init_fn
        )
        if self.persistent_workers and self._pool is None:
            self._pool = pool
            weakref.finalize(self, pool.shutdown)
        tasks = self._tasks(epoch, index_batches)
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

    # -- resuming ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Where the loader is: for the current iteration, its base seed, the state the
        sampler's generator had when it began (a uint8 Tensor; None for a sampler that draws
        no order) and how many batches it has yielded. ``lucid.save`` stores it. Outside an
        iteration (none begun, or the last one ran to its end) it says so: loading it makes
        the next iteration a fresh epoch."""
        epoch = self._resume_state()
        if epoch is None:
            return {"base_seed": None, "sampler_state": None, "batches_yielded": 0}
        return dict(epoch)

    def _resume_state(self) -> dict | None:
        if self._resume is not None:  # loaded and not iterated yet: still that state
            return dict(self._resume) if self._resume["base_seed"] is not None else None
        epoch = self._epoch
        if epoch is None or epoch.done:
            return None
        return {
            "base_seed": epoch.base_seed,
            "sampler_state": epoch.sampler_state,
            "batches_yielded": epoch.yielded,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Continue from ``state_dict()`` of a loader over the same dataset with the same
        settings: the next iteration yields the rest of the interrupted epoch (the sampler's
        order redrawn from the saved generator state; with a sampler of its own generator, that
        generator ends where the interrupted one stood after drawing). Epochs after it draw as
        usual."""
        keys = {"base_seed", "sampler_state", "batches_yielded"}
        if not isinstance(state_dict, dict) or set(state_dict) != keys:
            raise ValueError(
                f"DataLoader.load_state_dict expects a dict with keys {sorted(keys)}, got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)}"
            )
        yielded = state_dict["batches_yielded"]
        if isinstance(yielded, bool) or not isinstance(yielded, (int, np.integer)) or yielded < 0:
            raise ValueError(f"batches_yielded must be a non-negative int, got {yielded!r}")
        sampler_state = state_dict["sampler_state"]
        if sampler_state is not None and not isinstance(sampler_state, Tensor):
            raise TypeError(
                f"sampler_state must be a uint8 Tensor or None, got {type(sampler_state).__name__}"
            )
        base_seed = state_dict["base_seed"]  # None: saved outside an iteration (start afresh)
        self._resume = {
            "base_seed": None if base_seed is None else int(base_seed),
            "sampler_state": sampler_state,
            "batches_yielded": int(yielded),
        }

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)


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
