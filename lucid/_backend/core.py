"""Array primitives, dtypes, devices/streams, creation and random numbers on MLX."""

from __future__ import annotations

import builtins
import contextlib
import math
import os
import sys
from collections.abc import Callable
from types import FrameType

import mlx.core as mx
import numpy as np

# --- the array type and the primitives the ops are written with -----------------------------
# (matmul is not here: ops multiply through dispatch.matmul, exported as ``matmul_on``, which
# routes to the CPU kernel set)
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
    cumprod,
    cumsum,
    einsum,
    equal,
    erfinv,
    expand_dims,
    expm1,
    eye,
    floor_divide,
    full,
    greater,
    greater_equal,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    max,
    maximum,
    mean,
    min,
    minimum,
    moveaxis,
    not_equal,
    ones,
    pad,
    power,
    prod,
    put_along_axis,
    repeat,
    reshape,
    roll,
    sign,
    sqrt,
    square,
    stack,
    sum,
    swapaxes,
    take_along_axis,
    tanh,
    tile,
    transpose,
    where,
    zeros,
)

from lucid._backend import runtime

Array = mx.array


# --- float64 that means float64 -------------------------------------------------------------------
# MLX's CPU kernels compute these in float32 accuracy even for float64 arrays (exp off by ~4e-7
# relative, erf and cos by ~2e-5): float64 arrays go through numpy instead (measured: MLX's log,
# log1p, tanh, power, expm1, sqrt are float64-accurate, so they stay on MLX).
_erf64 = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid64(x):
    e = np.exp(-np.abs(x))  # never overflows; one formula per sign keeps full relative accuracy
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_EXACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "erf": _erf64,
    "sigmoid": _sigmoid64,
}


def exact_unary(name: str, x):
    """``name`` (exp, sin, cos, erf, sigmoid) of a float64 array, computed in numpy float64 (the
    result is a new MLX float64 array; the input is evaluated)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = _EXACT[name](to_numpy(x))
    return from_numpy(np.asarray(out, dtype=np.float64))


def _float64_exact(name, mlx_fn):
    def fn(a, *args, **kwargs):
        if isinstance(a, mx.array) and a.dtype == mx.float64:
            return exact_unary(name, a)
        return mlx_fn(a, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"MLX's ``{name}``; float64 arrays are computed in numpy (full accuracy)."
    return fn


exp = _float64_exact("exp", mx.exp)
sin = _float64_exact("sin", mx.sin)
cos = _float64_exact("cos", mx.cos)
erf = _float64_exact("erf", mx.erf)
sigmoid = _float64_exact("sigmoid", mx.sigmoid)


def logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a))) over ``axis``, stable; float64 arrays are computed in numpy."""
    if a.dtype != mx.float64:
        return mx.logsumexp(a, axis=axis, keepdims=keepdims)
    x = to_numpy(a)
    ax = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    m = np.max(x, axis=ax, keepdims=True) if x.size else np.zeros([1] * x.ndim)
    m = np.where(np.isfinite(m), m, 0.0)  # all -inf (or an inf) along the axis: no shift
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=ax, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=ax if ax is not None else tuple(range(x.ndim)))
    return from_numpy(np.asarray(out, dtype=np.float64))


__all__ = [
    "Array",
    "abs",
    "all",
    "any",
    "arange",
    "argmax",
    "argmin",
    "array",
    "broadcast_to",
    "clip",
    "concatenate",
    "cos",
    "cumprod",
    "equal",
    "erf",
    "erfinv",
    "exp",
    "expand_dims",
    "expm1",
    "eye",
    "floor_divide",
    "full",
    "greater",
    "greater_equal",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logsumexp",
    "max",
    "maximum",
    "moveaxis",
    "mean",
    "min",
    "minimum",
    "not_equal",
    "ones",
    "pad",
    "power",
    "prod",
    "repeat",
    "reshape",
    "sigmoid",
    "sign",
    "sin",
    "sqrt",
    "square",
    "stack",
    "sum",
    "swapaxes",
    "take",
    "take_along_axis",
    "put_along_axis",
    "tanh",
    "tile",
    "transpose",
    "where",
    "zeros",
    # defined below
    "DTYPES",
    "dtype_name",
    "is_floating",
    "asarray",
    "to_numpy",
    "item",
    "evaluate",
    "scatter_add",
    "cast",
    "gpu_available",
    "gpu_kind",
    "metal_built",
    "DEVICE_TYPES",
    "parse_device",
    "resolve_device",
    "device_scope",
    "default_device_name",
    "random_seed",
    "random_normal",
    "random_uniform",
    "random_randint",
    "random_bernoulli",
    "random_permutation",
    "random_bits",
    "random_categorical",
    "random_top_k",
    "random_exponential",
    "random_geometric",
    "random_cauchy",
    "seed_key",
    "from_numpy",
    "element_bits",
    "from_element_bits",
    "mx_dtype_of",
    "copy",
    "accurate_sum",
    "accurate_mean",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_invert",
    "logical_and",
    "logical_or",
    "logical_xor",
    "cumsum",
    "einsum",
    "roll",
    "MAX_NDIM",
    "check_ndim",
    "exact_unary",
    "svd",
    "ceil",
    "floor",
    "isfinite",
    "round_to",
    "trunc",
]
from mlx.core import (  # noqa: E402,F401
    bitwise_and,
    bitwise_invert,
    bitwise_or,
    bitwise_xor,
    ceil,
    floor,
    isfinite,
    logical_and,
    logical_or,
    logical_xor,
)


