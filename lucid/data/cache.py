"""Datasets that run the deterministic part of a transform chain once per item: in memory
(``CacheDataset``) or on disk (``PersistentDataset``), as MONAI's of the same names. The
random transforms (and all after them) still run on every read, drawing from
``lucid.data.sample_rng()``."""

from __future__ import annotations

import contextlib
import copy
import io
import numbers
import os
import secrets
import sys
import threading
import warnings

import numpy as np

from lucid import _backend as B
from lucid.data.chain import TransformChain
from lucid.data.dataset import Dataset, Subset, checked_indices
from lucid.data.hashing import checksum, content_hash
from lucid.data.workers import sample_rng
from lucid.serialization import _HOST, _alive, load, save
from lucid.tensor import Tensor

__all__ = ["CacheDataset", "PersistentDataset"]

_FORMAT = "lucid.PersistentDataset"
_VERSION = 1  # part of every key: a new layout never reads an old file
_SUFFIX = ".safetensors"
_TMP = ".lucid-tmp"
_MISSING = object()


def _check_data(data, owner: str):
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise TypeError(
            f"{owner}: data must be a sequence (len() and indexing), got {type(data).__name__}"
        )
    return data


def _copy(item):
    """A copy of ``item`` sharing no array with it (what the random transforms get)."""
    if isinstance(item, np.ndarray):
        return item.copy()
    if type(item) is dict:
        return {k: _copy(v) for k, v in item.items()}
    if type(item) in (list, tuple):
        return type(item)(_copy(v) for v in item)
    return copy.deepcopy(item)


def _index(dataset, index):
    """An int index checked against ``dataset``, or a Subset for a slice or a sequence."""
    if isinstance(index, slice):
        return Subset(dataset, range(len(dataset))[index])
    if isinstance(index, (list, tuple, np.ndarray)):
        return Subset(dataset, checked_indices(index, len(dataset), type(dataset).__name__))
    return int(checked_indices(index, len(dataset), type(dataset).__name__))


