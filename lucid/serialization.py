"""``lucid.save`` / ``lucid.load``: checkpoints as safetensors files, never pickle.

A checkpoint is a nested structure of dicts, lists and tuples holding Tensors, numpy arrays,
numbers, strings, bools and None, e.g. ``{"model": model.state_dict(),
"optimizer": opt.state_dict(), "epoch": 3}``. Tensors are stored under dotted keys
(``model.conv1.weight``); the structure, the non-tensor values and each tensor's dtype are JSON
in the file's metadata, so loading rebuilds exactly what was saved: dict key types (ints stay
ints), tuples vs lists, dtypes and bit-exact values.

Guarantees (docs/checkpoints.md): saves are atomic (a uniquely named temporary file beside the
target, fsynced, renamed over it; leftovers of killed saves are removed by the next save to the
same path); a symlink's target is written; an existing file keeps its permissions, a new one gets
the umask's; loaded tensors own their memory and no file stays open; every malformed file gives
one ValueError naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket

import numpy as np

from lucid import _backend as B, _safetensors as ST
from lucid.tensor import Tensor

__all__ = ["save", "load"]

_FORMAT = "lucid.checkpoint"
_VERSION = "1"
_TMP_SUFFIX = ".lucid-tmp"
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


# --- encoding -----------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.arrays: dict = {}  # key -> (Lucid dtype name, numpy array of the element bits)

    def _key(self, path):
        base = ".".join(str(p) for p in path) or "tensor"
        if base == ST.METADATA:
            raise ValueError(
                f"lucid.save: the key {base!r} is reserved by the safetensors "
                "format; rename that entry"
            )
        key, n = base, 1
        while key in self.arrays:  # keys containing dots could collide: disambiguate
            key, n = f"{base}#{n}", n + 1
        return key

    def _array(self, path, name, bits, kind, node_extra=()):
        key = self._key(path)
        self.arrays[key] = (name, bits)
        return {kind: key, "dtype": name, **dict(node_extra)}

    def encode(self, obj, path):
        if isinstance(obj, Tensor):
            extra = {}
            if obj.requires_grad:
                extra["requires_grad"] = True
            if obj._device != "cpu":
                extra["device"] = obj._device
            name = B.dtype_name(obj.data.dtype)
            return self._array(path, name, B.element_bits(obj.data), "tensor", extra)
        if isinstance(obj, np.ndarray):
            if obj.dtype.name not in ST.CODE_OF or obj.dtype.name not in B.DTYPES:
                raise TypeError(
                    f"lucid.save: cannot store a numpy array of dtype {obj.dtype} "
                    f"(at {_where(path)})"
                )
            return self._array(path, obj.dtype.name, obj, "ndarray")
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
                    raise TypeError(
                        f"lucid.save: dict keys must be str, int, float, bool or "
                        f"None, got {type(k).__name__} (at {_where(path)})"
                    )
                items.append([k, self.encode(v, path + [k])])
            return {"dict": items}
        if isinstance(obj, (list, tuple)):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {kind: [self.encode(v, path + [i]) for i, v in enumerate(obj)]}
        raise TypeError(
            f"lucid.save: cannot store a {type(obj).__name__} (at {_where(path)}); "
            "checkpoints hold Tensors, numpy arrays, numbers, strings, bools, None "
            "and dicts/lists/tuples of them (no pickling)"
        )


def _where(path):
    return "root" if not path else ".".join(str(p) for p in path)


# --- decoding -----------------------------------------------------------------------------------
_KEY_TYPES = (str, int, float, bool, type(None))


def _decode(node, arrays, device):
    """Rebuild one node of the structure record; ValueError on anything a save cannot write."""
    if not isinstance(node, dict) or len(node) == 0:
        raise ValueError(f"a node is {ST._short(node)}, not a structure object")
    if "value" in node:
        value = node["value"]
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise ValueError(f"a value is {ST._short(value)}")
        return value
    if "dict" in node:
        pairs = _list(node["dict"])
        if not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], _KEY_TYPES) for p in pairs
        ):
            raise ValueError("a dict's items are not [key, node] pairs")
        return {k: _decode(v, arrays, device) for k, v in pairs}
    if "list" in node:
        return [_decode(v, arrays, device) for v in _list(node["list"])]
    if "tuple" in node:
        return tuple(_decode(v, arrays, device) for v in _list(node["tuple"]))
    kind = "tensor" if "tensor" in node else "ndarray"
    key = node.get(kind)
    if not isinstance(key, str) or key not in arrays:
        raise ValueError(f"it refers to a tensor {ST._short(key)} the file does not hold")
    stored, bits = arrays[key]
    name = node.get("dtype")
    if name == "float64" and stored == "int64":  # how files before 0.1 stored float64
        stored, bits = "float64", bits.view(np.float64)
    if name != stored:
        raise ValueError(f"tensor {key!r} is recorded as {ST._short(name)} but stored as {stored}")
    if kind == "ndarray":
        if stored == "bfloat16":
            raise ValueError(f"array {key!r} is bfloat16, which numpy lacks")
        return bits
    requires_grad = node.get("requires_grad", False)
    if requires_grad not in (False, True) or (
        requires_grad and not stored.startswith(("float", "bfloat"))
    ):
        raise ValueError(f"tensor {key!r} of dtype {stored} has requires_grad={requires_grad!r}")
    saved_on = node.get("device", "cpu")
    if saved_on not in ("cpu", "gpu"):
        raise ValueError(f"tensor {key!r} was saved on an unknown device {ST._short(saved_on)}")
    # errors from here on are not the file's: float64 asked onto a GPU raises TypeError
    return Tensor(
        B.from_element_bits(bits, stored),
        requires_grad=requires_grad,
        device=device if device is not None else saved_on,
    )


def _list(value):
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {ST._short(value)}")
    return value


# --- files --------------------------------------------------------------------------------------
def _write_bytes(f, buffer) -> None:
    """Every byte of a checkpoint goes through here (tests replace it with a slow write)."""
    f.write(buffer)


def save(obj, f) -> None:
    """Write ``obj`` (a nested dict/list/tuple of Tensors, numpy arrays, numbers, strings,
    bools and None) to ``f`` as a safetensors file. ``f`` is a path, written atomically (a
    symlink's target is written; an existing file keeps its permissions), or an open binary
    file object (``io.BytesIO``...), written from its current position. Raises TypeError for
    anything else (nothing is pickled) and ValueError for a key the format reserves
    (``"__metadata__"``)."""
    enc = _Encoder()
    structure = enc.encode(obj, [])
    metadata = {
        "format": _FORMAT,
        "version": _VERSION,
        "structure": json.dumps(structure, allow_nan=True),
    }
    if hasattr(f, "write"):  # an open binary file object, e.g. io.BytesIO: written in place
        ST.write(f, enc.arrays, metadata, _write_bytes)
        return
    path = os.fspath(f)
    target = os.path.realpath(path)  # a symlink stays a link: its target gets the new file
    folder, base = os.path.split(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"lucid.save: cannot write {path!r}: no folder {folder!r}")
    _remove_leftovers(folder, base)
    tmp = os.path.join(folder, f".{base}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{_TMP_SUFFIX}")
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = None  # a new file: os.open's 0o666 minus the umask in force now
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with open(fd, "wb") as fobj:
            if mode is not None:
                os.chmod(tmp, mode)
            ST.write(fobj, enc.arrays, metadata, _write_bytes)
            fobj.flush()
            os.fsync(fobj.fileno())
        os.replace(tmp, target)
    except BaseException:  # KeyboardInterrupt too: no temp file survives a failed save
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _remove_leftovers(folder: str, base: str) -> None:
    """Delete temp files of earlier saves to ``base`` whose process (on this host) is gone."""
    prefix = f".{base}.{_HOST}."
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TMP_SUFFIX)):
            continue
        pid, _, token = name[len(prefix) : -len(_TMP_SUFFIX)].partition(".")
        if pid.isdigit() and re.fullmatch(r"[0-9a-f]{8}", token) and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of ours may be saving right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours to signal
        return True
    return True


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


def _map_location(map_location, device):
    """The device loaded tensors go to (None: where they were saved), from ``map_location``
    (PyTorch's name) or ``device``."""
    if device is not None:
        if map_location is not None and map_location != device:
            raise ValueError(
                f"lucid.load: map_location={map_location!r} and device={device!r} "
                "disagree; give one"
            )
        map_location = device
    if map_location is None:
        return None
    if not isinstance(map_location, str):
        raise TypeError(
            "lucid.load: map_location must be a device string ('cpu', 'gpu', "
            f"'cuda', 'cuda:0', 'mps') or None, got {type(map_location).__name__}; "
            "PyTorch's dict and function forms are not supported: load, then move "
            "tensors with .to(device)"
        )
    return B.resolve_device(map_location)


def load(f, map_location=None, *, weights_only=None, device: str | None = None):
    """Read a checkpoint written by ``lucid.save`` (from a path or an open binary file
    object) and rebuild the saved structure.

    ``map_location`` (or ``device``) puts every tensor on ``"cpu"`` or ``"gpu"``
    (``"cuda"``/``"cuda:0"`` mean the GPU where it is CUDA, ``"mps"`` where it is Metal, and
    raise RuntimeError elsewhere; see docs/devices.md); None puts each tensor where it was
    saved (the CPU for files from other programs). ``weights_only`` is accepted for PyTorch
    compatibility: Lucid never unpickles, so every load is weights-only. The loaded tensors
    own their memory and the file is closed on return. A safetensors file from elsewhere (no
    Lucid metadata) loads as a flat ``{name: Tensor}`` dict. A missing file raises
    FileNotFoundError; any malformed file raises ValueError naming the path and the problem.
    """
    target = _map_location(map_location, device)
    if hasattr(f, "read"):  # an open binary file object, read from its current position
        path = str(getattr(f, "name", "<file object>"))
        arrays, meta = ST.read_from(f, path, B.DTYPES)
    else:
        path = os.fspath(f)
        if not os.path.exists(path):
            raise FileNotFoundError(f"lucid.load: no such file: {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"lucid.load: {path!r} is a directory, not a checkpoint")
        arrays, meta = ST.read(path, B.DTYPES)
    if meta.get("format") != _FORMAT:
        return {
            k: Tensor(B.from_element_bits(bits, name), device=target)
            for k, (name, bits) in arrays.items()
        }
    if meta.get("version") != _VERSION:
        raise ValueError(
            f"lucid.load: {path!r} has checkpoint format version "
            f"{meta.get('version')!r}; this Lucid reads version {_VERSION}"
        )
    try:
        structure = ST.parse_json(meta.get("structure", ""), "its structure record")
        return _decode(structure, arrays, target)
    except (KeyError, ValueError, RecursionError) as exc:
        raise ValueError(f"lucid.load: {path!r} has a damaged structure record: {exc}") from None