def round_to(a, decimals: int = 0):
    """``a`` rounded to ``decimals`` places, halves to even (as PyTorch and numpy). float64 is
    rounded in numpy: MLX scales by ``10**decimals`` in float32 precision."""
    if a.dtype == mx.float64 and decimals:
        return from_numpy(np.round(to_numpy(a), decimals))
    return mx.round(a, decimals)


def trunc(a):
    """``a`` rounded toward zero."""
    return mx.where(a < 0, mx.ceil(a), mx.floor(a))


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


def metal_built() -> bool:
    """True when this MLX can use Metal at all (a macOS build), even if no Metal GPU is usable
    now (``torch.backends.mps.is_built``)."""
    return sys.platform == "darwin" or gpu_kind() == "metal"


# device types a user may name: Lucid's own two, and PyTorch's names for the GPU
DEVICE_TYPES = ("cpu", "gpu", "cuda", "mps", "metal")
_GPU_KIND_OF = {"cuda": "cuda", "mps": "metal", "metal": "metal"}


def parse_device(spec, index=None) -> tuple[str, int | None]:
    """``(type, index)`` from a device request: ``"cpu"``, ``"cuda:0"``, ``("cuda", 0)``, or an
    object with ``type`` and ``index`` attributes (``lucid.device``). Types are lower-cased;
    an unknown type or a bad index raises ValueError (a non-string TypeError)."""
    if not isinstance(spec, str):
        kind = getattr(spec, "type", None)
        if not isinstance(kind, str):
            raise TypeError(
                f"a device is a string ('cpu', 'gpu', 'cuda:0', ...) or a lucid.device, got "
                f"{type(spec).__name__}"
            )
        if index is not None:
            raise ValueError("device: an index cannot be given with a device object")
        spec, index = kind, getattr(spec, "index", None)
    kind, sep, tail = spec.strip().lower().partition(":")
    if kind not in DEVICE_TYPES:
        raise ValueError(
            f"unknown device {spec!r}: expected 'cpu' or 'gpu' (or PyTorch's 'cuda', 'cuda:N', "
            "'mps')"
        )
    if sep:
        if index is not None:
            raise ValueError(
                f"device {spec!r} already has an index: do not also pass index={index!r}"
            )
        if not tail.isdigit():
            raise ValueError(f"invalid device string {spec!r}: the index must be an integer >= 0")
        index = int(tail)
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"device index must be an int, got {type(index).__name__}")
        if index < 0:
            raise ValueError(f"device index must be >= 0, got {index}")
    return kind, index


_warned_no_gpu = False


