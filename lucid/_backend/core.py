"""Array primitives, dtypes, devices/streams, creation and random numbers on MLX."""

from __future__ import annotations

import contextlib
import os
import sys

import mlx.core as mx
import numpy as np

# --- the array type and the primitives the ops are written with -----------------------------
from mlx.core import (  # noqa: F401  (re-exported: this list *is* Lucid's primitive set)
    abs,
    all,
    any,
    arange,
    argmax,
    argmin,
    array,
    broadcast_to,
    clip,
    concatenate,
    cos,
    cumprod,
    equal,
    erf,
    erfinv,
    exp,
    expand_dims,
    eye,
    floor,
    floor_divide,
    full,
    greater,
    greater_equal,
    isinf,
    isnan,
    less,
    less_equal,
    linspace,
    log,
    log1p,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    moveaxis,
    negative,
    not_equal,
    ones,
    pad,
    power,
    prod,
    repeat,
    reshape,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    stack,
    sum,
    swapaxes,
    take_along_axis,
    put_along_axis,
    tanh,
    tile,
    transpose,
    var,
    where,
    zeros,
    cumsum,
    einsum,
    roll,
)

Array = mx.array

__all__ = [
    "Array", "abs", "all", "any", "arange", "argmax", "argmin", "array", "broadcast_to", "clip",
    "concatenate", "cos", "cumprod", "equal", "erf", "erfinv", "exp", "expand_dims", "eye", "floor",
    "floor_divide", "full", "greater", "greater_equal", "isinf", "isnan", "less", "less_equal",
    "linspace", "log", "log1p", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
    "moveaxis", "negative", "not_equal", "ones", "pad", "power", "prod", "repeat", "reshape",
    "sigmoid", "sign", "sin", "sqrt", "square", "stack", "sum", "swapaxes", "take",
    "take_along_axis", "put_along_axis", "tanh", "tile", "transpose", "var", "where", "zeros",
    # defined below
    "DTYPES", "to_backend_dtype", "dtype_name", "is_floating", "asarray", "to_numpy", "evaluate",
    "scatter_add", "cast", "gpu_available", "gpu_kind", "resolve_device", "device_scope",
    "default_device_name", "random_seed", "random_normal", "random_uniform", "random_randint",
    "random_bernoulli", "random_permutation", "from_numpy", "save_safetensors",
    "load_safetensors", "mx_dtype_of",
    "cumsum", "einsum", "roll",
]

# --- dtypes -------------------------------------------------------------------------------------
DTYPES = {
    "float32": mx.float32,
    "float16": mx.float16,
    "bfloat16": mx.bfloat16,
    "float64": mx.float64,
    "int8": mx.int8,
    "int16": mx.int16,
    "int32": mx.int32,
    "int64": mx.int64,
    "uint8": mx.uint8,
    "uint32": mx.uint32,
    "bool": mx.bool_,
}
_NAME_OF = {v: k for k, v in DTYPES.items()}
_FLOATING = {mx.float32, mx.float16, mx.bfloat16, mx.float64}


def to_backend_dtype(name: str):
    """The MLX dtype for one of Lucid's dtype names (``"float32"``, ``"int64"``, ...)."""
    return DTYPES[name]


def dtype_name(dt) -> str:
    """Lucid's name for an MLX dtype."""
    try:
        return _NAME_OF[dt]
    except KeyError:
        raise TypeError(f"unsupported dtype {dt}") from None


def mx_dtype_of(a) -> str:
    """The dtype name of a backend array."""
    return _NAME_OF[a.dtype]


def is_floating(dt) -> bool:
    """True for float16/bfloat16/float32/float64 MLX dtypes."""
    return dt in _FLOATING


def cast(a, name: str):
    """``a`` converted to the named dtype (no copy when it already has it). A conversion from
    or to float64 runs on the CPU stream: GPUs (Metal) have no float64."""
    dt = DTYPES[name]
    if a.dtype == dt:
        return a
    if dt == mx.float64 or a.dtype == mx.float64:
        return a.astype(dt, stream=mx.cpu)
    return a.astype(dt)


# --- devices and streams ----------------------------------------------------------------------
def gpu_kind() -> str | None:
    """``"metal"`` or ``"cuda"`` when MLX can run on a GPU here, else None."""
    if mx.metal.is_available():
        return "metal"
    cuda = getattr(mx, "cuda", None)
    if cuda is not None and cuda.is_available():
        return "cuda"
    return None


def gpu_available() -> bool:
    """True when MLX has a GPU (Metal on Apple Silicon, or CUDA) to run on."""
    return gpu_kind() is not None


_warned_no_gpu = False


def resolve_device(name) -> str:
    """Map a user's device request to ``"cpu"`` or ``"gpu"``.

    ``"gpu"`` (or ``"metal"``, ``"cuda"``, ``"mps"``) where MLX has no GPU falls back to
    ``"cpu"``: the tensor reports ``device == "cpu"`` and behaves as any CPU tensor (float64
    included), and one RuntimeWarning is given per process, pointing at the user's line. So the
    same script runs on a Mac laptop and on a CPU-only CI runner.
    """
    global _warned_no_gpu
    if name is None:
        return "cpu"
    if not isinstance(name, str):
        name = getattr(name, "type", None) or str(name)
    name = name.lower()
    if name in ("gpu", "metal", "cuda", "mps"):
        if gpu_available():
            return "gpu"
        if not _warned_no_gpu:
            _warned_no_gpu = True
            import warnings

            warnings.warn("no GPU is available to MLX here: device 'gpu' runs on the CPU",
                          RuntimeWarning, stacklevel=_caller_stacklevel())
        return "cpu"
    if name == "cpu":
        return "cpu"
    raise ValueError(f"unknown device {name!r}: expected 'cpu' or 'gpu'")


