"""``lucid.save`` / ``lucid.load``: checkpoints as safetensors files, never pickle.

A checkpoint is a nested structure of dicts, lists and tuples holding Tensors, numpy arrays,
numbers, strings, bools and None, e.g. ``{"model": model.state_dict(),
"optimizer": opt.state_dict(), "epoch": 3}``. Tensors are stored under dotted keys
(``model.conv1.weight``); the structure, the non-tensor values and each tensor's dtype are JSON
in the file's metadata, so loading rebuilds exactly what was saved: dict key types (ints stay
ints), tuples vs lists, dtypes and bit-exact values (float64, which MLX's safetensors writer
lacks, is stored as its raw 64-bit pattern).

Writes are atomic: the file is written to a temporary name in the same folder, flushed to
disk and renamed over the target, so a crash leaves the old checkpoint or the new one, never
half of one.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile

import numpy as np

from lucid import _backend as B
from lucid.tensor import Tensor

__all__ = ["save", "load"]

_FORMAT = "lucid.checkpoint"
_VERSION = "1"
_RAW64 = {"float64": np.int64}  # dtypes MLX cannot write: stored as same-width integer bits
_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) ...
os.umask(_UMASK)  # ... and restored at once; new checkpoints get the usual permissions


# --- encoding -----------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.arrays: dict = {}

    def _key(self, path):
        base = ".".join(str(p) for p in path) or "tensor"
        key, n = base, 1
        while key in self.arrays:  # keys containing dots could collide: disambiguate
            key, n = f"{base}#{n}", n + 1
        return key

    def _array(self, path, arr, kind):
        name = B.dtype_name(arr.dtype)
        if name in _RAW64:
            arr = B.from_numpy(B.to_numpy(arr).view(_RAW64[name]))
        key = self._key(path)
        self.arrays[key] = arr
        return {kind: key, "dtype": name}

    def encode(self, obj, path):
        if isinstance(obj, Tensor):
            node = self._array(path, obj.data, "tensor")
            if obj.requires_grad:
                node["requires_grad"] = True
            return node
        if isinstance(obj, np.ndarray):
            if obj.dtype.name not in B.DTYPES:
                raise TypeError(f"lucid.save: cannot store a numpy array of dtype {obj.dtype} "
                                f"(at {_where(path)})")
            return self._array(path, B.from_numpy(obj), "ndarray")
        if obj is None or isinstance(obj, (bool, str)):
            return {"value": obj}
        if isinstance(obj, np.bool_):
            return {"value": bool(obj)}
        if isinstance(obj, (int, np.integer)):
            return {"value": int(obj)}
        if isinstance(obj, (float, np.floating)):
            return {"value": float(obj)}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not (k is None or isinstance(k, (str, int, float, bool))):
                    raise TypeError(f"lucid.save: dict keys must be str, int, float, bool or "
                                    f"None, got {type(k).__name__} (at {_where(path)})")
                items.append([k, self.encode(v, path + [k])])
            return {"dict": items}
        if isinstance(obj, (list, tuple)):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {kind: [self.encode(v, path + [i]) for i, v in enumerate(obj)]}
        raise TypeError(f"lucid.save: cannot store a {type(obj).__name__} (at {_where(path)}); "
                        "checkpoints hold Tensors, numpy arrays, numbers, strings, bools, None "
                        "and dicts/lists/tuples of them (no pickling)")


def _where(path):
    return "root" if not path else ".".join(str(p) for p in path)


def _decode(node, arrays, device):
    if "value" in node:
        return node["value"]
    if "dict" in node:
        return {k: _decode(v, arrays, device) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, device) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, device) for v in node["tuple"])
    key = node.get("tensor", node.get("ndarray"))
    arr = arrays[key]
    name = node["dtype"]
    if name in _RAW64:
        arr = B.from_numpy(B.to_numpy(arr).view(np.dtype(name)))
    if "ndarray" in node:
        return np.array(B.to_numpy(arr))
    t = Tensor(arr, device=device)
    if node.get("requires_grad"):
        t.requires_grad_(True)
    return t


# --- files --------------------------------------------------------------------------------------
def save(obj, path) -> None:
    """Write ``obj`` (a nested dict/list/tuple of Tensors, numpy arrays, numbers, strings,
    bools and None) to ``path`` as a safetensors file, atomically. Raises TypeError for
    anything else (nothing is pickled)."""
    path = os.fspath(path)
    enc = _Encoder()
    structure = enc.encode(obj, [])
    metadata = {"format": _FORMAT, "version": _VERSION,
                "structure": json.dumps(structure, allow_nan=True)}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp.safetensors")
    os.close(fd)
    try:
        B.save_safetensors(tmp, enc.arrays, metadata)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private (0600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_file(path):
    """Raise FileNotFoundError / ValueError unless ``path`` is a complete safetensors file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"lucid.load: no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"lucid.load: {path!r} is a directory, not a checkpoint file")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"lucid.load: {path!r} is not a checkpoint: {size} bytes is too "
                             "short for a safetensors file (empty or truncated)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ValueError(f"lucid.load: {path!r} is not a safetensors checkpoint, or it is "
                             f"truncated (its header claims {n} bytes, the file has {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, ValueError):
            raise ValueError(f"lucid.load: {path!r} is not a safetensors checkpoint (its header "
                             "is not JSON)") from None
    if not isinstance(header, dict):
        raise ValueError(f"lucid.load: {path!r} is not a safetensors checkpoint")
    end = max((e["data_offsets"][1] for k, e in header.items()
               if k != "__metadata__" and isinstance(e, dict) and "data_offsets" in e),
              default=0)
    if 8 + n + end > size:
        raise ValueError(f"lucid.load: {path!r} is truncated: its tensors need "
                         f"{8 + n + end} bytes, the file has {size}")
    return header.get("__metadata__") or {}


def load(path, device=None):
    """Read a checkpoint written by ``lucid.save`` and rebuild the saved structure (Tensors on
    ``device``, default the CPU). A safetensors file from elsewhere (no Lucid metadata) loads
    as a flat ``{name: Tensor}`` dict. A missing file raises FileNotFoundError; a truncated file, or
    one that is not safetensors at all, raises ValueError naming the path."""
    path = os.fspath(path)
    _check_file(path)
    try:
        arrays, meta = B.load_safetensors(path)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(f"lucid.load: cannot read {path!r} as a safetensors checkpoint: "
                         f"{exc}") from None
    if meta.get("format") != _FORMAT:
        return {k: Tensor(v, device=device) for k, v in arrays.items()}
    if meta.get("version") != _VERSION:
        raise ValueError(f"lucid.load: {path!r} has checkpoint format version "
                         f"{meta.get('version')!r}; this Lucid reads version {_VERSION}")
    try:
        structure = json.loads(meta["structure"])
        return _decode(structure, arrays, device)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"lucid.load: {path!r} has a damaged structure record: {exc}") from None
