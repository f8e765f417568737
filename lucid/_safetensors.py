"""The safetensors file format, read and written with numpy alone (no MLX, no pickle).

A file is an 8-byte little-endian header length ``n``, ``n`` bytes of UTF-8 JSON, then the data:
``{"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...], "data_offsets": [b, e]},
...}`` with offsets relative to the data area. ``read`` trusts nothing in a file: every field is
checked and every problem becomes one ``ValueError`` naming the file, so a hostile or damaged
file can neither crash the interpreter nor load as something else. Tensors must tile the data
area exactly (no gaps, overlaps or trailing bytes), which also makes every truncation visible.
"""

from __future__ import annotations

import json
import os

import numpy as np

METADATA = "__metadata__"
MAX_HEADER = 100 * 2**20  # bytes of JSON: more is not a checkpoint header
MAX_RANK = 64  # more dims than any real tensor has; a hostile rank must not reach MLX
MAX_DIM = 2**31 - 1  # MLX stores each dim as an int32

# safetensors code -> (dtype name, numpy dtype of the stored element bits); a reader loads
# those its caller can hold (``dtypes``) and refuses the others by name
CODES: dict[str, tuple[str, np.dtype]] = {
    "F64": ("float64", np.dtype("<f8")),
    "F32": ("float32", np.dtype("<f4")),
    "F16": ("float16", np.dtype("<f2")),
    "BF16": ("bfloat16", np.dtype("<u2")),
    "I64": ("int64", np.dtype("<i8")),
    "I32": ("int32", np.dtype("<i4")),
    "I16": ("int16", np.dtype("<i2")),
    "I8": ("int8", np.dtype("i1")),
    "U64": ("uint64", np.dtype("<u8")),
    "U32": ("uint32", np.dtype("<u4")),
    "U16": ("uint16", np.dtype("<u2")),
    "U8": ("uint8", np.dtype("u1")),
    "BOOL": ("bool", np.dtype("?")),
}
CODE_OF = {name: code for code, (name, _) in CODES.items()}
# standard codes numpy cannot hold either: always refused by name
UNSUPPORTED = {"F8_E4M3": "float8_e4m3", "F8_E5M2": "float8_e5m2", "C64": "complex64"}


class FormatError(ValueError):
    """A file that is not a well-formed safetensors file (the message names the problem)."""


def write(f, arrays: dict, metadata: dict, write_bytes=None) -> None:
    """Write ``arrays`` ({name: (Lucid dtype name, numpy array of its element bits)}) and the
    string ``metadata`` to the binary file ``f``. ``write_bytes(f, buffer)`` does each write
    (a seam for tests that need a slow or failing write)."""
    write_bytes = write_bytes or (lambda file, buf: file.write(buf))
    header, offset = {METADATA: dict(metadata)}, 0
    for name, (dtype, bits) in arrays.items():
        header[name] = {
            "dtype": CODE_OF[dtype],
            "shape": list(bits.shape),
            "data_offsets": [offset, offset + bits.nbytes],
        }
        offset += bits.nbytes
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    write_bytes(f, len(text).to_bytes(8, "little") + text)
    for _, bits in arrays.values():
        flat = np.ascontiguousarray(bits).reshape(-1)
        if flat.dtype.byteorder == ">":
            flat = flat.astype(flat.dtype.newbyteorder("<"))
        write_bytes(f, flat.view(np.uint8).data)


def read(path: str, dtypes=None) -> tuple[dict, dict]:
    """``({name: (Lucid dtype name, numpy array)}, metadata)`` from the file at ``path``; the
    arrays are fresh copies (bfloat16 as its uint16 bits) and the file is closed on return.
    Raises ``FormatError`` (a ValueError) naming ``path`` and the problem, also for a tensor
    whose dtype is not in ``dtypes`` (names; default: every code in CODES)."""
    with open(path, "rb") as f:
        return read_from(f, path, dtypes)