class CacheDataset(Dataset):
    """``data`` (a sequence of items: arrays, ``(image, label)`` tuples, dicts, file paths...)
    through ``transform`` (a callable, a ``lucid.transforms.Compose`` or a list of callables),
    with the deterministic prefix of the chain -- every step before the first random one --
    run once per item when the dataset is built and kept in memory, as MONAI's
    ``CacheDataset``. Reading an item runs the random steps on a copy of its cached value
    (``copy_cache=True``: they, and the caller, may change it in place without changing the
    cache or ``data``), drawing from ``lucid.data.sample_rng()``: seeded by the
    ``DataLoader``, so the samples equal those of a dataset applying the whole chain with
    ``rng=sample_rng()``.

    A step is random when its ``is_random`` is true (lucid's random transforms), or when it
    has no ``is_random`` attribute (a plain function: set ``fn.is_random = False`` to cache
    its output). The first ``min(cache_num, int(len(data) * cache_rate))`` items are cached;
    the others run the whole chain on every read. ``num_workers`` threads fill the cache
    (None: one per CPU; 0 or 1: the calling thread). ``copy_cache=False`` hands out the
    cached objects themselves: then nothing may change them in place. The cache is filled
    before the first read, so the dataset is read-only and safe for loader worker threads.
    """

    def __init__(
        self,
        data,
        transform=None,
        cache_num: int = sys.maxsize,
        cache_rate: float = 1.0,
        num_workers: int | None = 1,
        copy_cache: bool = True,
    ):
        self.data = _check_data(data, "CacheDataset")
        self.transform = transform
        self.chain = TransformChain(transform, "CacheDataset")
        if (
            isinstance(cache_rate, bool)
            or not isinstance(cache_rate, numbers.Real)
            or not 0 <= cache_rate <= 1
        ):
            raise ValueError(f"CacheDataset: cache_rate must be in [0, 1], got {cache_rate!r}")
        if isinstance(cache_num, bool) or not isinstance(cache_num, numbers.Integral):
            raise TypeError(f"CacheDataset: cache_num must be an int, got {cache_num!r}")
        if cache_num < 0:
            raise ValueError(f"CacheDataset: cache_num must be >= 0, got {cache_num}")
        workers = (os.cpu_count() or 1) if num_workers is None else num_workers
        if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 0:
            raise ValueError(
                f"CacheDataset: num_workers must be a non-negative int or None, got {num_workers!r}"
            )
        self.num_workers: int = int(workers)
        self.copy_cache = bool(copy_cache)
        n = len(self.data)
        self.cache_num = min(int(cache_num), int(n * cache_rate), n)  # MONAI's count
        self._cache = self._fill(self.cache_num)

    def _fill(self, count: int) -> list:
        """The prefix's output for items 0..count-1, computed by ``num_workers`` threads."""
        out: list = [None] * count
        workers = min(self.num_workers, count)
        if workers <= 1:
            for i in range(count):
                out[i] = self.chain.run_prefix(self.data[i])
            return out
        errors: dict = {}

        def work(first: int) -> None:
            try:
                for i in range(first, count, workers):
                    if errors:  # another thread failed: stop early
                        return
                    out[i] = self.chain.run_prefix(self.data[i])
            except BaseException as exc:  # noqa: BLE001 (raised in the building thread)
                errors[first] = exc
            finally:
                try:  # Lucid ops a transform ran here: evaluated before the thread ends
                    B.release_thread()
                except Exception as exc:  # noqa: BLE001 (same)
                    errors.setdefault(first, exc)

        threads = [
            threading.Thread(target=work, args=(w,), name=f"lucid-cache-{w}", daemon=True)
            for w in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[min(errors)]
        return out

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        i = _index(self, index)
        if isinstance(i, Subset):
            return i
        # a copy: the random steps may change arrays in place, and neither the cache nor the
        # data (which an identity prefix hands on) may change
        if i < self.cache_num:
            item = _copy(self._cache[i]) if self.copy_cache else self._cache[i]
        else:
            item = self.chain.run_prefix(self.data[i])
            item = _copy(item) if self.copy_cache else item
        return self.chain.run_suffix(item, sample_rng() if self.chain.suffix else None)


class PersistentDataset(Dataset):
    """``data`` through ``transform`` as in ``CacheDataset``, with the deterministic prefix's
    output per item kept on disk in ``cache_dir`` (made if missing) instead of memory, as
    MONAI's ``PersistentDataset``: computed when an item is first read, then read back by
    every later read, dataset and process (None: no cache, every read runs the whole chain).

    Each item has one safetensors file (``lucid.save``'s format: no pickle), named by a
    SHA-256 of the item's content (arrays' dtype, shape and bytes; plain values; a file path
    by its name, not its file's content) and of the deterministic transforms (their classes
    and parameters; a function's code, defaults and closure), taken when the dataset is made:
    changing a parameter of one of them makes new files, and the old ones are no longer read.
    Writes are atomic (a temporary file renamed over the name), so loader worker threads and
    other processes may share a ``cache_dir``. A file that is truncated, damaged (a CRC-32 of
    its content is checked) or not a cache file is recomputed and rewritten, with a
    RuntimeWarning naming it; a file that cannot be written is warned about once, and items
    not cached are computed on every read.

    What the deterministic transforms return must be storable: numpy arrays and scalars,
    Tensors, numbers, strings, bools, None and dicts, lists and tuples of them (TypeError
    otherwise). Items come back with their types, dtypes and values exactly.
    """

    def __init__(self, data, transform=None, cache_dir: str | os.PathLike | None = None):
        self.data = _check_data(data, "PersistentDataset")
        self.transform = transform
        self.chain = TransformChain(transform, "PersistentDataset")
        if cache_dir is not None:
            cache_dir = os.fspath(cache_dir)
            os.makedirs(cache_dir, exist_ok=True)
            _remove_leftovers(cache_dir)
        self.cache_dir = cache_dir
        # the transforms' parameters as they are now: counters a transform keeps do not matter
        self._chain_hash = content_hash(self.chain.prefix, "deterministic transforms")
        self._write_failed = False

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        i = _index(self, index)
        if isinstance(i, Subset):
            return i
        item = self._deterministic(self.data[i], i)
        return self.chain.run_suffix(item, sample_rng() if self.chain.suffix else None)

    def cache_path(self, index) -> str | None:
        """The cache file of item ``index`` (None without a ``cache_dir`` or deterministic
        transforms); it exists once the item has been read."""
        i = int(checked_indices(index, len(self), "PersistentDataset"))
        return self._path(self.data[i], i)

    def _path(self, item, i: int) -> str | None:
        if self.cache_dir is None or not self.chain.prefix:
            return None
        item_hash = content_hash(item, f"item {i}")
        key = content_hash((_FORMAT, _VERSION, self._chain_hash, item_hash))
        return os.path.join(self.cache_dir, key + _SUFFIX)

    def _deterministic(self, item, i: int):
        path = self._path(item, i)
        if path is None:
            return _copy(self.chain.run_prefix(item))
        key = os.path.basename(path)[: -len(_SUFFIX)]
        cached = self._read(path, key)
        if cached is not _MISSING:
            return cached
        out = self.chain.run_prefix(item)
        self._write(path, key, out, i)
        return _copy(out)  # the random steps must not change arrays the data holds

    def _read(self, path: str, key: str):
        try:
            record = load(path)
        except FileNotFoundError:
            return _MISSING
        except ValueError as exc:  # truncated, damaged, not a safetensors file
            self._damaged(path, str(exc))
            return _MISSING
        try:
            return _unpack(record, key)
        except ValueError as exc:
            self._damaged(path, str(exc))
            return _MISSING

    def _write(self, path: str, key: str, out, i: int) -> None:
        scalars: list = []
        stored = _storable(out, [], scalars, i)
        record = {
            "format": _FORMAT,
            "version": _VERSION,
            "key": key,
            "item": stored,
            "scalars": scalars,
            "checksum": checksum((stored, scalars)),
        }
        buffer = io.BytesIO()
        try:
            save(record, buffer)
        except TypeError as exc:  # an array dtype the format cannot hold
            raise TypeError(
                f"PersistentDataset: the deterministic transforms' output for item {i} cannot "
                f"be stored: {exc}"
            ) from None
        try:
            _write_atomic(path, buffer.getbuffer())
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                warnings.warn(
                    f"PersistentDataset: cannot write the cache file {path!r} ({exc}); "
                    "items that cannot be cached are computed on every read",
                    RuntimeWarning,
                    stacklevel=4,
                )

    @staticmethod
    def _damaged(path: str, problem: str) -> None:
        warnings.warn(
            f"PersistentDataset: the cache file {path!r} is damaged ({problem}); recomputing it",
            RuntimeWarning,
            stacklevel=5,
        )


def _write_bytes(f, data) -> None:
    """Every byte of a cache file goes through here (tests replace it with a failing write)."""
    f.write(data)


def _write_atomic(path: str, data) -> None:
    """Write ``data`` to a uniquely named temporary file beside ``path``, then rename it over
    ``path``: readers see the old file or the whole new one. Not fsynced (``lucid.save`` to a
    path is, at ~16 ms a file): a file a crash leaves damaged is detected and recomputed."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{_TMP}")
    try:
        with open(tmp, "xb") as f:
            _write_bytes(f, data)
        os.replace(tmp, path)
    except BaseException:  # no temporary file survives a failed write
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _remove_leftovers(folder: str) -> None:
    """Delete the temporary files of writers (on this host) killed mid-write."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if not (name.startswith(".") and name.endswith(_TMP)):
                continue
            parts = name[: -len(_TMP)].rsplit(".", 3)  # [.name, host, pid, token]
            mine = len(parts) == 4 and parts[1] == _HOST and parts[2].isdigit()
            if mine and not _alive(int(parts[2])):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))


