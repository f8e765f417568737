"""``DistributedSampler``: each rank's share of a dataset's indices (``DataLoader(sampler=)``)."""

from __future__ import annotations

import numbers

import numpy as np

from lucid.distributed import comm

__all__ = ["DistributedSampler"]


def _int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


class DistributedSampler:
    """The indices rank ``rank`` of ``num_replicas`` visits in one epoch.

    ``dataset_len_or_dataset`` is a length or anything with ``len()``. Every epoch the indices
    ``0 .. n-1`` are shuffled (when ``shuffle``) by a generator seeded from ``(seed, epoch)`` --
    the same order on every rank -- and dealt out round-robin, so the ranks' shares are
    disjoint. So that every rank runs the same number of steps, the list is first padded by
    repeating indices from its start up to a multiple of ``num_replicas`` (a few samples are
    then seen twice per epoch), or with ``drop_last`` cut down to one (a few are skipped).
    Call :meth:`set_epoch` before each epoch for a new order. ``num_replicas`` and ``rank``
    default to ``lucid.distributed.world_size()`` and ``rank()``.

    ``DataLoader(dataset, batch_size=b, sampler=DistributedSampler(dataset))``
    """

    def __init__(
        self,
        dataset_len_or_dataset,
        num_replicas=None,
        rank=None,
        shuffle=True,
        seed=0,
        drop_last=False,
    ):
        if isinstance(dataset_len_or_dataset, numbers.Integral) and not isinstance(
            dataset_len_or_dataset, bool
        ):
            n = int(dataset_len_or_dataset)
        elif hasattr(dataset_len_or_dataset, "__len__"):
            n = len(dataset_len_or_dataset)
        else:
            raise TypeError(
                "DistributedSampler expects a dataset length (int) or a dataset with "
                f"len(), got {type(dataset_len_or_dataset).__name__}"
            )
        self.n = _int(n, "the dataset length", 0)
        self.num_replicas = _int(
            comm.world_size() if num_replicas is None else num_replicas, "num_replicas", 1
        )
        self.rank = _int(comm.rank() if rank is None else rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ValueError(
                f"rank must be in [0, num_replicas={self.num_replicas}), got {self.rank}"
            )
        self.shuffle = bool(shuffle)
        self.seed = _int(seed, "seed", 0)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = -(-self.n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` (call with the same value on every rank)."""
        self.epoch = _int(epoch, "epoch", 0)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        else:
            order = np.arange(self.n, dtype=np.int64)
        if self.total_size > self.n and self.n:  # pad by cycling through the order again
            order = np.resize(order, self.total_size)
        order = order[: self.total_size]
        return order[self.rank :: self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"DistributedSampler(n={self.n}, num_replicas={self.num_replicas}, "
            f"rank={self.rank}, shuffle={self.shuffle}, seed={self.seed}, "
            f"drop_last={self.drop_last}, epoch={self.epoch})"
        )
