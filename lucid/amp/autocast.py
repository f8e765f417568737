"""``autocast``: run convolutions and matmuls in half precision, keep the sensitive ops float32.

The policy is an attribute of each op, ``fn.autocast``, set from the op table
(lucid/_methods.py, one line per op) and read by the op decorator's hook
(``lucid.ops._util.op``) for every op while an ``autocast`` region is active, so no op carries
mixed-precision code of its own:

- ``"half"`` (conv, conv_transpose, matmul -- and so ``Linear``): float32 tensor arguments
  on the autocast device are cast to the autocast dtype; the op runs and returns half.
- ``"float32"`` (reductions, softmax/log_softmax, layer/group norm, ``norm``, every loss): half
  tensor arguments are cast to float32; the op runs and returns float32.
- None (every other op) runs in the dtype of its inputs (MLX promotes half + float32 to
  float32). ``batch_norm``/``instance_norm`` take half input and return half, computing their
  statistics in float32 inside (PyTorch's behaviour), so 3D activations stay half.

``HALF_OPS`` and ``FLOAT32_OPS`` name the ops of the first two policies, read from the table.
The casts are ordinary differentiable ``astype`` ops: a float32 parameter used by a half conv
gets a float32 gradient. float64 and integer tensors are never cast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lucid import _backend as B
from lucid._methods import FP32, HALF, OPS
from lucid._typing import DTypeLike
from lucid.dtypes import as_dtype_name
from lucid.ops import _util
from lucid.tensor import Tensor

__all__ = ["FLOAT32_OPS", "HALF_OPS", "autocast", "is_autocast_enabled"]

# the names of the ops each policy covers (read-only: the policy lives on the ops, set from OPS)
HALF_OPS = frozenset(op.fn.__name__ for op in OPS.values() if op.autocast == HALF)
FLOAT32_OPS = frozenset(op.fn.__name__ for op in OPS.values() if op.autocast == FP32)

_state = threading.local()
_open = [0]  # regions open in all threads: the op hook is installed while any is
_lock = threading.Lock()


def _active():
    return getattr(_state, "stack", None) or []


def _device_type(device_type) -> tuple[str, str | None]:
    """(the Lucid device an autocast ``device_type`` means, the reason it is unavailable or
    None). ``"cpu"`` and ``"gpu"`` as ``Tensor.to`` takes them (``"gpu"`` is the CPU where MLX
    has no GPU); PyTorch's ``"cuda"`` and ``"mps"`` (or ``"metal"``) mean the GPU where it is
    of that kind, and are unavailable elsewhere."""
    if not isinstance(device_type, str):
        raise TypeError(
            f"autocast: device_type must be a string such as 'cpu' or 'cuda', got "
            f"{type(device_type).__name__}"
        )
    name = device_type.lower()
    if name in ("cpu", "gpu"):
        return name, None
    if name not in ("cuda", "mps", "metal"):
        raise ValueError(
            f"autocast: device_type must be 'cpu', 'gpu', 'cuda' or 'mps', got {device_type!r}"
        )
    wanted = "cuda" if name == "cuda" else "metal"
    if B.gpu_kind() == wanted:
        return "gpu", None
    have = B.gpu_kind()
    return "gpu", f"MLX's GPU here is {have or 'none'}"


def amp_device(device_type: str, enabled: bool, what: str, off: str) -> tuple[str, bool]:
    """(the device, whether on) for an autocast region or a GradScaler asked for
    ``device_type``: a kind of GPU that is absent turns it off with a UserWarning naming
    ``what`` and saying ``off`` (PyTorch's behaviour)."""
    device, unavailable = _device_type(device_type)
    if not unavailable:
        return B.resolve_device(device), enabled
    if enabled:
        import warnings

        warnings.warn(
            f"{what} {device_type!r} is not available ({unavailable}): {off}",
            UserWarning,
            stacklevel=3,
        )
    return device, False


def is_autocast_enabled(device_type: str = "gpu") -> bool:
    """True inside an enabled ``autocast`` region for ``device_type`` (``"cpu"``, ``"gpu"``,
    or PyTorch's ``"cuda"``/``"mps"`` where the GPU is of that kind) in this thread."""
    name, unavailable = _device_type(device_type)
    if unavailable:
        return False
    if name == "gpu" and not B.gpu_available():
        name = "cpu"  # where MLX has no GPU, "gpu" tensors are CPU tensors
    return any(e.device_type == name and e.enabled for e in _active()[-1:])


def _cast(v, device, name):
    """``v`` cast to dtype ``name`` when it is a tensor on ``device`` of a castable dtype."""
    if not isinstance(v, Tensor) or v._device != device:
        return v
    current = B.dtype_name(v.data.dtype)
    if name == "float32":
        castable = current in ("float16", "bfloat16")
    else:
        castable = current == "float32"
    if not castable:
        return v
    from lucid.ops import shape

    return shape.astype(v, name)


def _hook(fn, args, kwargs):
    """The op decorator's autocast hook: args and kwargs cast by the innermost region's policy."""
    stack = _active()
    if not stack:  # a region is open in another thread, not this one
        return args, kwargs
    region = stack[-1]
    if not region.enabled:
        return args, kwargs
    # the policy the op table set on the op (__dict__: no exception for the ops without one)
    policy = fn.__dict__.get("autocast")
    if policy is None:
        return args, kwargs
    target = region.dtype_name if policy == HALF else "float32"
    device = region.device_type
    args = tuple(_cast(a, device, target) for a in args)
    kwargs = {k: _cast(v, device, target) for k, v in kwargs.items()}
    return args, kwargs


class autocast:
    """Mixed precision in a region: ``with lucid.amp.autocast(dtype=lucid.bfloat16): ...``.

    ``autocast(device_type="cpu", dtype=None, enabled=True, cache_enabled=None)`` as PyTorch's
    ``torch.autocast`` (``lucid.autocast`` is this class): it applies to ops on tensors of
    ``device_type``: ``"cpu"`` or ``"gpu"`` (where MLX has no GPU, ``"gpu"`` tensors are CPU
    tensors, so use ``"cpu"``), or PyTorch's ``"cuda"``/``"mps"``, which mean ``"gpu"`` where
    MLX's GPU is of that kind. Elsewhere they turn the region off with a UserWarning, as
    PyTorch does for a device it does not have. ``dtype`` defaults to float16 on the GPU and
    bfloat16 on the CPU. Regions nest (the inner one rules); ``enabled=False`` turns autocast
    off inside. ``cache_enabled`` is accepted and ignored (Lucid does not cache casts). Also
    usable as a decorator.
    """

    def __init__(
        self,
        device_type: str = "cpu",
        dtype: DTypeLike = None,
        enabled: bool = True,
        cache_enabled=None,
    ):
        device, unavailable = _device_type(device_type)
        if dtype is None:
            dtype = "float16" if device == "gpu" else "bfloat16"
        name = as_dtype_name(dtype)
        if name not in ("float16", "bfloat16"):
            raise ValueError(f"autocast: dtype must be lucid.float16 or lucid.bfloat16, got {name}")
        self.device_type, enabled = amp_device(
            device_type, enabled, "autocast: device_type", "autocast is disabled in this region"
        )
        self.dtype_name = name
        self.enabled = bool(enabled)

    def __enter__(self):
        stack = _active()
        if not stack:
            _state.stack = stack
        stack.append(self)
        with _lock:
            _open[0] += 1
            _util.set_autocast_hook(_hook)
        return self

    def __exit__(self, *exc):
        stack = _active()
        stack.pop()
        with _lock:
            _open[0] -= 1
            if not _open[0]:
                _util.set_autocast_hook(None)
        return False

    def __call__(self, fn: Callable[..., Any]):
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            with autocast(self.device_type, self.dtype_name, self.enabled):
                return fn(*args, **kwargs)

        return wrapper


def _region_of(device_type: str):
    """The innermost autocast region of this thread for ``device_type``, or None."""
    device = B.resolve_device(device_type)
    stack = _active()
    return stack[-1] if stack and stack[-1].device_type == device else None


def custom_fwd(fwd=None, *, device_type: str, cast_inputs: DTypeLike = None):
    """Decorate a custom ``Function``'s ``forward`` (PyTorch's ``torch.amp.custom_fwd``): inside an
    enabled autocast region for ``device_type`` with ``cast_inputs`` given, floating Tensor
    arguments are cast to ``cast_inputs`` and forward runs with autocast off; otherwise forward
    runs in the surrounding state. Either way, the state is kept for :func:`custom_bwd`."""
    if fwd is None:
        return lambda f: custom_fwd(f, device_type=device_type, cast_inputs=cast_inputs)
    import functools

    target = None if cast_inputs is None else as_dtype_name(cast_inputs)

    @functools.wraps(fwd)
    def forward(ctx, *args: Any, **kwargs: Any):
        region = _region_of(device_type)
        ctx._amp_region = region
        if region is None or not region.enabled or target is None:
            return fwd(ctx, *args, **kwargs)
        args = tuple(_cast_floating(a, region.device_type, target) for a in args)
        kwargs = {k: _cast_floating(v, region.device_type, target) for k, v in kwargs.items()}
        ctx._amp_region = None  # forward ran with autocast off: so does backward
        with autocast(region.device_type, region.dtype_name, enabled=False):
            return fwd(ctx, *args, **kwargs)

    return forward


def custom_bwd(bwd=None, *, device_type: str):
    """Decorate a custom ``Function``'s ``backward`` (PyTorch's ``torch.amp.custom_bwd``): it runs
    in the autocast state its forward ran in."""
    if bwd is None:
        return lambda f: custom_bwd(f, device_type=device_type)
    import functools

    B.resolve_device(device_type)

    @functools.wraps(bwd)
    def backward(ctx, *grads: Any):
        region = getattr(ctx, "_amp_region", None)
        if region is None or not region.enabled:
            with autocast(device_type, enabled=False):
                return bwd(ctx, *grads)
        with autocast(region.device_type, region.dtype_name, enabled=True):
            return bwd(ctx, *grads)

    return backward


def _cast_floating(v, device, name):
    """A floating Tensor on ``device`` cast to ``name`` (PyTorch casts every floating input)."""
    if not isinstance(v, Tensor) or v._device != device or not B.is_floating(v.data.dtype):
        return v
    if B.dtype_name(v.data.dtype) in (name, "float64"):
        return v
    from lucid.ops import shape

    return shape.astype(v, name)