def resolve_device(name) -> str:
    """Map a user's device request to ``"cpu"`` or ``"gpu"`` (the MLX stream).

    - ``"cpu"`` (or ``"cpu:0"``) is the CPU.
    - ``"gpu"`` is MLX's GPU, Metal or CUDA. Where MLX has no GPU it falls back to ``"cpu"``:
      the tensor reports ``device == "cpu"`` and behaves as any CPU tensor (float64 included),
      and one RuntimeWarning is given per process, pointing at the user's line. So the same
      script runs on a Mac laptop and on a CPU-only CI runner.
    - ``"cuda"``/``"cuda:0"`` is the GPU where MLX's GPU is CUDA, and ``"mps"`` (or
      ``"metal"``) where it is Metal. Anywhere else they raise RuntimeError: asking for a
      particular kind of GPU never runs on the CPU.
    - Lucid has one device of each kind: an index other than 0 raises RuntimeError.
    """
    global _warned_no_gpu
    if name is None:
        return "cpu"
    kind, index = parse_device(name)
    if kind == "cpu":
        if index:
            raise RuntimeError(f"device 'cpu:{index}' does not exist: Lucid has one CPU device")
        return "cpu"
    have = gpu_kind()
    label = kind if index is None else f"{kind}:{index}"
    if kind != "gpu" and have != _GPU_KIND_OF[kind]:
        if have is None:
            where = "MLX has no GPU here (use 'cpu', or 'gpu', which falls back to the CPU)"
        else:
            where = f"MLX's GPU here is {'Metal' if have == 'metal' else 'CUDA'} (use 'gpu')"
        raise RuntimeError(f"device {label!r} is not available: {where}")
    if index:
        raise RuntimeError(
            f"device {label!r} is not available: Lucid uses one GPU, index 0 "
            f"({'none here' if have is None else have})"
        )
    if have is not None:
        return "gpu"
    if not _warned_no_gpu:
        _warned_no_gpu = True
        import warnings

        warnings.warn(
            "no GPU is available to MLX here: device 'gpu' runs on the CPU",
            RuntimeWarning,
            stacklevel=_caller_stacklevel(),
        )
    return "cpu"


def _caller_stacklevel() -> int:
    """The ``stacklevel`` (for a warning raised by our caller) of the first frame outside Lucid,
    so the warning names the user's line whichever public function led here."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


# Devices, not streams: MLX makes each thread its own default stream per device (lazily, at the
# thread's first op there), and a stream is usable only in the thread that made it. A device
# names the calling thread's stream wherever MLX takes a stream (``mx.stream(mx.cpu)``).
_DEVICES = {"cpu": mx.cpu, "gpu": mx.gpu}


def default_device_name() -> str:
    """The device MLX runs on when no stream is named."""
    return "gpu" if mx.default_device() == mx.gpu else "cpu"


def device_scope(name: str):
    """A context in which MLX ops run on the named device (a no-op when it is the default)."""
    if name == default_device_name():
        return contextlib.nullcontext()
    return mx.stream(_DEVICES[name])


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
    if arr.dtype == object:  # Python ints beyond 64 bits, or mixed objects
        arr = _object_ints(arr)
    if dtype is None:
        if arr.dtype.kind == "f":
            dtype = "float32" if arr.dtype != np.float16 else "float16"
        elif arr.dtype.kind in "iuO":  # (object: Python ints, refused below if too large)
            dtype = "uint8" if arr.dtype == np.uint8 else "int64"  # image bytes stay bytes
        elif arr.dtype.kind == "b":
            dtype = "bool"
        else:
            raise TypeError(f"cannot make a tensor from data of numpy dtype {arr.dtype}")
    if arr.dtype.kind in "iuO" and dtype in _INT_NAMES:
        _check_int_range(arr, dtype)
    if dtype == "bfloat16":
        return _host_copy(arr.astype(np.float32), mx.float32).astype(mx.bfloat16)
    return from_numpy(arr.astype(np.dtype(dtype), copy=False))


_INT_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint32")


def _object_ints(arr: np.ndarray) -> np.ndarray:
    """An object array of Python ints (some beyond 64 bits) kept as objects for the range check;
    anything else in it is refused."""
    if arr.size and builtins.all(isinstance(v, int) for v in arr.flat):
        return arr
    raise TypeError(
        "cannot make a tensor from data of numpy dtype object (mixed or non-numeric values)"
    )


def _check_int_range(arr: np.ndarray, dtype: str) -> None:
    """Refuse integers that do not fit ``dtype`` (numpy would wrap them silently)."""
    if arr.dtype != object and np.can_cast(arr.dtype, dtype, "safe") or arr.size == 0:
        return
    info = np.iinfo(dtype)
    lo, hi = arr.min(), arr.max()
    if lo < info.min or hi > info.max:
        bad = int(lo) if lo < info.min else int(hi)
        raise OverflowError(
            f"value {bad} does not fit dtype {dtype} (range [{info.min}, {info.max}])"
        )


def from_numpy(arr: np.ndarray):
    """An MLX array holding a copy of a numpy array's values (dtype kept)."""
    arr = np.asarray(arr, order="C")  # not ascontiguousarray: it turns a 0-d array into 1-d
    return _host_copy(arr, DTYPES[arr.dtype.name])


