"""``lucid.Tensor``: an MLX array plus what autograd needs (grad, requires_grad, its tape node).

The class is deliberately thin: it stores data and dispatches operators to ``lucid.ops``, where
every op keeps its forward and backward side by side.
"""

from __future__ import annotations

import builtins
import itertools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from lucid import _backend as B, _device
from lucid._args import dim_aliases
from lucid._typing import Dims, DTypeLike, IntOrSeq, TensorOrScalar
from lucid.autograd import graph
from lucid.autograd.grad_mode import is_grad_enabled
from lucid.dtypes import BY_NAME, as_dtype_name, dtype as DType

_ops: Any = None  # lucid.ops, bound by lucid/__init__.py (the ops are built on this class)


class Size(tuple):
    """A tensor's shape: a tuple of ints (PyTorch's ``torch.Size``; it prints as a tuple)."""

    __slots__ = ()

    def numel(self) -> int:
        """The number of elements of a tensor of this shape."""
        n = 1
        for d in self:
            n *= d
        return n


def _generator_key(generator, what: str):
    """The key holder of a ``lucid.Generator`` (None for the default generator)."""
    if generator is None:
        return None
    from lucid.random import _key_holder  # lucid.random is built on this module

    return _key_holder(generator, what)


def _integer_range(name: str) -> tuple:
    """(smallest, largest) integer ``random_`` may write into dtype ``name``: the dtype's
    range for integers, [0, 1] for bool, [-2**mantissa, 2**mantissa] for floating dtypes."""
    if name == "bool":
        return 0, 1
    if name in ("float16", "bfloat16", "float32", "float64"):
        digits = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}[name]
        return -(2**digits), 2**digits
    info = np.iinfo(name)
    return int(info.min), int(info.max)


