"""Samplers: the order in which a ``DataLoader`` visits a dataset's indices, as PyTorch's.

The random ones draw an epoch's whole order when iterated, from their ``generator`` or, when
it is None, the default generator (``RandomSampler`` draws a seed from it and shuffles with a
fresh Generator of that seed, as PyTorch's does). So seeding or restoring the default generator
reproduces the order, and a ``DataLoader`` can redraw an interrupted epoch's order from the
generator state it had when the epoch began (``DataLoader.state_dict``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence, Sized

import numpy as np

from lucid import random as _random
from lucid.random import Generator
from lucid.tensor import Tensor

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
]


def draw_seed(generator: Generator) -> int:
    """A 63-bit seed drawn from ``generator`` (PyTorch's ``empty((), int64).random_()``)."""
    return int(_random.randint(0, 2**63, (), generator=generator).item())


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


def _bool(value, name: str, error: type[Exception] = ValueError) -> bool:
    if not isinstance(value, bool):  # PyTorch: a TypeError in RandomSampler, else ValueError
        raise error(f"{name} should be a boolean value, but got {name}={value!r}")
    return value


class Sampler:
    """Base class of samplers: ``__iter__`` yields dataset indices; ``__len__`` (when defined)
    is how many."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} does not define __iter__")


class SequentialSampler(Sampler):
    """Indices 0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class _DrawnSampler(Sampler):
    """A sampler whose epoch order is drawn at once from a generator: ``_order(source)`` draws
    it from ``source`` (the sampler's generator, the default one, or a copy of either's state
    taken when an interrupted epoch began)."""

    generator: Generator | None

    def _source(self) -> Generator:
        return self.generator if self.generator is not None else _random.default_generator

    def _order(self, source: Generator) -> list:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self._order(self._source()))


def _check_generator(generator):
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(
            f"generator must be a lucid.Generator or None, got {type(generator).__name__}"
        )
    return generator


class RandomSampler(_DrawnSampler):
    """Random indices of ``data_source``: a permutation (``num_samples`` beyond its length
    continues with further permutations), or ``num_samples`` uniform draws with
    ``replacement``. Without a ``generator`` each epoch draws a seed from the default
    generator and shuffles with a fresh Generator of that seed, as PyTorch's."""

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = _bool(replacement, "replacement", TypeError)
        self._num_samples = num_samples
        self.generator = _check_generator(generator)
        n = self.num_samples
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={n!r} "
                f"(a RandomSampler needs a non-empty dataset)"
            )

    @property
    def num_samples(self) -> int:
        """How many indices an epoch yields (the dataset's length unless given)."""
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def _order(self, source: Generator) -> list:
        n, count = len(self.data_source), self.num_samples
        if self.generator is None:
            source = Generator().manual_seed(draw_seed(source))
        if self.replacement:
            return _random.randint(0, n, (count,), generator=source).tolist()
        out: list = []
        for _ in range(count // n):
            out += _random.randperm(n, generator=source).tolist()
        out += _random.randperm(n, generator=source).tolist()[: count % n]
        return out

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_DrawnSampler):
    """The given ``indices`` in a random order (drawn from ``generator``, or the default
    generator)."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = _check_generator(generator)

    def _order(self, source: Generator) -> list:
        order = _random.randperm(len(self.indices), generator=source).tolist()
        return [self.indices[i] for i in order]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_DrawnSampler):
    """``num_samples`` indices of ``range(len(weights))`` drawn with probabilities
    proportional to ``weights`` (non-negative), with or without ``replacement``."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Generator | None = None,
    ) -> None:
        self.num_samples = _positive_int(num_samples, "num_samples")
        self.replacement = _bool(replacement, "replacement")
        values = weights.numpy() if isinstance(weights, Tensor) else weights
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {array.shape}"
            )
        self.weights = Tensor(array, dtype="float64")
        self.generator = _check_generator(generator)

    def _order(self, source: Generator) -> list:
        return _random.multinomial(
            self.weights.float(), self.num_samples, self.replacement, generator=source
        ).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.drop_last = _bool(drop_last, "drop_last")

    def __iter__(self) -> Iterator[list]:
        return batches(iter(self.sampler), self.batch_size, self.drop_last)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def batches(indices: Iterator, batch_size: int, drop_last: bool) -> Iterator[list]:
    """``indices`` in lists of ``batch_size`` (a last short list unless ``drop_last``)."""
    batch: list = []
    for i in indices:
        batch.append(i)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch and not drop_last:
        yield batch