def _caller_stacklevel() -> int:
    """The ``stacklevel`` (for a warning raised by our caller) of the first frame outside Lucid,
    so the warning names the user's line whichever public function led here."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


_STREAMS = {"cpu": mx.cpu, "gpu": mx.gpu}


def default_device_name() -> str:
    """The device MLX runs on when no stream is named."""
    return "gpu" if mx.default_device() == mx.gpu else "cpu"


def device_scope(name: str):
    """A context in which MLX ops run on the named device (a no-op when it is the default)."""
    if name == default_device_name():
        return contextlib.nullcontext()
    return mx.stream(_STREAMS[name])


# --- conversion ---------------------------------------------------------------------------------
def asarray(data, dtype: str | None = None):
    """An MLX array from an MLX array, numpy array, scalar or nested list.

    Floating data defaults to float32 and integer data to int64 unless ``dtype`` names one.
    """
    if isinstance(data, mx.array):
        if dtype is not None:
            return cast(data, dtype)
        return data
    arr = np.asarray(data)
    if dtype is None:
        if arr.dtype.kind == "f":
            dtype = "float32" if arr.dtype != np.float16 else "float16"
        elif arr.dtype.kind in "iu":
            dtype = "uint8" if arr.dtype == np.uint8 else "int64"  # image bytes stay bytes
        elif arr.dtype.kind == "b":
            dtype = "bool"
        else:
            raise TypeError(f"cannot make a tensor from data of numpy dtype {arr.dtype}")
    if dtype == "bfloat16":
        return mx.array(arr.astype(np.float32)).astype(mx.bfloat16)
    return from_numpy(arr.astype(np.dtype(dtype), copy=False))


def from_numpy(arr: np.ndarray):
    """An MLX array holding a copy of a numpy array's values (dtype kept)."""
    arr = np.asarray(arr, order="C")  # not ascontiguousarray: it turns a 0-d array into 1-d
    return mx.array(arr, dtype=DTYPES[arr.dtype.name])  # without dtype, MLX turns float64 into float32


def to_numpy(a) -> np.ndarray:
    """The values of an MLX array as a numpy array (bfloat16 comes back as float32)."""
    if a.dtype == mx.bfloat16:
        a = a.astype(mx.float32)
    mx.eval(a)
    return np.array(a, copy=False)


def evaluate(*arrays):
    """Force MLX's lazy computation of the given arrays."""
    mx.eval(*arrays)


def scatter_add(shape, index, values, dtype):
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeated indices accumulate)."""
    if 0 in tuple(shape) or values.size == 0:  # MLX rejects empty updates; nothing to add
        return mx.zeros(shape, dtype=dtype)
    return mx.zeros(shape, dtype=dtype).at[index].add(values)


def take(a, indices, axis=None):
    """``mx.take``, which also serves an empty ``a`` (MLX refuses any take from one)."""
    if a.size != 0:
        return mx.take(a, indices, axis=axis)
    idx_shape = tuple(indices.shape if hasattr(indices, "shape") else np.shape(indices))
    if axis is None:
        return mx.zeros(idx_shape, dtype=a.dtype)
    ax = axis % a.ndim
    return mx.zeros(a.shape[:ax] + idx_shape + a.shape[ax + 1:], dtype=a.dtype)


# --- random ---------------------------------------------------------------------------------------
def random_seed(seed: int) -> None:
    """Seed MLX's global random generator."""
    mx.random.seed(int(seed))


def random_normal(shape, dtype, loc=0.0, scale=1.0):
    """Normal samples."""
    return mx.random.normal(tuple(shape), dtype=DTYPES[dtype], loc=loc, scale=scale)


def random_uniform(shape, dtype, low=0.0, high=1.0):
    """Uniform samples in [low, high)."""
    return mx.random.uniform(low, high, tuple(shape), dtype=DTYPES[dtype])


def random_randint(low, high, shape, dtype):
    """Integers uniformly in [low, high)."""
    return mx.random.randint(low, high, tuple(shape)).astype(DTYPES[dtype])


def random_bernoulli(p, shape):
    """Booleans that are True with probability p."""
    return mx.random.bernoulli(p, tuple(shape))


def random_permutation(n: int):
    """A random permutation of range(n)."""
    return mx.random.permutation(n)


# --- files ----------------------------------------------------------------------------------------
def save_safetensors(path: str, arrays: dict, metadata: dict) -> None:
    """Write arrays to a safetensors file (MLX appends no suffix when ``path`` has one)."""
    mx.save_safetensors(path, arrays, metadata=metadata)


def load_safetensors(path: str):
    """(arrays, metadata) from a safetensors file."""
    return mx.load(path, format="safetensors", return_metadata=True)  # any file name