_KEYS = (str, int, float, bool, type(None))


def _storable(obj, path: list, scalars: list, i: int):
    """``obj`` as ``lucid.save`` stores it exactly: numpy scalars become 0-d arrays (their
    paths noted in ``scalars``, to turn back); TypeError for what it would not give back as
    it was (a namedtuple as a tuple...)."""
    if isinstance(obj, np.generic):
        scalars.append(list(path))
        return np.asarray(obj)
    if obj is None or type(obj) in (bool, int, float, str) or isinstance(obj, (np.ndarray, Tensor)):
        return obj
    if type(obj) is dict:
        out = {}
        for k, v in obj.items():
            if not isinstance(k, _KEYS) or isinstance(k, np.generic):
                raise TypeError(
                    f"PersistentDataset: item {i}: dict keys must be str, int, float, bool or "
                    f"None to be stored, got {type(k).__name__} at {path}"
                )
            out[k] = _storable(v, [*path, k], scalars, i)
        return out
    if type(obj) in (list, tuple):
        return type(obj)(_storable(v, [*path, j], scalars, i) for j, v in enumerate(obj))
    raise TypeError(
        f"PersistentDataset: item {i}: the deterministic transforms returned a "
        f"{type(obj).__module__}.{type(obj).__qualname__} at {path}; a cache file holds numpy "
        "arrays and scalars, Tensors, numbers, strings, bools, None and dicts, lists and "
        "tuples of them"
    )


def _unpack(record, key: str):
    """The item a cache file holds, checked; ValueError naming what is wrong."""
    expected = {"format", "version", "key", "item", "scalars", "checksum"}
    if not isinstance(record, dict) or set(record) != expected:
        raise ValueError("not a PersistentDataset cache file")
    if (record["format"], record["version"], record["key"]) != (_FORMAT, _VERSION, key):
        raise ValueError(f"it holds entry {record['key']!r}, not {key!r}")
    item, scalars = record["item"], record["scalars"]
    if checksum((item, scalars)) != record["checksum"]:
        raise ValueError("its content does not match its checksum")
    if not scalars:
        return item
    if not isinstance(scalars, list) or not all(isinstance(p, list) for p in scalars):
        raise ValueError("its list of numpy scalars is malformed")
    return _restore(item, {tuple(p) for p in scalars}, ())


def _restore(obj, scalars: set, path: tuple):
    """``obj`` with the 0-d arrays at ``scalars`` (paths) numpy scalars again."""
    if path in scalars:
        if not (isinstance(obj, np.ndarray) and obj.ndim == 0):
            raise ValueError(f"its numpy scalar at {list(path)} is not a 0-d array")
        return obj[()]
    if type(obj) is dict:
        return {k: _restore(v, scalars, (*path, k)) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_restore(v, scalars, (*path, j)) for j, v in enumerate(obj))
    return obj