def _dim_index(dim, ndim: int) -> int:
    """``dim`` checked against ``ndim`` and made non-negative."""
    nd = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {dim!r}")
    if not -nd <= dim < nd:
        raise IndexError(f"dim {dim} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % nd


class Tensor:
    """An n-dimensional array on MLX that records the operations applied to it for autograd.

    ``Tensor(data, requires_grad=False, dtype=None, device="cpu")`` accepts Python scalars, nested
    lists, numpy arrays, MLX arrays and other Tensors. Floating data defaults to float32 and
    integer data to int64.
    """

    __slots__ = (
        "_data",
        "_version",
        "_grad",
        "requires_grad",
        "_node",
        "_hooks",
        "_retains_grad",
        "_device",
        "__weakref__",
        "__dict__",
    )
    _data: Any  # the backend array (an mx.array); written only through the ``data`` setter
    _hooks: dict[int, Callable[[Tensor], Tensor | None]] | None  # register_hook's, by handle key
    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to Tensor's operators

    def __init__(
        self,
        data: Any,
        requires_grad: builtins.bool = False,
        dtype: DTypeLike = None,
        device: str | None = None,
    ) -> None:
        name = as_dtype_name(dtype)
        if isinstance(data, Tensor):
            data = data.data
        device = B.resolve_device(device)
        with B.device_scope(device):  # a dtype conversion runs on the tensor's stream
            data = B.asarray(data, name)
        B.check_ndim(data.shape)
        if device == "gpu" and data.dtype == B.DTYPES["float64"]:
            raise TypeError("float64 is not supported on the GPU: use float32, or device='cpu'")
        self._init_fields(data, device)
        if requires_grad:
            self.requires_grad_(True)  # checks the dtype

    def _init_fields(self, data, device, requires_grad=False, node=None) -> None:
        """Set every field of a new Tensor: ``data`` (a backend array, taken as is), version 0,
        no gradient, hooks or retained gradient, and the tape ``node`` (None: a leaf). The one
        initialiser: ``__init__``, ``_wrap`` and the tape's ``record`` all end here."""
        self._data = data
        self._version = 0
        self._device = device
        self._grad = None
        self._node = node
        self._hooks = None
        self._retains_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, data, device="cpu", requires_grad=False):
        """A Tensor around an existing backend array, without conversion or copies."""
        t = cls.__new__(cls)
        t._init_fields(data, device, requires_grad)
        return t

    # --- storage: every in-place write goes through the ``data`` setter ------------------------
    def _set_data(self, value) -> None:
        if not isinstance(value, B.Array):
            value = value._data if isinstance(value, Tensor) else B.asarray(value)
        if B.is_tracing():  # lucid.compile refuses writes to state it did not capture
            B.traced_write(self)
        self._data = value
        try:
            self._version += 1
        except AttributeError:  # a subclass assigning before Tensor.__init__ ran
            self._version = 0

    # the getter is a C-level attrgetter: ``t.data`` is on every op's hot path
    data = property(
        operator.attrgetter("_data"),
        _set_data,
        doc=(
            "The backend (MLX) array. Assigning it (``t.data = values``) replaces the values in "
            "place and bumps ``t._version``; every in-place write (``t[i] = v``, in-place methods, "
            "optimizer updates) goes through this assignment."
        ),
    )

    def _set_grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad must be a Tensor or None, got {type(value).__name__}"
                )
            if not B.is_floating(value._data.dtype):
                raise TypeError(f"assigned grad must be floating point, got dtype {value.dtype}")
            if value.shape != self.shape:
                raise ValueError(
                    f"assigned grad has shape {value.shape} but the tensor has shape {self.shape}"
                )
            if value._data.dtype != self._data.dtype:
                raise TypeError(
                    f"assigned grad has dtype {value.dtype} but the tensor has dtype {self.dtype}"
                )
            if value._device != self._device:
                raise ValueError(
                    f"assigned grad is on device {value._device!r} but the tensor is "
                    f"on {self._device!r}"
                )
        self._grad = value

    grad = property(
        operator.attrgetter("_grad"),
        _set_grad,
        doc=(
            "The accumulated gradient (a Tensor of this tensor's shape, dtype and device) or None; "
            "an assignment of any other shape, dtype or device is refused at once."
        ),
    )

    # --- metadata --------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        """The tensor's dimensions (a ``lucid.Size``, i.e. a tuple)."""
        return Size(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    def numel(self) -> int:
        """Number of elements (PyTorch's name)."""
        return self.data.size

    @property
    def dtype(self) -> DType:
        """Element type, e.g. ``lucid.float32``."""
        return BY_NAME[B.dtype_name(self.data.dtype)]

    @property
    def device(self) -> _device.device:
        """``lucid.device("cpu")`` or ``lucid.device("gpu")``: the MLX stream this tensor's ops
        run on. A device is its string, so ``t.device == "cpu"`` and ``t.device.type`` both
        work."""
        return _device.of(self._device)

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self) -> graph.Node | None:
        """The tape node that produced this tensor, or None for leaves."""
        return self._node

    def is_floating_point(self) -> bool:
        """True for floating-point dtypes."""
        return B.is_floating(self.data.dtype)

    # --- autograd --------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether gradients are computed for this (leaf) tensor; returns self."""
        if requires_grad and not B.is_floating(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        A non-scalar tensor is seeded with ones of its shape (the gradient of ``self.sum()``), as
        the reference page does; ``gradient`` gives an explicit seed of the same shape.
        ``create_graph=True`` records the backward itself, so the gradients can be
        differentiated again (``retain_graph`` then defaults to True, as in PyTorch);
        ``inputs`` (tensors) limits the accumulation to those tensors' ``.grad``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad: no "
                "input of the computation had requires_grad=True (or it ran under "
                "no_grad())"
            )
        if inputs is not None:
            from lucid.autograd.function import _backward_into

            _backward_into(self, gradient, retain_graph, create_graph, inputs)
            return
        # the whole replay runs on this tensor's stream (MLX's default may be a Mac's GPU,
        # which cannot run a CPU tensor's float64 gradients)
        with B.device_scope(self._device):
            keep = create_graph if retain_graph is None else bool(retain_graph)
            graph.backward(self, self._seed(gradient, create_graph), keep, None, create_graph)

    def _seed(self, gradient: Any, as_tensor: bool = False) -> Any:
        """The initial gradient of a backward from this tensor: ones, or ``gradient`` checked
        against this tensor's shape; a Tensor (kept as it is, graph included) when
        ``as_tensor``, else an array."""
        if gradient is None:
            seed = B.ones(self.data.shape, dtype=self.data.dtype)
            return Tensor._wrap(seed, self._device) if as_tensor else seed
        seed = gradient.data if isinstance(gradient, Tensor) else B.asarray(gradient)
        if tuple(seed.shape) != self.shape:
            raise ValueError(
                f"gradient has shape {tuple(seed.shape)} but the tensor has shape {self.shape}"
            )
        if not as_tensor:
            return seed.astype(self.data.dtype)
        if not isinstance(gradient, Tensor):
            return Tensor._wrap(seed.astype(self.data.dtype), self._device)
        if gradient.data.dtype != self.data.dtype:
            return gradient.astype(B.dtype_name(self.data.dtype))
        return gradient

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        self._retains_grad = True

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _HookHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces
        the gradient. Returns a handle whose ``remove()`` unregisters the hook."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = {}
        key = next(_hook_ids)
        self._hooks[key] = hook
        return _HookHandle(self._hooks, key)

    def detach(self) -> Tensor:
        """A tensor sharing this one's values, cut from the graph."""
        return Tensor._wrap(self.data, self._device)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    # --- conversion ------------------------------------------------------------------------
    # every host read first runs the deferred index checks (see lucid._backend.checks)
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (a copy; bfloat16 comes back as float32)."""
        B.check_indices(self._data)
        return np.array(B.to_numpy(self._data))

    def item(self) -> builtins.int | builtins.float | builtins.bool:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return B.item(self._data)  # a host read: deferred index checks run with it

    def tolist(self) -> Any:
        """The values as (nested) Python lists."""
        B.check_ndim(self._data.shape)
        return B.to_numpy(self._data).tolist()

    def to(
        self,
        device: str | DType | Tensor | None = None,
        dtype: DTypeLike = None,
        non_blocking: bool = False,
        copy: bool = False,
    ) -> Tensor:
        """This tensor on another device and/or with another dtype (differentiable);
        ``t.to(lucid.float16)`` and ``t.to(other)`` (other's dtype and device) work too.
        ``non_blocking`` is accepted and ignored (MLX memory is unified)."""
        from lucid.ops import shape as _shape

        if isinstance(device, Tensor):
            dtype, device = device.dtype, device.device
        if isinstance(device, DType):
            device, dtype = None, device
        out = self
        if dtype is not None:
            out = out.astype(dtype)
        if device is not None:
            out = _shape.to_device(out, device)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        """This tensor on the CPU stream."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Tensor:
        """This tensor on the CUDA GPU (``device``: ``"cuda"``/``"cuda:0"``/0): the GPU stream
        where MLX runs on CUDA; elsewhere a RuntimeError, as PyTorch without CUDA."""
        if device is None or (isinstance(device, int) and not isinstance(device, bool)):
            device = "cuda" if device is None else f"cuda:{device}"
        return self.to(device)

    def gpu(self) -> Tensor:
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
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is "
                "ambiguous; use .any() or .all()"
            )
        return bool(self.item())

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
            raise RuntimeError(
                "in-place assignment into a tensor that requires grad would break "
                "its gradient; do it under lucid.no_grad() or on a detached tensor"
            )
        from lucid.ops.index import normalize_index

        value = value.data if isinstance(value, Tensor) else value
        # write into a copy, never into the array itself: MLX's in-place update would also change
        # every holder of that array (backward closures that saved it, detached tensors)
        data = B.array(self._data)
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

    # === PyTorch-style methods ====================================================================
    # Defined on the class so IDEs and type checkers see them. Op-backed methods are thin wrappers
    # over ``lucid.ops`` (bound to ``_ops`` by lucid/__init__.py): those of the op table
    # (``lucid._methods.OPS``) are generated from it, in the block at the end of the class.
    # In-place methods (``add_``, ``+=``, ...) write ``self.data`` and keep the object.

    # --- sizes ---------------------------------------------------------------------------------
    def size(self, dim: Dims = None) -> Size | builtins.int:
        """The shape as a ``lucid.Size`` (a tuple), or the size of dimension ``dim`` (an int)."""
        if dim is None:
            return Size(self.data.shape)
        return self.data.shape[_dim_index(dim, self.ndim)]

    def dim(self) -> int:
        """Number of dimensions (``ndim``)."""
        return self.data.ndim

    def ndimension(self) -> int:
        """Number of dimensions (``ndim``)."""
        return self.data.ndim

    def nelement(self) -> int:
        """Number of elements (``numel()``)."""
        return self.data.size

    def element_size(self) -> int:
        """Bytes per element."""
        return self.data.dtype.size

    def is_contiguous(self) -> bool:
        """Always True: Lucid tensors have no user-visible strides."""
        return True

    def contiguous(self) -> Tensor:
        """``self`` (Lucid tensors are always contiguous)."""
        return self

    def clone(self) -> Tensor:
        """A copy with its own storage; differentiable (the gradient passes through)."""
        return graph.record(
            B.copy(self.data),
            (self,),
            lambda g: (g,),
            "Clone",
            saves=(),
            saves_output=False,
            adjoint=graph.DIAGONAL,
        )

    # --- dtype conversions ---------------------------------------------------------------------
    def _cast(self, name):
        return self if self.dtype.name == name else self.to(BY_NAME[name])

    def float(self) -> Tensor:
        """``self`` as float32."""
        return self._cast("float32")

    def double(self) -> Tensor:
        """``self`` as float64 (CPU only)."""
        return self._cast("float64")

    def half(self) -> Tensor:
        """``self`` as float16."""
        return self._cast("float16")

    def bfloat16(self) -> Tensor:
        """``self`` as bfloat16."""
        return self._cast("bfloat16")

    def long(self) -> Tensor:
        """``self`` as int64."""
        return self._cast("int64")

    def int(self) -> Tensor:
        """``self`` as int32."""
        return self._cast("int32")

    def short(self) -> Tensor:
        """``self`` as int16."""
        return self._cast("int16")

    def byte(self) -> Tensor:
        """``self`` as uint8."""
        return self._cast("uint8")

    def bool(self) -> Tensor:
        """``self`` as bool."""
        return self._cast("bool")

    def type_as(self, other: Tensor) -> Tensor:
        """``self`` converted to ``other``'s dtype."""
        return self._cast(other.dtype.name)

    # --- shapes of other tensors, and new tensors like this one --------------------------------
    def view_as(self, other: Tensor) -> Tensor:
        """``self`` reshaped to ``other``'s shape."""
        return _ops.reshape(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """``self`` reshaped to ``other``'s shape."""
        return _ops.reshape(self, other.shape)

    def expand_as(self, other: Tensor) -> Tensor:
        """``self`` broadcast to ``other``'s shape."""
        return _ops.expand(self, other.shape)

    def _new(self, build, size, dtype, device, requires_grad):
        from lucid import creation

        return getattr(creation, build)(
            *size,
            dtype=dtype or self.dtype,
            device=device or self._device,
            requires_grad=requires_grad,
        )

    def new_zeros(
        self,
        *size: IntOrSeq,
        dtype: DTypeLike = None,
        device: str | None = None,
        requires_grad: builtins.bool = False,
    ) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype and device (unless given)."""
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_ones(
        self,
        *size: IntOrSeq,
        dtype: DTypeLike = None,
        device: str | None = None,
        requires_grad: builtins.bool = False,
    ) -> Tensor:
        """Ones of ``size`` with this tensor's dtype and device (unless given)."""
        return self._new("ones", size, dtype, device, requires_grad)

    def new_empty(
        self,
        *size: IntOrSeq,
        dtype: DTypeLike = None,
        device: str | None = None,
        requires_grad: builtins.bool = False,
    ) -> Tensor:
        """An uninitialised (zero) tensor of ``size`` with this tensor's dtype and device."""
        return self._new("zeros", size, dtype, device, requires_grad)

    def new_full(
        self,
        size: IntOrSeq,
        fill_value: TensorOrScalar,
        *,
        dtype: DTypeLike = None,
        device: str | None = None,
        requires_grad: builtins.bool = False,
    ) -> Tensor:
        """``fill_value`` everywhere in ``size``, with this tensor's dtype and device."""
        from lucid import creation

        return creation.full(
            size,
            fill_value,
            dtype=dtype or self.dtype,
            device=device or self._device,
            requires_grad=requires_grad,
        )

    def new_tensor(
        self,
        data: Any,
        *,
        dtype: DTypeLike = None,
        device: str | None = None,
        requires_grad: builtins.bool = False,
    ) -> Tensor:
        """A new tensor from ``data``, with this tensor's dtype and device (unless given)."""
        return Tensor(
            data,
            requires_grad=requires_grad,
            dtype=dtype or self.dtype,
            device=device or self._device,
        )

    def __format__(self, spec: str) -> str:
        # f"{loss:.4f}" formats a 0-d tensor's value, as PyTorch does
        if self.ndim == 0 and spec:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    @property
    def T(self) -> Tensor:
        """The tensor with its dims reversed."""
        return _ops.permute_dims(self)

    @property
    def mT(self) -> Tensor:
        """The last two dims swapped."""
        return _ops.transpose(self, -2, -1)

    # --- in-place writes -----------------------------------------------------------------------
    def _write(self, compute, name: str) -> Tensor:
        """Replace ``self``'s values with ``compute(current)`` and keep the object, as PyTorch's
        in-place ops. Under grad mode the write is recorded: the current value and its tape node
        move to a new tensor that ``compute`` reads, and ``self`` takes the result's node."""
        recording = is_grad_enabled()
        if recording and self.requires_grad and self._node is None:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad cannot be modified in "
                "place (its gradient would be wrong); do it under lucid.no_grad()"
            )
        current = self
        if recording:
            current = Tensor._wrap(self.data, self._device, self.requires_grad)
            current._node = self._node
            current._version = self._version  # it holds the values self's node produced
        out = compute(current)
        if not isinstance(out, Tensor):
            out = Tensor._wrap(B.asarray(out), self._device)
        if out.data.dtype != self.data.dtype:
            if B.is_floating(out.data.dtype) and not B.is_floating(self.data.dtype):
                raise TypeError(
                    f"{name}: the result is {out.dtype}, which cannot be written in "
                    f"place into a tensor of dtype {self.dtype}"
                )
            out = out.to(self.dtype)
        if tuple(out.data.shape) != tuple(self.data.shape):
            raise ValueError(
                f"{name}: the result has shape {tuple(out.data.shape)}, but the "
                f"tensor written in place has shape {self.shape}"
            )
        self.data = out.data
        if recording:
            self._node = out._node
            if self._node is not None:
                self._node.out_version = self._version  # the node is attached after the write
            self.requires_grad = out.requires_grad
        return self

    def add_(self, other: TensorOrScalar, *, alpha: builtins.float = 1) -> Tensor:
        """In-place ``self += alpha * other``."""
        return self._write(lambda t: _ops.add(t, other if alpha == 1 else other * alpha), "add_")

    def sub_(self, other: TensorOrScalar, *, alpha: builtins.float = 1) -> Tensor:
        """In-place ``self -= alpha * other``."""
        return self._write(lambda t: _ops.sub(t, other if alpha == 1 else other * alpha), "sub_")

    def mul_(self, other: TensorOrScalar) -> Tensor:
        """In-place ``self *= other``."""
        return self._write(lambda t: _ops.mul(t, other), "mul_")

    def div_(self, other: TensorOrScalar) -> Tensor:
        """In-place ``self /= other``."""
        return self._write(lambda t: _ops.div(t, other), "div_")

    def pow_(self, exponent: TensorOrScalar) -> Tensor:
        """In-place ``self **= exponent``."""
        return self._write(lambda t: _ops.pow(t, exponent), "pow_")

    def clamp_(
        self, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None
    ) -> Tensor:
        """In-place ``clamp``."""
        return self._write(lambda t: _ops.clip(t, min, max), "clamp_")

    clip_ = clamp_

    def abs_(self) -> Tensor:
        """In-place ``abs``."""
        return self._write(_ops.abs, "abs_")

    def neg_(self) -> Tensor:
        """In-place ``neg``."""
        return self._write(_ops.neg, "neg_")

    def exp_(self) -> Tensor:
        """In-place ``exp``."""
        return self._write(_ops.exp, "exp_")

    def log_(self) -> Tensor:
        """In-place ``log``."""
        return self._write(_ops.log, "log_")

    def sqrt_(self) -> Tensor:
        """In-place ``sqrt``."""
        return self._write(_ops.sqrt, "sqrt_")

    def relu_(self) -> Tensor:
        """In-place ``relu``."""
        return self._write(_ops.relu, "relu_")

    def sigmoid_(self) -> Tensor:
        """In-place ``sigmoid``."""
        return self._write(_ops.sigmoid, "sigmoid_")

    def tanh_(self) -> Tensor:
        """In-place ``tanh``."""
        return self._write(_ops.tanh, "tanh_")

    def where(self, condition: Tensor, other: TensorOrScalar) -> Tensor:
        """``lucid.where(condition, self, other)`` (PyTorch's ``Tensor.where``)."""
        return _ops.where(condition, self, other)

    def zero_(self) -> Tensor:
        """Fill with zeros, in place."""
        return self.fill_(0)

    def fill_(self, value: TensorOrScalar) -> Tensor:
        """Fill with ``value`` (a number or a 0-d tensor), in place."""
        return self._write(lambda t: _ops.add(_ops.mul(t, 0), value), "fill_")

    def copy_(self, src: Tensor) -> Tensor:
        """Copy ``src``'s values (broadcast to this shape, converted to this dtype) in place;
        the gradient flows to ``src``."""
        src = src if isinstance(src, Tensor) else Tensor(src)
        return self._write(lambda t: _ops.expand(src.to(self.dtype), self.shape), "copy_")

    # --- in-place random fills (PyTorch's; ``generator``: a lucid.Generator, None = default) --
    def _fill_random(
        self, draw: Callable, name: str, generator: Any, floating: builtins.bool = True
    ) -> Tensor:
        """Overwrite with ``draw(dtype_name, holder)`` (a backend array of this shape), drawn on
        this tensor's stream, in place. A tensor that requires grad gets a zero gradient
        through the write, as PyTorch's random fills give."""
        if floating and not self.is_floating_point():
            raise TypeError(f"{name} expects a floating-point tensor, got dtype {self.dtype}")
        holder = _generator_key(generator, name)
        with B.device_scope(self._device):
            noise = Tensor._wrap(
                B.cast(draw(self.dtype.name, holder), self.dtype.name), self._device
            )

        def compute(t):
            if not t.requires_grad:
                return noise
            everywhere = Tensor._wrap(
                B.full(self.shape, True, dtype=B.DTYPES["bool"]), self._device
            )
            return _ops.where(everywhere, noise, t)

        return self._write(compute, name)

    def normal_(
        self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *, generator: Any = None
    ) -> Tensor:
        """Fill with samples of N(mean, std^2), in place."""
        if std < 0:
            raise ValueError(f"normal_ expects std >= 0.0, but found std {std}")
        return self._fill_random(
            lambda name, key: B.random_normal(self.shape, name, mean, std, holder=key),
            "normal_",
            generator,
        )

    def uniform_(
        self,
        low: builtins.float = 0.0,
        high: builtins.float = 1.0,
        *,
        generator: Any = None,
        **bounds: builtins.float,
    ) -> Tensor:
        """Fill with samples uniform in [low, high) in place (PyTorch's ``from=``/``to=`` are
        accepted as keywords)."""
        low, high = bounds.pop("from", low), bounds.pop("to", high)
        if bounds:
            raise TypeError(f"uniform_() got unexpected keyword arguments {sorted(bounds)}")
        if low > high:
            raise ValueError(
                f"uniform_ expects to return a [from, to) range, but found from={low} > to={high}"
            )
        return self._fill_random(
            lambda name, key: B.random_uniform(self.shape, name, low, high, holder=key),
            "uniform_",
            generator,
        )

    def bernoulli_(self, p: builtins.float | Tensor = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with 0/1 samples that are 1 with probability ``p`` (a number in [0, 1] or a
        tensor of probabilities broadcast to this shape), in place; any dtype."""
        prob: Any = p
        if isinstance(p, Tensor):
            prob = B.broadcast_to(p.data, tuple(self.shape))
        elif not 0 <= p <= 1:
            raise ValueError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        return self._fill_random(
            lambda name, key: B.random_bernoulli(prob, self.shape, holder=key),
            "bernoulli_",
            generator,
            floating=False,
        )

    def bernoulli(self, p: builtins.float | None = None, *, generator: Any = None) -> Tensor:
        """``lucid.bernoulli(self, p, generator=generator)``: 0/1 samples, 1 with the
        probability in ``self`` (or ``p``)."""
        from lucid.random import bernoulli

        return bernoulli(self, p, generator=generator)

    def multinomial(
        self,
        num_samples: builtins.int,
        replacement: builtins.bool = False,
        *,
        generator: Any = None,
    ) -> Tensor:
        """``lucid.multinomial(self, num_samples, replacement, generator=generator)``."""
        from lucid.random import multinomial

        return multinomial(self, num_samples, replacement, generator=generator)

    def random_(self, *args: builtins.int, generator: Any = None, **bounds: builtins.int) -> Tensor:
        """Fill with integers uniform in [from, to), in place: ``random_(to)``,
        ``random_(from, to)`` or ``random_()``; ``to`` defaults to one past the largest
        integer the dtype holds (2**mantissa + 1 for floating dtypes, 2 for bool), as PyTorch."""
        if len(args) > 2:
            raise TypeError(f"random_() takes at most 2 positional arguments, got {len(args)}")
        low, high = 0, None
        if len(args) == 1:
            high = args[0]
        elif len(args) == 2:
            low, high = args
        low, high = bounds.pop("from", low), bounds.pop("to", high)
        if bounds:
            raise TypeError(f"random_() got unexpected keyword arguments {sorted(bounds)}")
        lo_limit, hi_limit = _integer_range(self.dtype.name)
        if high is None:
            high = hi_limit + 1
        if not low < high:
            raise ValueError(
                f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
            )
        if low < lo_limit or high - 1 > hi_limit:
            raise ValueError(
                f"random_: [{low}, {high}) does not fit dtype {self.dtype} "
                f"(integers from {lo_limit} to {hi_limit})"
            )
        return self._fill_random(
            lambda name, key: B.random_randint(low, high, self.shape, name, holder=key),
            "random_",
            generator,
            floating=False,
        )

    def exponential_(self, lambd: builtins.float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of the exponential distribution of rate ``lambd``, in place."""
        if not lambd > 0:
            raise ValueError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
        return self._fill_random(
            lambda name, key: B.random_exponential(self.shape, name, lambd, holder=key),
            "exponential_",
            generator,
        )

    def geometric_(self, p: builtins.float, *, generator: Any = None) -> Tensor:
        """Fill with samples of the geometric distribution: the number of Bernoulli(p) trials
        up to and including the first success (1, 2, ...), in place; any dtype."""
        if not 0 < p < 1:
            raise ValueError(f"geometric_ expects p to be in (0, 1), but got p={p}")
        return self._fill_random(
            lambda name, key: B.random_geometric(self.shape, name, p, holder=key),
            "geometric_",
            generator,
            floating=False,
        )

    def log_normal_(
        self, mean: builtins.float = 1.0, std: builtins.float = 2.0, *, generator: Any = None
    ) -> Tensor:
        """Fill with exp(N(mean, std^2)) samples, in place."""
        if not std > 0:
            raise ValueError(f"log_normal_ expects std > 0.0, but found std={std}")
        return self._fill_random(
            lambda name, key: B.exp(B.random_normal(self.shape, name, mean, std, holder=key)),
            "log_normal_",
            generator,
        )

    def cauchy_(
        self, median: builtins.float = 0.0, sigma: builtins.float = 1.0, *, generator: Any = None
    ) -> Tensor:
        """Fill with samples of the Cauchy distribution (median, scale ``sigma``), in place."""
        if not sigma > 0:
            raise ValueError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
        return self._fill_random(
            lambda name, key: B.random_cauchy(self.shape, name, median, sigma, holder=key),
            "cauchy_",
            generator,
        )

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __ipow__(self, other):
        return self.pow_(other)

    def __ifloordiv__(self, other):
        return self._write(lambda t: _ops.floordiv(t, other), "floordiv_")

    def __iand__(self, other):
        return self._write(lambda t: _ops.bitwise_and(t, other), "bitwise_and_")

    def __ior__(self, other):
        return self._write(lambda t: _ops.bitwise_or(t, other), "bitwise_or_")

    def __ixor__(self, other):
        return self._write(lambda t: _ops.bitwise_xor(t, other), "bitwise_xor_")

    # --- operators -----------------------------------------------------------------------------
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floordiv(self, other)

    def __rfloordiv__(self, other):
        return _ops.floordiv(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _ops.neg(self)

    def __abs__(self):
        return _ops.abs(self)

    def __eq__(self, other):
        return _ops.eq(self, other)

    def __ne__(self, other):
        return _ops.ne(self, other)

    def __lt__(self, other):
        return _ops.lt(self, other)

    def __le__(self, other):
        return _ops.le(self, other)

    def __gt__(self, other):
        return _ops.gt(self, other)

    def __ge__(self, other):
        return _ops.ge(self, other)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    def __rand__(self, other):
        return _ops.bitwise_and(other, self)

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    def __ror__(self, other):
        return _ops.bitwise_or(other, self)

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return _ops.bitwise_xor(other, self)

    def __invert__(self):
        return _ops.bitwise_not(self)

    # --- op methods: one per lucid._methods.OPS entry with surface "T" ------------------------
    # --- BEGIN generated by `python -m lucid._gen_methods` from lucid/_methods.py: do not edit ---
    def abs(self) -> Tensor:
        """``lucid.ops.abs`` as a method."""
        return _ops.abs(self)

    def neg(self) -> Tensor:
        """``lucid.ops.neg`` as a method."""
        return _ops.neg(self)

    def exp(self) -> Tensor:
        """``lucid.ops.exp`` as a method."""
        return _ops.exp(self)

    def log(self) -> Tensor:
        """``lucid.ops.log`` as a method."""
        return _ops.log(self)

    def log1p(self) -> Tensor:
        """``lucid.ops.log1p`` as a method."""
        return _ops.log1p(self)

    def sqrt(self) -> Tensor:
        """``lucid.ops.sqrt`` as a method."""
        return _ops.sqrt(self)

    def sin(self) -> Tensor:
        """``lucid.ops.sin`` as a method."""
        return _ops.sin(self)

    def cos(self) -> Tensor:
        """``lucid.ops.cos`` as a method."""
        return _ops.cos(self)

    def tanh(self) -> Tensor:
        """``lucid.ops.tanh`` as a method."""
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """``lucid.ops.sigmoid`` as a method."""
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        """``lucid.ops.relu`` as a method."""
        return _ops.relu(self)

    def square(self) -> Tensor:
        """``lucid.ops.square`` as a method."""
        return _ops.square(self)

    def erf(self) -> Tensor:
        """``lucid.ops.erf`` as a method."""
        return _ops.erf(self)

    def sign(self) -> Tensor:
        """``lucid.ops.sign`` as a method."""
        return _ops.sign(self)

    def clamp(self, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None) -> Tensor:
        """``lucid.ops.clamp`` as a method."""
        return _ops.clamp(self, min, max)

    def clip(self, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None) -> Tensor:
        """``lucid.ops.clip`` as a method."""
        return _ops.clip(self, min, max)

    def lerp(self, end: Tensor, weight: Tensor) -> Tensor:
        """``lucid.ops.lerp`` as a method."""
        return _ops.lerp(self, end, weight)

    def maximum(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.maximum`` as a method."""
        return _ops.maximum(self, b)

    def minimum(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.minimum`` as a method."""
        return _ops.minimum(self, b)

    def add(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.add`` as a method."""
        return _ops.add(self, b)

    def sub(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.sub`` as a method."""
        return _ops.sub(self, b)

    def mul(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.mul`` as a method."""
        return _ops.mul(self, b)

    def div(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.div`` as a method."""
        return _ops.div(self, b)

    def pow(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.pow`` as a method."""
        return _ops.pow(self, b)

    def floor_divide(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.floor_divide`` as a method."""
        return _ops.floor_divide(self, b)

    def eq(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.eq`` as a method."""
        return _ops.eq(self, b)

    def ne(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.ne`` as a method."""
        return _ops.ne(self, b)

    def lt(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.lt`` as a method."""
        return _ops.lt(self, b)

    def le(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.le`` as a method."""
        return _ops.le(self, b)

    def gt(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.gt`` as a method."""
        return _ops.gt(self, b)

    def ge(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.ge`` as a method."""
        return _ops.ge(self, b)

    def isnan(self) -> Tensor:
        """``lucid.ops.isnan`` as a method."""
        return _ops.isnan(self)

    def isinf(self) -> Tensor:
        """``lucid.ops.isinf`` as a method."""
        return _ops.isinf(self)

    def isfinite(self) -> Tensor:
        """``lucid.ops.isfinite`` as a method."""
        return _ops.isfinite(self)

    def round(self, *, decimals: builtins.int = 0) -> Tensor:
        """``lucid.ops.round`` as a method."""
        return _ops.round(self, decimals=decimals)

    def floor(self) -> Tensor:
        """``lucid.ops.floor`` as a method."""
        return _ops.floor(self)

    def ceil(self) -> Tensor:
        """``lucid.ops.ceil`` as a method."""
        return _ops.ceil(self)

    def trunc(self) -> Tensor:
        """``lucid.ops.trunc`` as a method."""
        return _ops.trunc(self)

    def logical_not(self) -> Tensor:
        """``lucid.ops.logical_not`` as a method."""
        return _ops.logical_not(self)

    def logical_and(self, other: TensorOrScalar) -> Tensor:
        """``lucid.ops.logical_and`` as a method."""
        return _ops.logical_and(self, other)

    def logical_or(self, other: TensorOrScalar) -> Tensor:
        """``lucid.ops.logical_or`` as a method."""
        return _ops.logical_or(self, other)

    def logical_xor(self, other: TensorOrScalar) -> Tensor:
        """``lucid.ops.logical_xor`` as a method."""
        return _ops.logical_xor(self, other)

    def bitwise_and(self, other: TensorOrScalar) -> Tensor:
        """``lucid.ops.bitwise_and`` as a method."""
        return _ops.bitwise_and(self, other)

    def bitwise_or(self, other: TensorOrScalar) -> Tensor:
        """``lucid.ops.bitwise_or`` as a method."""
        return _ops.bitwise_or(self, other)

    def bitwise_xor(self, other: TensorOrScalar) -> Tensor:
        """``lucid.ops.bitwise_xor`` as a method."""
        return _ops.bitwise_xor(self, other)

    def bitwise_not(self) -> Tensor:
        """``lucid.ops.bitwise_not`` as a method."""
        return _ops.bitwise_not(self)

    @dim_aliases
    def sum(
        self, dim: Dims = None, keepdim: builtins.bool = False, *, dtype: DTypeLike = None
    ) -> Tensor:
        """``lucid.ops.sum`` as a method."""
        return _ops.sum(self, dim, keepdim, dtype=dtype)

    @dim_aliases
    def mean(
        self, dim: Dims = None, keepdim: builtins.bool = False, *, dtype: DTypeLike = None
    ) -> Tensor:
        """``lucid.ops.mean`` as a method."""
        return _ops.mean(self, dim, keepdim, dtype=dtype)

    @dim_aliases
    def max(
        self,
        dim: Dims = None,
        keepdim: builtins.bool = False,
        *,
        other: TensorOrScalar | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``lucid.ops.max`` as a method."""
        return _ops.max(self, dim, keepdim, other=other)

    @dim_aliases
    def min(
        self,
        dim: Dims = None,
        keepdim: builtins.bool = False,
        *,
        other: TensorOrScalar | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``lucid.ops.min`` as a method."""
        return _ops.min(self, dim, keepdim, other=other)

    @dim_aliases
    def amax(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.amax`` as a method."""
        return _ops.amax(self, dim, keepdim)

    @dim_aliases
    def amin(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.amin`` as a method."""
        return _ops.amin(self, dim, keepdim)

    @dim_aliases
    def var(
        self,
        dim: Dims = None,
        unbiased: builtins.bool | None = None,
        keepdim: builtins.bool = False,
        *,
        correction: builtins.float | None = None,
    ) -> Tensor:
        """``lucid.ops.var`` as a method."""
        return _ops.var(self, dim, unbiased, keepdim, correction=correction)

    @dim_aliases
    def std(
        self,
        dim: Dims = None,
        unbiased: builtins.bool | None = None,
        keepdim: builtins.bool = False,
        *,
        correction: builtins.float | None = None,
    ) -> Tensor:
        """``lucid.ops.std`` as a method."""
        return _ops.std(self, dim, unbiased, keepdim, correction=correction)

    @dim_aliases
    def prod(
        self, dim: Dims = None, keepdim: builtins.bool = False, *, dtype: DTypeLike = None
    ) -> Tensor:
        """``lucid.ops.prod`` as a method."""
        return _ops.prod(self, dim, keepdim, dtype=dtype)

    @dim_aliases
    def argmax(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.argmax`` as a method."""
        return _ops.argmax(self, dim, keepdim)

    @dim_aliases
    def argmin(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.argmin`` as a method."""
        return _ops.argmin(self, dim, keepdim)

    @dim_aliases
    def logsumexp(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.logsumexp`` as a method."""
        return _ops.logsumexp(self, dim, keepdim)

    @dim_aliases
    def all(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.all`` as a method."""
        return _ops.all(self, dim, keepdim)

    @dim_aliases
    def any(self, dim: Dims = None, keepdim: builtins.bool = False) -> Tensor:
        """``lucid.ops.any`` as a method."""
        return _ops.any(self, dim, keepdim)

    def reshape(self, *shape: IntOrSeq) -> Tensor:
        """``lucid.ops.reshape`` as a method."""
        return _ops.reshape(self, *shape)

    def view(self, *shape: IntOrSeq) -> Tensor:
        """``lucid.ops.view`` as a method."""
        return _ops.view(self, *shape)

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        """``lucid.ops.flatten`` as a method."""
        return _ops.flatten(self, start_dim, end_dim)

    @dim_aliases
    def squeeze(self, dim: Dims = None) -> Tensor:
        """``lucid.ops.squeeze`` as a method."""
        return _ops.squeeze(self, dim)

    @dim_aliases
    def unsqueeze(self, dim: builtins.int) -> Tensor:
        """``lucid.ops.unsqueeze`` as a method."""
        return _ops.unsqueeze(self, dim)

    def permute(self, *dims: IntOrSeq) -> Tensor:
        """``lucid.ops.permute`` as a method."""
        return _ops.permute(self, *dims)

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        """``lucid.ops.transpose`` as a method."""
        return _ops.transpose(self, dim0, dim1)

    def swapaxes(self, axis0: builtins.int, axis1: builtins.int) -> Tensor:
        """``lucid.ops.swapaxes`` as a method."""
        return _ops.swapaxes(self, axis0, axis1)

    def swapdims(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        """``lucid.ops.swapdims`` as a method."""
        return _ops.swapdims(self, dim0, dim1)

    def t(self) -> Tensor:
        """``lucid.ops.t`` as a method."""
        return _ops.t(self)

    def broadcast_to(self, *shape: IntOrSeq) -> Tensor:
        """``lucid.ops.broadcast_to`` as a method."""
        return _ops.broadcast_to(self, *shape)

    def expand(self, *sizes: IntOrSeq) -> Tensor:
        """``lucid.ops.expand`` as a method."""
        return _ops.expand(self, *sizes)

    def split(self, split_size_or_sections: IntOrSeq, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """``lucid.ops.split`` as a method."""
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """``lucid.ops.chunk`` as a method."""
        return _ops.chunk(self, chunks, dim)

    def repeat(self, *sizes: IntOrSeq) -> Tensor:
        """``lucid.ops.repeat`` as a method."""
        return _ops.repeat(self, *sizes)

    def repeat_interleave(self, repeats: builtins.int, dim: Dims = None) -> Tensor:
        """``lucid.ops.repeat_interleave`` as a method."""
        return _ops.repeat_interleave(self, repeats, dim)

    def tile(self, dims: IntOrSeq) -> Tensor:
        """``lucid.ops.tile`` as a method."""
        return _ops.tile(self, dims)

    def astype(self, dtype: DTypeLike) -> Tensor:
        """``lucid.ops.astype`` as a method."""
        return _ops.astype(self, dtype)

    def flip(self, dims: IntOrSeq, *more_dims: builtins.int) -> Tensor:
        """``lucid.ops.flip`` as a method."""
        return _ops.flip(self, dims, *more_dims)

    def roll(self, shifts: IntOrSeq, dims: Dims = None) -> Tensor:
        """``lucid.ops.roll`` as a method."""
        return _ops.roll(self, shifts, dims)

    def diag(self, diagonal: builtins.int = 0) -> Tensor:
        """``lucid.ops.diag`` as a method."""
        return _ops.diag(self, diagonal)

    def gather(self, dim: builtins.int, index: Tensor) -> Tensor:
        """``lucid.ops.gather`` as a method."""
        return _ops.gather(self, dim, index)

    def index_select(self, dim: builtins.int, index: Tensor) -> Tensor:
        """``lucid.ops.index_select`` as a method."""
        return _ops.index_select(self, dim, index)

    def masked_fill(self, mask: Tensor, value: TensorOrScalar) -> Tensor:
        """``lucid.ops.masked_fill`` as a method."""
        return _ops.masked_fill(self, mask, value)

    def masked_fill_(self, mask: Tensor, value: TensorOrScalar) -> Tensor:
        """``lucid.ops.masked_fill_`` as a method."""
        return _ops.masked_fill_(self, mask, value)

    def scatter(
        self,
        dim: builtins.int,
        index: Tensor,
        src: Tensor | None = None,
        value: TensorOrScalar | None = None,
        *,
        reduce: str | None = None,
    ) -> Tensor:
        """``lucid.ops.scatter`` as a method."""
        return _ops.scatter(self, dim, index, src, value, reduce=reduce)

    def scatter_(
        self,
        dim: builtins.int,
        index: Tensor,
        src: Tensor | None = None,
        value: TensorOrScalar | None = None,
        *,
        reduce: str | None = None,
    ) -> Tensor:
        """``lucid.ops.scatter_`` as a method."""
        return _ops.scatter_(self, dim, index, src, value, reduce=reduce)

    def scatter_add(self, dim: builtins.int, index: Tensor, src: Tensor) -> Tensor:
        """``lucid.ops.scatter_add`` as a method."""
        return _ops.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim: builtins.int, index: Tensor, src: Tensor) -> Tensor:
        """``lucid.ops.scatter_add_`` as a method."""
        return _ops.scatter_add_(self, dim, index, src)

    def nonzero(self, *, as_tuple: builtins.bool = False) -> Tensor | tuple[Tensor, ...]:
        """``lucid.ops.nonzero`` as a method."""
        return _ops.nonzero(self, as_tuple=as_tuple)

    def sort(
        self,
        dim: builtins.int = -1,
        descending: builtins.bool = False,
        stable: builtins.bool = False,
    ) -> tuple[Tensor, Tensor]:
        """``lucid.ops.sort`` as a method."""
        return _ops.sort(self, dim, descending, stable)

    def argsort(
        self,
        dim: builtins.int = -1,
        descending: builtins.bool = False,
        stable: builtins.bool = False,
    ) -> Tensor:
        """``lucid.ops.argsort`` as a method."""
        return _ops.argsort(self, dim, descending, stable)

    def topk(
        self,
        k: builtins.int,
        dim: builtins.int = -1,
        largest: builtins.bool = True,
        sorted: builtins.bool = True,
    ) -> tuple[Tensor, Tensor]:
        """``lucid.ops.topk`` as a method."""
        return _ops.topk(self, k, dim, largest, sorted)

    def cumsum(self, dim: builtins.int, *, dtype: DTypeLike = None) -> Tensor:
        """``lucid.ops.cumsum`` as a method."""
        return _ops.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: builtins.int, *, dtype: DTypeLike = None) -> Tensor:
        """``lucid.ops.cumprod`` as a method."""
        return _ops.cumprod(self, dim, dtype=dtype)

    def bincount(self, weights: Tensor | None = None, minlength: builtins.int = 0) -> Tensor:
        """``lucid.ops.bincount`` as a method."""
        return _ops.bincount(self, weights, minlength)

    def isclose(
        self,
        other: Tensor,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> Tensor:
        """``lucid.ops.isclose`` as a method."""
        return _ops.isclose(self, other, rtol, atol, equal_nan)

    def allclose(
        self,
        other: Tensor,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> builtins.bool:
        """``lucid.ops.allclose`` as a method."""
        return _ops.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Tensor) -> builtins.bool:
        """``lucid.ops.equal`` as a method."""
        return _ops.equal(self, other)

    def matmul(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.matmul`` as a method."""
        return _ops.matmul(self, b)

    def dot(self, b: TensorOrScalar) -> Tensor:
        """``lucid.ops.dot`` as a method."""
        return _ops.dot(self, b)

    def norm(
        self,
        p: builtins.float | str | None = "fro",
        dim: Dims = None,
        keepdim: builtins.bool = False,
        dtype: DTypeLike = None,
    ) -> Tensor:
        """``lucid.ops.norm`` as a method."""
        return _ops.norm(self, p, dim, keepdim, dtype)

    @dim_aliases
    def softmax(self, dim: builtins.int = -1) -> Tensor:
        """``lucid.ops.softmax`` as a method."""
        return _ops.softmax(self, dim)

    @dim_aliases
    def log_softmax(self, dim: builtins.int = -1) -> Tensor:
        """``lucid.ops.log_softmax`` as a method."""
        return _ops.log_softmax(self, dim)

    # --- END generated ---


def _format_values(t: Tensor, prefix: str) -> str:
    arr = t.numpy()
    fmt: Any = None  # numpy's formatter dict (a TypedDict in its stubs)
    if arr.dtype.kind == "f":
        mags = np.abs(arr[np.isfinite(arr) & (arr != 0)]).astype(np.float64)
        # positional notation would print 1e-8 as 0.0: switch to scientific for such ranges
        if mags.size and (mags.min() < 1e-4 or mags.max() >= 1e8):
            fmt = {
                "float_kind": lambda v: np.format_float_scientific(
                    v, precision=6, unique=True, trim="0"
                )
            }
        else:
            fmt = {
                "float_kind": lambda v: np.format_float_positional(
                    v, precision=6, unique=True, trim="0"
                )
            }
    return np.array2string(
        arr,
        separator=", ",
        formatter=fmt,
        threshold=1000,
        edgeitems=3,
        prefix=prefix,
        max_line_width=100,
    )


_hook_ids = itertools.count()


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        """Unregister the hook."""
        self._hooks.pop(self._key, None)


graph._Tensor, graph._init_fields = Tensor, Tensor._init_fields
