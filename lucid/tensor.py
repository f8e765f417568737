"""``lucid.Tensor``: an MLX array plus what autograd needs (grad, requires_grad, its tape node).

The class is deliberately thin: it stores data and dispatches operators to ``lucid.ops``, where
every op keeps its forward and backward side by side.
"""

from __future__ import annotations

import itertools

import numpy as np

from lucid import _backend as B
from lucid.autograd import graph
from lucid.autograd.grad_mode import is_grad_enabled
from lucid.dtypes import BY_NAME, as_dtype_name
from lucid.dtypes import dtype as DType


class Tensor:
    """An n-dimensional array on MLX that records the operations applied to it for autograd.

    ``Tensor(data, requires_grad=False, dtype=None, device="cpu")`` accepts Python scalars, nested
    lists, numpy arrays, MLX arrays and other Tensors. Floating data defaults to float32 and
    integer data to int64.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_hooks", "_retains_grad", "_device",
                 "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to Tensor's operators

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        name = as_dtype_name(dtype)
        if isinstance(data, Tensor):
            data = data.data
        self._device = B.resolve_device(device)
        with B.device_scope(self._device):  # a dtype conversion runs on the tensor's stream
            self.data = B.asarray(data, name)
        self.grad = None
        self._node = None
        self._hooks = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)
        if self._device == "gpu" and self.data.dtype == B.DTYPES["float64"]:
            raise TypeError("float64 is not supported on the GPU: use float32, or device='cpu'")

    @classmethod
    def _wrap(cls, data, device="cpu", requires_grad=False):
        """A Tensor around an existing backend array, without conversion or copies."""
        t = cls.__new__(cls)
        t.data = data
        t._device = device
        t.grad = None
        t._node = None
        t._hooks = None
        t._retains_grad = False
        t.requires_grad = requires_grad
        return t

    # --- metadata --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The tensor's dimensions."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    def numel(self) -> int:
        """Number of elements (PyTorch's name)."""
        return self.data.size

    @property
    def dtype(self):
        """Element type, e.g. ``lucid.float32``."""
        return BY_NAME[B.dtype_name(self.data.dtype)]

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"gpu"``: the MLX stream this tensor's ops run on."""
        return self._device

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self):
        """The tape node that produced this tensor, or None for leaves."""
        return self._node

    def is_floating_point(self) -> bool:
        """True for floating-point dtypes."""
        return B.is_floating(self.data.dtype)

    # --- autograd --------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set whether gradients are computed for this (leaf) tensor; returns self."""
        if requires_grad and not B.is_floating(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got "
                            f"dtype {self.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        A non-scalar tensor is seeded with ones of its shape (the gradient of ``self.sum()``), as
        the reference page does; ``gradient`` gives an explicit seed of the same shape.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad: no "
                               "input of the computation had requires_grad=True (or it ran under "
                               "no_grad())")
        # the whole replay runs on this tensor's stream (MLX's default may be a Mac's GPU,
        # which cannot run a CPU tensor's float64 gradients)
        with B.device_scope(self._device):
            if gradient is None:
                seed = B.ones(self.data.shape, dtype=self.data.dtype)
            else:
                seed = gradient.data if isinstance(gradient, Tensor) else B.asarray(gradient)
                if tuple(seed.shape) != self.shape:
                    raise ValueError(f"gradient has shape {tuple(seed.shape)} but the tensor "
                                     f"has shape {self.shape}")
                seed = seed.astype(self.data.dtype)
            graph.backward(self, seed, retain_graph=retain_graph)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces
        the gradient. Returns a handle whose ``remove()`` unregisters the hook."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        key = next(_hook_ids)
        self._hooks[key] = hook
        return _HookHandle(self._hooks, key)

    def detach(self) -> "Tensor":
        """A tensor sharing this one's values, cut from the graph."""
        return Tensor._wrap(self.data, self._device)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # --- conversion ------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (a copy; bfloat16 comes back as float32)."""
        return np.array(B.to_numpy(self.data))

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return B.item(self.data)

    def tolist(self):
        """The values as (nested) Python lists."""
        return B.to_numpy(self.data).tolist()

    def to(self, device=None, dtype=None) -> "Tensor":
        """This tensor on another device and/or with another dtype (differentiable);
        ``t.to(lucid.float16)`` works too."""
        from lucid.ops import shape as _shape

        if isinstance(device, DType):
            device, dtype = None, device
        out = self
        if dtype is not None:
            out = out.astype(dtype)
        if device is not None:
            out = _shape.to_device(out, device)
        return out

    def cpu(self) -> "Tensor":
        """This tensor on the CPU stream."""
        return self.to("cpu")

    def gpu(self) -> "Tensor":
        """This tensor on the GPU stream. Where MLX has no GPU it stays on the CPU, with one
        RuntimeWarning per process (see ``lucid._backend.resolve_device``)."""
        return self.to("gpu")

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             "ambiguous; use .any() or .all()")
        return bool(B.item(self.data))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if B.is_floating(self.data.dtype):
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __setitem__(self, index, value):
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("in-place assignment into a tensor that requires grad would break "
                               "its gradient; do it under lucid.no_grad() or on a detached tensor")
        from lucid.ops.index import normalize_index

        value = value.data if isinstance(value, Tensor) else value
        data = self.data
        data[normalize_index(index, self.shape)] = value
        self.data = data

    # --- printing --------------------------------------------------------------------------
    def __repr__(self) -> str:
        body = _format_values(self, "Tensor(")
        extras = []
        if self.dtype.name not in ("float32", "int64", "bool"):
            extras.append(f"dtype={self.dtype!r}")
        if self._device != "cpu":
            extras.append(f"device='{self._device}'")
        if self.requires_grad:
            if self.is_leaf:
                extras.append("requires_grad=True")
            else:
                extras.append("grad=None" if self.grad is None else "grad=<retained>")
        tail = "".join(", " + e for e in extras)
        return f"Tensor({body}{tail})"

    def __str__(self) -> str:
        return _format_values(self, "")


def _format_values(t: Tensor, prefix: str) -> str:
    arr = t.numpy()
    if arr.dtype.kind == "f":
        mags = np.abs(arr[np.isfinite(arr) & (arr != 0)]).astype(np.float64)
        # positional notation would print 1e-8 as 0.0: switch to scientific for such ranges
        if mags.size and (mags.min() < 1e-4 or mags.max() >= 1e8):
            fmt = {"float_kind": lambda v: np.format_float_scientific(v, precision=6, unique=True,
                                                                       trim="0")}
        else:
            fmt = {"float_kind": lambda v: np.format_float_positional(v, precision=6, unique=True,
                                                                       trim="0")}
    else:
        fmt = None
    return np.array2string(arr, separator=", ", formatter=fmt, threshold=1000, edgeitems=3,
                           prefix=prefix, max_line_width=100)


_hook_ids = itertools.count()


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        """Unregister the hook."""
        self._hooks.pop(self._key, None)


graph._Tensor = Tensor
