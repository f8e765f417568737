"""``lucid.autograd.Function``: an op whose forward and backward the user writes, recorded on
Lucid's tape like a built-in op (PyTorch's ``torch.autograd.Function`` contract).

    class Exp(lucid.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)

``forward`` runs with recording off, on the arguments as given; ``backward`` gets one gradient
Tensor per output and returns one gradient (a Tensor or None) per positional argument of
``forward``. Saved tensors are checked for in-place changes, as every built-in op's are.

A function with several differentiable outputs is recorded as one tape op per output: its
``backward`` is called once for each output that receives a gradient, with zeros (or None,
after ``ctx.set_materialize_grads(False)``) for the other outputs, and the engine adds the
results -- the same gradients, since ``backward`` is linear in its gradients.
With ``create_graph=True`` the user's ``backward`` runs with recording on, so its result can be
differentiated again (unless it is marked :func:`once_differentiable`).
"""

from __future__ import annotations

import functools
from typing import Any

from lucid import _backend as B
from lucid.autograd import graph
from lucid.autograd.grad_mode import is_grad_enabled, no_grad

__all__ = ["Function", "FunctionCtx", "grad", "once_differentiable"]


def _tensor_type():
    from lucid.tensor import Tensor

    return Tensor


class FunctionCtx:
    """The ``ctx`` of a :class:`Function`: what ``forward`` leaves for ``backward``."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved: tuple = ()
        self._saved_versions: tuple = ()
        self._non_differentiable: set[int] = set()
        self._dirty: set[int] = set()

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep ``tensors`` (Tensors or None) for ``backward``; an in-place change to one of them
        before backward raises there."""
        Tensor = _tensor_type()
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward takes Tensors or None, got {type(t).__name__}: keep "
                    f"other values as ctx attributes"
                )
        self._saved = tensors
        self._saved_versions = tuple(None if t is None else t._version for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to :meth:`save_for_backward`, unchanged since."""
        for i, (t, v) in enumerate(zip(self._saved, self._saved_versions)):
            if t is not None and t._version != v:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: saved tensor {i} (shape {tuple(t.shape)}, dtype "
                    f"{t.dtype}) is at version {t._version}; expected version {v}"
                )
        return self._saved

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """These outputs get no gradient (``requires_grad=False``); backward sees zeros for
        them."""
        self._non_differentiable |= {id(t) for t in outputs}

    def mark_dirty(self, *tensors: Any) -> None:
        """These inputs were modified in place by ``forward`` (and are returned as outputs)."""
        self._dirty |= {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """With False, gradients of outputs that got none arrive in ``backward`` as None
        instead of zeros."""
        self.materialize_grads = bool(value)


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        for method in ("forward", "backward"):
            if method in ns and not isinstance(ns[method], staticmethod):
                raise TypeError(
                    f"{name}.{method} must be a @staticmethod taking ctx first, as in PyTorch"
                )


class Function(metaclass=_FunctionMeta):
    """Base class of custom differentiable ops: define ``forward(ctx, *args)`` and
    ``backward(ctx, *grads)`` as static methods and call ``YourFunction.apply(*args)``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        """The computation (recording is off inside)."""
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        """One gradient per positional argument of forward (None for a non-Tensor or one that
        needs none)."""
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and record it on the tape (when grad mode is on and an argument
        requires grad)."""
        Tensor = _tensor_type()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        record = is_grad_enabled() and any(needs)
        before = {id(a): (a, a._data, a._node, a._version) for a in args if isinstance(a, Tensor)}
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(out, tuple)
        outputs = (out,) if single else out
        for i, o in enumerate(outputs):
            if o is not None and not isinstance(o, Tensor):
                raise TypeError(
                    f"{cls.__name__}.forward must return Tensors (or a tuple of them), got "
                    f"{type(o).__name__} at output {i}"
                )
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and id(a) in ctx._dirty and a.is_leaf and a.requires_grad:
                raise RuntimeError(
                    f"{cls.__name__}: argument {i} is a leaf that requires grad and was modified "
                    f"in place (mark_dirty); modify a clone() instead"
                )
        if not record:
            return out
        # a dirty input's history so far is the parent; the input itself becomes the output
        parents = []
        for a in args:
            if isinstance(a, Tensor) and id(a) in ctx._dirty:
                _, data, node, version = before[id(a)]
                prev = Tensor._wrap(data, a._device, requires_grad=a.requires_grad)
                prev._node, prev._version = node, version
                parents.append(prev)
            else:
                parents.append(a)
        parents_t = tuple(parents)
        shapes = [o.data.shape if o is not None else None for o in outputs]
        dtypes = [o.data.dtype if o is not None else None for o in outputs]
        recorded = []
        for i, o in enumerate(outputs):
            if o is None or id(o) in ctx._non_differentiable or not B.is_floating(o.data.dtype):
                if o is not None and id(o) not in ctx._dirty:
                    o.requires_grad = False
                recorded.append(o)
                continue
            backward, rule = _backward_for(
                cls, ctx, i, len(outputs), shapes, dtypes, args, o._device
            )
            # saves=(): what backward reads is checked by ctx.saved_tensors
            node_out = graph.record(o.data, parents_t, backward, cls.__name__, (), False, rule)
            if id(o) in before and id(o) not in ctx._dirty:  # an input returned as it is
                node_out._device = o._device
                recorded.append(node_out)
            else:  # made by forward (or a modified input): it takes the node itself, so a
                # saved output changed in place later is caught
                o._node, o.requires_grad = node_out._node, node_out.requires_grad
                recorded.append(o)
        return recorded[0] if single else tuple(recorded)


def _backward_for(cls, ctx, index, n_out, shapes, dtypes, args, device):
    """The tape's backward of output ``index`` -- the user's backward with this output's
    gradient, the others zeros or None -- as an array closure and as a ``rule`` on Tensors (for
    ``create_graph``: the user's backward then runs with recording on)."""
    Tensor = _tensor_type()

    def user_grads(g):
        grads = []
        for j in range(n_out):
            if j == index:
                grads.append(g)
            elif ctx.materialize_grads and shapes[j] is not None:
                grads.append(Tensor._wrap(B.zeros(shapes[j], dtype=dtypes[j]), device))
            else:
                grads.append(None)
        result = cls.backward(ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(args):
            raise RuntimeError(
                f"{cls.__name__}.backward returned {len(result)} gradient(s); expected "
                f"{len(args)} (one per argument of forward, None where there is none)"
            )
        out = []
        for i, (a, r) in enumerate(zip(args, result)):
            if r is None or not isinstance(a, Tensor) or not a.requires_grad:
                out.append(None)
                continue
            if not isinstance(r, Tensor):
                raise TypeError(
                    f"{cls.__name__}.backward returned {type(r).__name__} as gradient {i}; "
                    f"expected a Tensor or None"
                )
            if not _sums_to(r.data.shape, a.data.shape):
                raise ValueError(
                    f"{cls.__name__}.backward returned a gradient of shape {tuple(r.shape)} for "
                    f"argument {i} of shape {tuple(a.shape)}"
                )
            out.append(r)
        return out

    def backward(g):
        with no_grad():
            grads = user_grads(Tensor._wrap(g, device))
        return tuple(None if r is None else r.data for r in grads)

    def rule(g, _out, *_parents):
        return tuple(user_grads(g))

    return backward, rule


def _sums_to(grad_shape, shape) -> bool:
    """True when a gradient of ``grad_shape`` is ``shape`` or broadcasts from it."""
    grad_shape, shape = tuple(grad_shape), tuple(shape)
    if len(grad_shape) < len(shape):
        return False
    tail = grad_shape[len(grad_shape) - len(shape) :]
    return all(s == 1 or s == g for s, g in zip(shape, tail))


def once_differentiable(fn):
    """Mark a ``backward`` as not differentiable itself (PyTorch's decorator): it runs with
    recording off, and differentiating its results (``create_graph=True``, then a second
    backward through them) raises instead of returning a wrong (zero) gradient."""

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        with no_grad():
            result = fn(ctx, *grads)
        Tensor = _tensor_type()
        live = any(isinstance(g, Tensor) and g.requires_grad for g in grads)
        # recording on means create_graph; the results depend on the gradients and, through
        # what forward saved, on the inputs: either way a second derivative would be missed
        if not (is_grad_enabled() and (live or any(ctx.needs_input_grad))):
            return result
        single = not isinstance(result, tuple)
        marked = tuple(
            _refusing(r) if isinstance(r, Tensor) else r for r in ((result,) if single else result)
        )
        return marked[0] if single else marked

    return wrapper


def _refusing(t):
    """``t``'s values as a tensor that raises when differentiated (PyTorch's DelayedError)."""
    out = _tensor_type()._wrap(t.data, t._device, requires_grad=True)
    out._node = graph.Node(_refuse_twice, (), "OnceDifferentiable", rule=_refuse_rule)
    return out


def _refuse_rule(g, *_):
    _refuse_twice(g)


def _refuse_twice(_g):
    raise RuntimeError(
        "trying to differentiate twice a function that was marked with @once_differentiable"
    )


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs`` (PyTorch's
    ``torch.autograd.grad``), returned as a tuple; no ``.grad`` is changed. ``grad_outputs``
    seeds each output (required for non-scalar outputs, as in PyTorch). With
    ``create_graph=True`` the gradients are themselves recorded, so they can be differentiated
    again (gradient penalties, Hessian-vector products); ``retain_graph`` defaults to
    ``create_graph``."""
    Tensor = _tensor_type()
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs; expected one each"
        )
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} is not a Tensor that requires grad")
    keep = create_graph if retain_graph is None else bool(retain_graph)
    capture: dict = {id(t): None for t in inputs}
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad")
        if g is None and out.data.size != 1:
            raise RuntimeError(
                f"grad: output {i} has shape {tuple(out.shape)}: grad can be implicitly "
                f"created only for scalar outputs; pass grad_outputs"
            )
        if g is not None and tuple(g.shape) != tuple(out.shape):
            raise ValueError(
                f"grad: grad_outputs[{i}] has shape {tuple(g.shape)}; expected {tuple(out.shape)}"
            )
        _replay(out, g, keep or i < len(outputs) - 1, create_graph, capture)
    result = []
    for i, t in enumerate(inputs):
        g = capture[id(t)]
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} was not used to compute the outputs (pass allow_unused=True "
                f"to get None for it)"
            )
        if g is not None and not isinstance(g, Tensor):
            g = Tensor._wrap(g, t._device)
        result.append(g)
    return tuple(result)


def _replay(out, gradient, retain_graph, create_graph, capture) -> None:
    """One backward from ``out`` (seeded with ``gradient``), its gradients collected in
    ``capture``."""
    with B.device_scope(out._device):
        seed = out._seed(gradient, create_graph)
        graph.backward(out, seed, retain_graph, capture, create_graph)


def _backward_into(root, gradient, retain_graph, create_graph, inputs) -> None:
    """``root.backward(..., inputs=inputs)``: accumulate into those tensors' ``.grad`` only."""
    Tensor = _tensor_type()
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if not inputs:
        raise RuntimeError("backward: 'inputs' was given but is empty")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"backward: inputs[{i}] is not a Tensor that requires grad")
    capture: dict = {id(t): None for t in inputs}
    keep = create_graph if retain_graph is None else bool(retain_graph)
    _replay(root, gradient, keep, create_graph, capture)
    for t in inputs:
        g = capture[id(t)]
        if g is None:
            continue
        if isinstance(g, Tensor):
            t._grad = g if t._grad is None else t._grad + g
        else:
            graph._accumulate(t, g)
