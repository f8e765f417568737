"""Content hashes of dataset items and transforms, the same in every run and process (no
``hash()``, no ``id()``, no pickle): ``PersistentDataset`` names its cache files by them.

An object is fed to the hash as a tagged, length-prefixed byte encoding, so different
structures cannot give the same bytes: arrays by dtype, shape and bytes (little-endian), plain
values by type and value, dicts by their items in sorted order, callables by their class and
parameters or, for functions, their code, defaults and closure.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
import os
import struct
import types
import zlib

import numpy as np

from lucid import _backend as B
from lucid.tensor import Tensor

__all__ = ["content_hash", "checksum"]


class _Crc32:
    """A hashlib-like sink computing zlib's CRC-32 (3x faster than sha256: a damage check)."""

    def __init__(self):
        self.value = 0

    def update(self, data) -> None:
        self.value = zlib.crc32(data, self.value)


class _Bytes:
    """A sink keeping the bytes (to sort a dict's keys by their encoding)."""

    def __init__(self):
        self.parts: list = []

    def update(self, data) -> None:
        self.parts.append(bytes(data))


def content_hash(obj, what: str = "object") -> str:
    """The SHA-256 hex digest of ``obj``'s encoding. TypeError (naming ``what`` and where in
    ``obj``) for a value with no stable encoding."""
    sink = hashlib.sha256()
    _Encoder(sink, what).feed(obj, ())
    return sink.hexdigest()


def checksum(obj, what: str = "object") -> int:
    """The CRC-32 of ``obj``'s encoding: catches damage, not tampering."""
    sink = _Crc32()
    _Encoder(sink, what).feed(obj, ())
    return sink.value


def _length(n: int) -> bytes:
    return struct.pack("<Q", n)