def read_from(f, path: str, dtypes=None) -> tuple[dict, dict]:
    """``read`` from an open binary file object positioned at the checkpoint's first byte (the
    checkpoint runs to the end of ``f``); ``path`` names it in errors."""
    start = f.tell()
    size = f.seek(0, os.SEEK_END) - start
    f.seek(start)
    head = f.read(8)
    if len(head) < 8:
        raise _error(path, f"{size} bytes is too short for a safetensors file (empty or truncated)")
    n = int.from_bytes(head, "little")
    if n > size - 8 or n > MAX_HEADER:
        raise _error(
            path,
            f"its header claims {n} bytes, the file has {size} "
            "(truncated, or not a safetensors file)",
        )
    header = _parse_header(path, f.read(n))
    entries = _check_entries(path, header, size - 8 - n, dtypes)
    out = {}
    for name, (dtype, shape, begin, end) in entries.items():
        bits = np.empty(shape, dtype=CODES[CODE_OF[dtype]][1])
        f.seek(start + 8 + n + begin)
        if f.readinto(bits.reshape(-1).view(np.uint8)) != end - begin:
            raise _error(path, f"tensor {name!r} is cut short (the file changed while read)")
        if dtype == "bool" and bits.view(np.uint8).max(initial=0) > 1:
            raise _error(path, f"tensor {name!r} of dtype BOOL holds bytes other than 0/1")
        out[name] = (dtype, bits.astype(bits.dtype.newbyteorder("="), copy=False))
    return out, header.get(METADATA, {})


def _error(path, problem) -> FormatError:
    return FormatError(f"lucid.load: {path!r} is not a valid checkpoint: {problem}")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def parse_json(text, what: str):
    """JSON from ``text`` (UTF-8 bytes or str) with no duplicate keys; ValueError (whose
    message says ``what``) otherwise, also for nesting too deep for the parser."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        kind = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{what} is not valid JSON ({kind})") from None


def _parse_header(path, raw: bytes) -> dict:
    try:
        header = parse_json(raw, "its header")
    except ValueError as exc:
        raise _error(path, str(exc)) from None
    if not isinstance(header, dict):
        raise _error(path, f"its header is a JSON {type(header).__name__}, not an object")
    if METADATA in header and header[METADATA] is None:
        header[METADATA] = {}  # MLX's own writer puts ``null`` when there is no metadata
    meta = header.get(METADATA, {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _error(path, f"{METADATA!r} must map strings to strings")
    return header


def _check_entries(path, header: dict, data_size: int, dtypes=None) -> dict:
    """{name: (dtype, shape, begin, end)} after checking every field of every tensor entry."""
    entries = {}
    for name, entry in header.items():
        if name == METADATA:
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _error(
                path,
                f"tensor {name!r}: expected an object with exactly 'dtype', "
                f"'shape' and 'data_offsets', got {_short(entry)}",
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        refused = UNSUPPORTED.get(code) if isinstance(code, str) else None
        if (
            refused is None
            and isinstance(code, str)
            and code in CODES
            and dtypes is not None
            and CODES[code][0] not in dtypes
        ):
            refused = CODES[code][0]
        if refused is not None:
            raise _error(
                path, f"tensor {name!r} has dtype {code} ({refused}), which Lucid does not support"
            )
        if not isinstance(code, str) or code not in CODES:
            raise _error(path, f"tensor {name!r} has unknown dtype {_short(code)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _error(
                path,
                f"tensor {name!r}: shape must be a list of non-negative "
                f"integers, got {_short(shape)}",
            )
        if len(shape) > MAX_RANK:
            raise _error(path, f"tensor {name!r} has {len(shape)} dims (at most {MAX_RANK})")
        if any(d > MAX_DIM for d in shape):
            raise _error(path, f"tensor {name!r} has a dim above {MAX_DIM}: {_short(shape)}")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise _error(
                path,
                f"tensor {name!r}: data_offsets must be two increasing "
                f"non-negative integers, got {_short(offsets)}",
            )
        begin, end = offsets
        nbytes = CODES[code][1].itemsize * _product(shape)  # Python ints: nothing wraps
        if end - begin != nbytes:
            raise _error(
                path,
                f"tensor {name!r} of dtype {code} and shape {shape} needs "
                f"{nbytes} bytes, its offsets span {end - begin}",
            )
        entries[name] = (CODES[code][0], tuple(shape), begin, end)
    position = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
        if begin != position:
            problem = "overlaps the one before" if begin < position else "leaves a gap before it"
            raise _error(path, f"tensor {name!r} (bytes {begin}..{end}) {problem}")
        position = end
    if position != data_size:
        raise _error(
            path,
            f"its tensors cover {position} data bytes, the file holds "
            f"{data_size} (truncated, or trailing bytes)",
        )
    return entries


def _product(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