def _host_copy(arr: np.ndarray, dtype):
    """``mx.array(arr, dtype=dtype)``, every host-to-MLX copy's one path. An empty numpy array is
    made with ``mx.zeros`` instead: MLX 0.32's CPU kernels can loop forever on arrays computed
    from an ``mx.array`` of an empty numpy array (seen: a sum over an empty axis, then ``x -
    mean`` reduced again, hung about one process in two; tests/test_empty_arrays.py)."""
    if arr.size == 0:
        return mx.zeros(arr.shape, dtype=dtype)
    # without dtype, MLX turns float64 into float32
    return mx.array(arr, dtype=dtype)


MAX_NDIM = 64  # numpy's limit: MLX's numpy conversion aborts the process above it


def check_ndim(shape) -> None:
    """Refuse shapes of more than ``MAX_NDIM`` dimensions with a ValueError (MLX would accept
    them, then abort the interpreter when they reach numpy)."""
    if len(shape) > MAX_NDIM:
        raise ValueError(f"tensors have at most {MAX_NDIM} dimensions, got {len(shape)}")


def copy(a):
    """A new array with ``a``'s values (in-place writes to one do not reach the other)."""
    return mx.array(a)


def to_numpy(a, kind: str = "read") -> np.ndarray:
    """The values of an MLX array as a numpy array (bfloat16 comes back as float32). ``kind``
    is ``"kernel"`` when a host kernel reads its input (see ``runtime.read``)."""
    check_ndim(a.shape)
    if a.dtype == mx.bfloat16:
        a = a.astype(mx.float32)
    runtime.read(a, kind)
    return np.array(a, copy=False)


def item(a):
    """The value of a one-element MLX array as a Python number (a host read-back)."""
    return runtime.read(a).item()


def evaluate(*arrays):
    """Force MLX's lazy computation of the given arrays (and of deferred buffer updates and
    checks): every evaluation Lucid makes goes through here (see ``runtime``)."""
    runtime.evaluate(*arrays)