class _Encoder:
    def __init__(self, sink, what: str):
        self.sink, self.what = sink, what
        self.active: set = set()  # ids of the containers being encoded: a cycle is refused

    def put(self, tag: bytes, data=b"") -> None:
        self.sink.update(tag + _length(len(data)))
        self.sink.update(data)

    def text(self, tag: bytes, s: str) -> None:
        self.put(tag, s.encode("utf-8", "surrogatepass"))

    def fail(self, obj, path, why: str = "") -> TypeError:
        where = "".join(f"[{p!r}]" for p in path)
        return TypeError(
            f"cannot hash the {self.what}{' at ' + where if where else ''}: a "
            f"{type(obj).__module__}.{type(obj).__qualname__}{why}. Hashable: numpy arrays, "
            "Tensors, numbers, strings, bytes, paths, None, dicts/lists/tuples/sets of them, "
            "and transforms or functions whose parameters are such values"
        )

    def feed(self, obj, path) -> None:
        """Encode ``obj`` (reached at ``path``) into the sink."""
        if obj is None:
            self.put(b"N")
        elif obj is Ellipsis:
            self.put(b".")
        elif type(obj) is bool:
            self.put(b"?", b"1" if obj else b"0")
        elif type(obj) is int:
            self.text(b"I", str(obj))
        elif type(obj) is float:  # one NaN: a NaN read back from JSON has no payload
            self.put(b"F", struct.pack("<d", obj) if not math.isnan(obj) else b"nan")
        elif type(obj) is complex:
            self.feed((obj.real, obj.imag), path)
        elif type(obj) is str:
            self.text(b"S", obj)
        elif isinstance(obj, (bytes, bytearray)):
            self.put(b"Y", bytes(obj))
        elif isinstance(obj, np.generic):  # numpy scalars keep their dtype
            self.array(np.asarray(obj), b"G", path)
        elif isinstance(obj, np.ndarray):
            self.array(obj, b"A", path)
        elif isinstance(obj, Tensor):
            self.text(b"T", B.dtype_name(obj.data.dtype))
            self.array(np.asarray(B.element_bits(obj.data)), b"A", path)
        elif isinstance(obj, os.PathLike):
            self.text(b"P", os.fspath(obj))
        elif isinstance(obj, enum.Enum):
            self.text(b"E", _qualname(type(obj)) + "." + obj.name)
        elif isinstance(obj, type):
            self.text(b"K", _qualname(obj))
        elif isinstance(obj, types.ModuleType):
            self.text(b"M", obj.__name__)
        else:
            self.nested(obj, path)

    def array(self, a: np.ndarray, tag: bytes, path) -> None:
        if a.dtype.hasobject or a.dtype.fields is not None:
            raise self.fail(a, path, f" of dtype {a.dtype}")
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        self.text(tag, f"{a.dtype.str}{a.shape}")
        self.put(b"", np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)

    def nested(self, obj, path) -> None:
        if id(obj) in self.active:
            raise self.fail(obj, path, " that contains itself")
        self.active.add(id(obj))
        try:
            self.container(obj, path)
        finally:
            self.active.discard(id(obj))

    def container(self, obj, path) -> None:
        if isinstance(obj, dict):
            self.mapping(b"D" + _kind(obj), obj, path)
        elif isinstance(obj, (list, tuple)):
            self.text(b"L", _kind(obj).decode())  # list, tuple or a namedtuple class
            self.put(b"n", _length(len(obj)))
            for i, v in enumerate(obj):
                self.feed(v, (*path, i))
        elif isinstance(obj, (set, frozenset)):
            self.put(b"Z", _length(len(obj)))
            for part in sorted(self.encoded(v, path) for v in obj):
                self.put(b"z", part)
        elif isinstance(obj, functools.partial):
            self.put(b"p")
            self.feed((obj.func, obj.args, obj.keywords), path)
        elif isinstance(obj, types.MethodType):
            self.put(b"m")
            self.feed((obj.__func__, obj.__self__), path)
        elif isinstance(obj, types.FunctionType):
            self.text(b"f", _qualname(obj))
            self.code(obj.__code__, path)
            cells = tuple(c.cell_contents for c in obj.__closure__ or ())
            self.feed((obj.__defaults__, obj.__kwdefaults__, cells), path)
            # the plain values it reads from module globals (a threshold, a spacing) are
            # parameters too: a changed one must not reuse the old entries
            names = sorted(set(_global_names(obj.__code__)))
            found = {n: obj.__globals__[n] for n in names if n in obj.__globals__}
            self.mapping(b"G", {n: v for n, v in found.items() if isinstance(v, _VALUES)}, path)
        elif isinstance(obj, types.BuiltinFunctionType) or type(obj) is np.ufunc:
            self.text(b"b", f"{getattr(obj, '__module__', None)}.{obj.__name__}")
        elif hasattr(obj, "__dict__"):
            # a transform (or an object it holds): its class and parameters (generators are
            # random state, not parameters: they change as it draws)
            params = {k: v for k, v in vars(obj).items() if not isinstance(v, np.random.Generator)}
            self.text(b"O", _qualname(type(obj)))
            self.mapping(b"D", params, path)
        else:
            raise self.fail(obj, path)

    def mapping(self, tag: bytes, d: dict, path) -> None:
        items = sorted((self.encoded(k, path), k) for k in d)  # key order is not content
        self.put(tag, _length(len(items)))
        for encoded, k in items:
            self.put(b"k", encoded)
            self.feed(d[k], (*path, k))

    def encoded(self, obj, path) -> bytes:
        sink = _Bytes()
        _Encoder(sink, self.what).feed(obj, path)
        return b"".join(sink.parts)

    def code(self, code: types.CodeType, path) -> None:
        self.put(b"c", code.co_code)
        self.feed(code.co_names, path)
        for const in code.co_consts:  # nested functions' code objects included
            if isinstance(const, types.CodeType):
                self.code(const, path)
            else:
                self.feed(const, path)


_VALUES = (bool, int, float, complex, str, bytes, type(None), np.ndarray, np.generic)


def _global_names(code: types.CodeType):
    """The global names a function's code (and the code nested in it) may read."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _qualname(obj) -> str:
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', obj)}"


def _kind(obj) -> bytes:
    """The container's type: plain ones by name, others (namedtuples...) by full name."""
    kind = type(obj)
    return (kind.__name__ if kind in (dict, list, tuple) else _qualname(kind)).encode()