def scatter_add(shape, index, values, dtype):
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeated indices accumulate)."""
    if 0 in tuple(shape) or values.size == 0:  # MLX rejects empty updates; nothing to add
        return mx.zeros(shape, dtype=dtype)
    return mx.zeros(shape, dtype=dtype).at[index].add(values)


# --- accurate reductions -------------------------------------------------------------------------
# MLX's CPU sum accumulates sequentially: over 10^6 float32 values its error is ~100x PyTorch's
# (which sums pairwise). Summing blocks of _SUM_BLOCK values, then the partial sums likewise, bounds
# the error by ~(levels * _SUM_BLOCK) ulps, and measured no slower. 64 rather than 256: 1.7x
# PyTorch's error against 2.1x (geometric mean over 27 random shapes and axes; per-channel sums
# such as bias and norm-affine gradients gain most: a conv bias gradient over 2 x 32^3 1.4x
# against 3.0x, docs/benchmarks.md), and the fastest of 16, 32, 64, 256 on eight shapes; whole
# sums of 10^6 values of 1 + N(0, 1) are within an ulp either way.
_SUM_BLOCK = 64
_HALF = {mx.float16, mx.bfloat16}


def _blocked_sum_axis(a, axis: int):
    """``a`` summed over ``axis`` (kept, size 1), block by block."""
    while a.shape[axis] > _SUM_BLOCK:
        n = a.shape[axis]
        q = n // _SUM_BLOCK
        before = (slice(None),) * axis
        head = a[before + (slice(0, q * _SUM_BLOCK),)]
        head = mx.sum(
            mx.reshape(head, a.shape[:axis] + (q, _SUM_BLOCK) + a.shape[axis + 1 :]), axis=axis + 1
        )
        if q * _SUM_BLOCK < n:
            tail = mx.sum(a[before + (slice(q * _SUM_BLOCK, None),)], axis=axis, keepdims=True)
            head = mx.concatenate([head, tail], axis=axis)
        a = head
    return mx.sum(a, axis=axis, keepdims=True)


def accurate_sum(a, axes, keepdims: bool = False, out_dtype: str | None = None):
    """The sum of floating ``a`` over ``axes`` (a sorted tuple), accumulated blockwise, and
    float16/bfloat16 in float32 (cast back to ``a``'s dtype, or ``out_dtype`` when given)."""
    out_dt = DTYPES[out_dtype] if out_dtype else a.dtype
    work = a.astype(mx.float32) if a.dtype in _HALF else a
    shape = a.shape
    count = 1
    for ax in axes:
        count *= shape[ax]
    if count <= _SUM_BLOCK:  # one block: MLX's own sum is as accurate
        out = mx.sum(work, axis=list(axes), keepdims=keepdims)
        return out if out.dtype == out_dt else out.astype(out_dt)
    # merge each run of adjacent reduced axes into one (a free reshape for contiguous data)
    merged: list[int] = []
    merged_axes: list[int] = []
    i = 0
    while i < len(shape):
        j = i
        while i in axes and j + 1 < len(shape) and j + 1 in axes:
            j += 1
        size = 1
        for n in shape[i : j + 1]:
            size *= n
        if i in axes:
            merged_axes.append(len(merged))
        merged.append(size)
        i = j + 1
    work = mx.reshape(work, tuple(merged))
    for ax in reversed(merged_axes):
        work = _blocked_sum_axis(work, ax)
    kept = tuple(1 if k in axes else n for k, n in enumerate(shape))
    out = mx.reshape(
        work, kept if keepdims else tuple(n for k, n in enumerate(shape) if k not in axes)
    )
    return out if out.dtype == out_dt else out.astype(out_dt)


def accurate_mean(a, axes, keepdims: bool = False):
    """The mean of floating ``a`` over ``axes`` (a sorted tuple), summed as ``accurate_sum``."""
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    wide = "float32" if a.dtype in _HALF else None
    mean = accurate_sum(a, tuple(axes), keepdims, out_dtype=wide) / count
    return mean if mean.dtype == a.dtype else mean.astype(a.dtype)


def take(a, indices, axis=None):
    """``mx.take``, which also serves an empty ``a`` (MLX refuses any take from one)."""
    if a.size != 0:
        return mx.take(a, indices, axis=axis)
    idx_shape = tuple(indices.shape if hasattr(indices, "shape") else np.shape(indices))
    if axis is None:
        return mx.zeros(idx_shape, dtype=a.dtype)
    ax = axis % a.ndim
    return mx.zeros(a.shape[:ax] + idx_shape + a.shape[ax + 1 :], dtype=a.dtype)


# --- random ---------------------------------------------------------------------------------------
# ``holder`` is a generator's key holder (lucid.Generator's key Tensor): each draw splits its key
# and advances it. None (or the default generator's holder) draws from the default generator.
def random_seed(seed: int) -> None:
    """Seed Lucid's default random generator."""
    runtime.seed_generator(seed)


def random_normal(shape, dtype, loc=0.0, scale=1.0, holder=None):
    """Normal samples."""
    return mx.random.normal(
        tuple(shape), dtype=DTYPES[dtype], loc=loc, scale=scale, key=runtime.next_key(holder)
    )


def random_uniform(shape, dtype, low=0.0, high=1.0, holder=None):
    """Uniform samples in [low, high)."""
    return mx.random.uniform(
        low, high, tuple(shape), dtype=DTYPES[dtype], key=runtime.next_key(holder)
    )


_SMALL_RANGE = 1 << 24  # MLX's randint scales a float32 uniform: exact up to this many values


def random_randint(low, high, shape, dtype, holder=None):
    """Integers uniformly in [low, high) (ints of any size up to 64 bits)."""
    low, high, shape = int(low), int(high), tuple(shape)
    if high - low <= _SMALL_RANGE and low >= -(2**31) and high <= 2**31:
        out = mx.random.randint(low, high, shape, key=runtime.next_key(holder))
        return out.astype(DTYPES[dtype])
    # wide ranges: 64 random bits per value, reduced modulo the range (bias < range / 2**64)
    words = random_bits(shape + (2,), holder).astype(mx.uint64)
    bits = (words[..., 0] << _u64(32)) | words[..., 1]
    span = high - low
    if span < 2**64:
        bits = bits % _u64(span)
    out = (bits + _u64(low % 2**64)).astype(mx.int64)  # wraps to [low, high) in int64
    return out.astype(DTYPES[dtype])


def _u64(value: int):
    """A uint64 scalar array of ``value`` (MLX cannot convert Python ints above int64)."""
    hi, lo = divmod(int(value), 2**32)
    return (mx.array(hi, dtype=mx.uint64) << mx.array(32, dtype=mx.uint64)) | mx.array(
        lo, dtype=mx.uint64
    )


def random_bits(shape, holder=None):
    """Random uint32 words (threefry outputs: the keys one split makes)."""
    shape = tuple(int(s) for s in shape)
    n = 1
    for s in shape:
        n *= s
    key = runtime.next_key(holder)
    if n == 0:
        return mx.zeros(shape, dtype=mx.uint32)
    words = mx.random.split(key, num=(n + 1) // 2).reshape(-1)
    return words[:n].reshape(shape)


def random_bernoulli(p, shape, holder=None):
    """Booleans that are True with probability ``p`` (a number or an array broadcast to
    ``shape``)."""
    return mx.random.bernoulli(p, tuple(shape), key=runtime.next_key(holder))


def random_permutation(n: int, holder=None):
    """A random permutation of range(n)."""
    return mx.random.permutation(n, key=runtime.next_key(holder))


def random_categorical(logits, num_samples: int, holder=None):
    """``num_samples`` category indices per row of ``logits`` (..., categories), drawn with
    replacement with probabilities softmax(logits)."""
    return mx.random.categorical(
        logits, axis=-1, num_samples=num_samples, key=runtime.next_key(holder)
    )


def random_top_k(logits, k: int, holder=None):
    """``k`` distinct category indices per row of ``logits`` (..., categories), drawn without
    replacement with probabilities softmax(logits): the k largest Gumbel-perturbed logits."""
    noise = mx.random.gumbel(logits.shape, dtype=logits.dtype, key=runtime.next_key(holder))
    return mx.argsort(-(logits + noise), axis=-1)[..., :k]


def _unit(shape, dtype, holder):
    """Uniform [0, 1) samples in floating ``dtype`` (float32 for other dtypes)."""
    kind = DTYPES[dtype] if mx.issubdtype(DTYPES[dtype], mx.floating) else mx.float32
    return mx.random.uniform(shape=tuple(shape), dtype=kind, key=runtime.next_key(holder))


def random_exponential(shape, dtype, rate, holder=None):
    """Exponential samples with the given rate (inverse CDF of a uniform)."""
    return (-mx.log1p(-_unit(shape, dtype, holder)) / rate).astype(DTYPES[dtype])


def random_geometric(shape, dtype, p, holder=None):
    """Geometric samples: the number of Bernoulli(p) trials up to the first success (>= 1)."""
    u = _unit(shape, dtype, holder)
    trials = mx.floor(mx.log1p(-u) / math.log1p(-p)) + 1
    return trials.astype(DTYPES[dtype])


def random_cauchy(shape, dtype, median, sigma, holder=None):
    """Cauchy samples (inverse CDF of a uniform)."""
    u = _unit(shape, dtype, holder)
    return (median + sigma * mx.tan(math.pi * (u - 0.5))).astype(DTYPES[dtype])


def seed_key(seed: int):
    """The generator key of a 64-bit seed (two uint32 words)."""
    return runtime.seed_key(seed)


# --- raw element bits (checkpoint files) ---------------------------------------------------------
def element_bits(a) -> np.ndarray:
    """A numpy array with the exact element bits of ``a`` (bfloat16, which numpy lacks, as
    uint16; NaN payloads kept). It may share memory with ``a``: read it, do not keep it."""
    if a.dtype == mx.bfloat16:
        a = mx.view(a, mx.uint16)
    mx.eval(a)
    return np.array(a, copy=False)


def from_element_bits(bits: np.ndarray, name: str):
    """An MLX array of dtype ``name`` that owns a copy of ``bits`` (as ``element_bits`` gives)."""
    if name == "bfloat16":
        return mx.view(_host_copy(np.asarray(bits, dtype=np.uint16), mx.uint16), mx.bfloat16)
    return from_numpy(bits)


# --- linear algebra ------------------------------------------------------------------------------
def svd(a):
    """``(U, S, Vh)`` of the matrices in the last two axes of floating ``a`` (reduced: ``k =
    min(m, n)`` singular values, descending). MLX's SVD runs on the CPU in float32 only, so this
    is LAPACK's through numpy in float64, returned in ``a``'s dtype (float32 for half input);
    it reads ``a`` back to the host."""
    out_dtype = a.dtype if a.dtype in (mx.float32, mx.float64) else mx.float32
    u, s, vh = np.linalg.svd(to_numpy(a).astype(np.float64), full_matrices=False)
    name = _NAME_OF[out_dtype]
    return tuple(from_numpy(v.astype(name)) for v in (u, s, vh))
