"""The tape: how operations are recorded and how ``backward()`` replays them.

Each differentiable op calls :func:`record` with its output array, its inputs and a closure
that maps the output's gradient to one gradient per input. The closure (a ``Node``) hangs off
the output tensor, so the tape is owned by whatever still references the result: a forward
pass nobody keeps is freed with it, and ``backward()`` frees the nodes it replays unless
``retain_graph=True``.

First-order backward runs the closures on backend arrays (the fast path). With
``create_graph=True`` gradients are Tensors and each node's gradient is
itself recorded, so it can be differentiated again. A node says how, in one of two ways:

- ``rule(g, out, *parents)``: its backward written with Lucid ops on Tensors (``g`` the output's
  gradient, ``out`` the output); used by ops whose gradient depends on their inputs (mul, exp,
  conv...).
- ``adjoint(i, v)``: for ops whose backward is linear in ``g`` and reads no differentiable
  value (reshape, sum, indexing, and masks such as relu's: their derivative in the inputs is
  zero almost everywhere). The array backward is then reused as a recorded op of ``g``, and
  ``adjoint`` -- the op's forward in input ``i`` applied to a tangent ``v`` of that input's
  shape -- is that recorded op's own backward. ``DIAGONAL`` says the backward is its own
  adjoint (an elementwise mask). Such gradients can be differentiated to any order.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from lucid import _backend as B
from lucid.autograd.grad_mode import _state, enable_grad

_Tensor: Any = None  # set by lucid.tensor once the class exists (it is built on this module)
_init_fields: Any = None  # Tensor._init_fields, set with _Tensor
_new = object.__new__  # Tensor defines no __new__; held here, as record runs for every op
_profile_hook: Any = None  # set by lucid.profiler: hook(node, g, t, create_graph) -> parent grads


class Node:
    """One recorded op: the backward closure and the inputs it differentiates into.

    For in-place checks it also keeps ``saves`` (positions of the parents whose values the
    closure reads; None: all), ``versions`` (each parent's ``_version`` when recorded; None when
    all were 0, the common case), ``reads_output`` and ``out_version`` (the output's
    ``_version`` when the node was attached to it: an in-place op's node is attached after the
    write)."""

    __slots__ = (
        "backward",
        "parents",
        "name",
        "saves",
        "versions",
        "reads_output",
        "out_version",
        "rule",
        "adjoint",
    )

    def __init__(
        self,
        backward,
        parents,
        name: str,
        saves=None,
        versions=None,
        reads_output=True,
        rule=None,
        adjoint=None,
    ):
        self.backward = backward
        self.parents = parents
        self.name = name
        self.saves = saves
        self.versions = versions
        self.reads_output = reads_output
        self.out_version = 0
        self.rule = rule  # the backward on Tensors, for create_graph (see the module docstring)
        self.adjoint = adjoint  # or: the backward is linear in g and this is its adjoint

    def __repr__(self) -> str:
        return f"<{self.name}Backward>"


DIAGONAL = "diagonal"  # ``adjoint=DIAGONAL``: the backward is an elementwise mask, self-adjoint


def record(
    data,
    parents,
    backward,
    name: str = "Op",
    saves=None,
    saves_output=True,
    rule=None,
    adjoint=None,
):
    """A new Tensor holding ``data``, recorded on the tape when grad mode is on and any of
    ``parents`` (Tensors, or plain numbers which get no gradient) requires grad.

    ``backward(g)`` returns one gradient (a backend array, or None) per parent; gradients whose
    shape differs from the parent's (broadcasting) are summed back to it by the engine.

    ``saves`` lists the positions of the parents whose values ``backward`` reads (None: all of
    them, the conservative default) and ``saves_output`` whether it reads the output: backward
    raises if one of those was modified in place (its ``_version`` changed) in between.
    ``rule`` or ``adjoint`` make the gradient differentiable (``create_graph``; module docstring).
    """
    device = None
    needs = modified = False
    for p in parents:  # one pass: the first tensor's device, whether any needs a gradient, and
        if isinstance(p, _Tensor):  # whether any was already modified in place
            if device is None:
                device = p._device
            needs = needs or p.requires_grad
            modified = modified or p._version
    node = None
    if needs and _state.enabled:
        versions = tuple(getattr(p, "_version", 0) for p in parents) if modified else None
        node = Node(backward, parents, name, saves, versions, saves_output, rule, adjoint)
    out = _new(_Tensor)
    _init_fields(out, data, device or "cpu", node is not None, node)
    return out


def _broadcast_axes(g_shape, shape) -> tuple:
    """The axes of a gradient of ``g_shape`` that broadcasting added to ``shape``."""
    extra = len(g_shape) - len(shape)
    axes = list(range(extra))
    axes += [extra + i for i, n in enumerate(shape) if n == 1 and g_shape[extra + i] != 1]
    return tuple(axes)


def unbroadcast(g, shape):
    """Sum a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    axes = _broadcast_axes(tuple(g.shape), tuple(shape))
    if axes:  # blockwise: a bias or an affine weight sums over batch and space
        g = B.accurate_sum(g, axes, keepdims=True)
    return B.reshape(g, shape)


def _topological_order(root, stop=None):
    """Tensors that require grad reachable from ``root``, each after everything it feeds (not
    expanding past the tensors whose ids are in ``stop``)."""
    # iterative post-order DFS; a tensor is marked when it is expanded, not when pushed, so it is
    # finished only after all of its inputs (marking on push can emit an input too early)
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        node = t._node
        if node is not None and (stop is None or id(t) not in stop):
            for p in node.parents:
                if isinstance(p, _Tensor) and p.requires_grad and id(p) not in seen:
                    stack.append((p, False))
    order.reverse()
    return order


FREED_MESSAGE = (
    "trying to backward through the graph a second time (or to use values the first "
    "backward already freed); call backward(retain_graph=True) the first time if you "
    "need to backward through it again"
)


class _Calls(threading.local):
    """Backward replays begun in this thread (``lucid.compile`` tells a training step from a
    forward by it; per thread, so another thread's backward cannot be counted)."""

    count = 0


backward_calls = _Calls()


def backward(root, seed, retain_graph=False, capture=None, create_graph=False, stop=None):
    """Replay the tape from ``root`` in reverse with initial gradient ``seed`` (an array),
    accumulating into the ``.grad`` of leaves (and of non-leaves that ``retain_grad()``).
    With ``capture`` (a dict keyed by tensor ids), the gradients reaching those tensors are
    added into it instead, and no ``.grad`` is touched (``lucid.autograd.grad``).

    With ``create_graph`` the seed is a Tensor, every gradient is a Tensor computed by recorded
    ops (so it can be differentiated again) and ``.grad`` is accumulated out of place
    (``x.grad = x.grad + g``), as PyTorch does. ``stop`` (a dict keyed by tensor ids) collects
    the gradients reaching those tensors and does not go past them (a checkpointed block's
    recompute ends at the block's inputs)."""
    backward_calls.count += 1
    grads = {id(root): seed}
    default_device = B.default_device_name()
    # recording on while a create_graph backward runs the rules
    mode = enable_grad() if create_graph else contextlib.nullcontext()
    with mode:
        for t in _topological_order(root, stop):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if t._hooks:
                g = _run_hooks(t, g)
            node = t._node
            if stop is not None and id(t) in stop:
                prev = stop[id(t)]
                stop[id(t)] = g if prev is None else prev + g
                continue
            if capture is not None:
                if id(t) in capture:
                    prev = capture[id(t)]
                    capture[id(t)] = g if prev is None else prev + g
            elif node is None or t._retains_grad:
                if create_graph:
                    t._grad = g if t._grad is None else t._grad + g
                else:
                    _accumulate(t, g)
            if node is None:
                continue
            # (inlined: this loop is the first-order hot path)
            if node.backward is None:
                raise RuntimeError(FREED_MESSAGE)
            if node.reads_output and t._version != node.out_version:
                _raise_modified(node, t, t._version, node.out_version, "the output")
            versions = node.versions
            for i, p in enumerate(node.parents):
                # a changed input matters when backward reads its value (``saves``), and also
                # when it is a non-leaf: an in-place op moved a new tape node onto it, so the
                # gradient would flow through the wrong node even for ops that read nothing
                if (
                    isinstance(p, _Tensor)
                    and p._version != (versions[i] if versions else 0)
                    and (node.saves is None or i in node.saves or p._node is not None)
                ):
                    then = versions[i] if versions else 0
                    _raise_modified(node, p, p._version, then, "an input")
            if _profile_hook is not None:  # (one check per node: nothing else when unused)
                parent_grads = _profile_hook(node, g, t, create_graph)
            elif t._device == default_device:
                parent_grads = _graph_grads(node, g, t) if create_graph else node.backward(g)
            else:
                with B.device_scope(t._device):
                    parent_grads = _graph_grads(node, g, t) if create_graph else node.backward(g)
            for p, pg in zip(node.parents, parent_grads):
                if pg is None or not isinstance(p, _Tensor) or not p.requires_grad:
                    continue
                if create_graph:
                    pg = _fit_tensor(pg, p)
                else:
                    if pg.shape != p.data.shape:
                        pg = unbroadcast(pg, p.data.shape)
                    if pg.dtype != p.data.dtype:
                        pg = pg.astype(p.data.dtype)
                key = id(p)
                prev = grads.get(key)
                grads[key] = pg if prev is None else prev + pg
            if not retain_graph:  # drop the saved arrays and the inputs now, keep a tombstone
                node.backward = None
                node.parents = ()
                node.rule = node.adjoint = None


def node_grads(node, g, t, create_graph):
    """One node's parent gradients, as the loop in :func:`backward` computes them (the
    profiler's hook calls this between its clock readings)."""
    if t._device == B.default_device_name():
        return _graph_grads(node, g, t) if create_graph else node.backward(g)
    with B.device_scope(t._device):
        return _graph_grads(node, g, t) if create_graph else node.backward(g)


def _fit_tensor(pg, p):
    """A parent's recorded gradient (a Tensor; a rule may return a constant) summed back to its
    shape (broadcasting) and cast to its dtype."""
    if not isinstance(pg, _Tensor):
        pg = _Tensor._wrap(B.asarray(pg), p._device)
    if tuple(pg.shape) != tuple(p.data.shape):
        pg = _unbroadcast_tensor(pg, tuple(p.data.shape))
    if pg.data.dtype != p.data.dtype:
        pg = pg.astype(B.dtype_name(p.data.dtype))
    return pg


def _graph_grads(node, g, out):
    """The gradients of ``node``'s parents as recorded Tensors (``create_graph``)."""
    if node.rule is not None:
        return node.rule(g, out, *node.parents)
    if node.adjoint is not None:
        return _linear_grads(node, g, out)
    raise NotImplementedError(
        f"create_graph=True: the gradient of {node.name} cannot be differentiated (it has no "
        f"rule for higher-order gradients)"
    )


def _linear_grads(node, g, out):
    """Gradients of an op whose backward is linear in ``g`` (``adjoint`` set): the array
    backward applied to ``g``, each result recorded as an op of ``g`` whose own backward is the
    op's forward in that input (``adjoint``) -- and whose adjoint is the backward again, so the
    pair can be differentiated to any order."""
    backward, adjoint, out_shape = node.backward, node.adjoint, tuple(out.data.shape)
    arrays = backward(g.data)
    result = []
    for i, (p, a) in enumerate(zip(node.parents, arrays)):
        if a is None or not isinstance(p, _Tensor) or not p.requires_grad:
            result.append(None)
            continue
        shape = tuple(p.data.shape)
        a = unbroadcast(a, shape) if tuple(a.shape) != shape else a
        transpose = _transpose(backward, i, shape)
        forward = _forward_in(adjoint, backward, i, out_shape)
        result.append(_linear_record(a, g, forward, transpose, node.name))
    return result


def _transpose(backward, i, shape):
    """v -> the gradient of input ``i`` for output gradient ``v`` (as an array of ``shape``)."""

    def apply(v):
        a = backward(v)[i]
        return unbroadcast(a, shape) if tuple(a.shape) != shape else a

    return apply


def _forward_in(adjoint, backward, i, out_shape):
    """v -> the op's forward in input ``i`` applied to ``v`` (an array of ``out_shape``)."""

    def apply(v):
        if adjoint == DIAGONAL:
            return backward(B.broadcast_to(v, out_shape) if tuple(v.shape) != out_shape else v)[i]
        r = adjoint(i, v)
        return B.broadcast_to(r, out_shape) if tuple(r.shape) != out_shape else r

    return apply


def _linear_record(data, g, backward, adjoint_fn, name):
    """``data`` (a linear function of ``g``) recorded with ``backward``, its adjoint being
    ``adjoint_fn`` (so that its own gradient is again linear and differentiable)."""
    return record(
        data,
        (g,),
        lambda v: (backward(v),),
        name + "Backward",
        saves=(),
        saves_output=False,
        adjoint=lambda _i, v: adjoint_fn(v),
    )


def _unbroadcast_tensor(g, shape):
    """``unbroadcast`` on a Tensor, with recorded ops."""
    axes = _broadcast_axes(tuple(g.shape), shape)
    if axes:
        g = g.sum(dim=axes, keepdim=True)
    return g.reshape(shape)


def _raise_modified(node, changed, now, then, role):
    """Refuse to differentiate through values that changed in place after the forward."""
    raise RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {role} of {node.name} (a tensor of shape {changed.shape}, dtype "
        f"{changed.dtype}) is at version {now}; expected version {then}. Recompute the forward "
        f"after the in-place change, or change a clone() instead"
    )


def _hook_name(hook) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)


def _run_hooks(t, g):
    """``g`` passed through ``t``'s hooks; a returned tensor replaces it (same shape and dtype).
    An error inside a hook is re-raised naming the hook and the tensor (the original is kept
    as ``__cause__``)."""
    for hook in list(t._hooks.values()):
        where = f"hook {_hook_name(hook)!r} registered on a tensor of shape {t.shape}" + (
            f" (the output of {t._node.name})" if t._node is not None else ""
        )
        graph_mode = isinstance(g, _Tensor)  # create_graph: gradients are Tensors
        try:
            out = hook(g if graph_mode else _Tensor._wrap(g, t._device))
        except Exception as exc:
            raise RuntimeError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        if out is None:
            continue
        if graph_mode:
            new = out if isinstance(out, _Tensor) else _Tensor._wrap(B.asarray(out), t._device)
            _check_hook_result(where, new.data, g.data)
            g = new
            continue
        new = out._data if isinstance(out, _Tensor) else B.asarray(out, B.dtype_name(g.dtype))
        _check_hook_result(where, new, g)
        g = new
    return g


def _check_hook_result(where, new, g) -> None:
    if tuple(new.shape) != tuple(g.shape):
        raise ValueError(
            f"{where} returned a gradient of shape {tuple(new.shape)}; expected {tuple(g.shape)}"
        )
    if new.dtype != g.dtype:
        raise TypeError(
            f"{where} returned a gradient of dtype {B.dtype_name(new.dtype)}; "
            f"expected {B.dtype_name(g.dtype)}"
        )


def _accumulate(t, g):
    if t._grad is None:
        # a fresh array object: ``g`` may be shared (add passes one array to both inputs, or it is
        # the user's seed), and writing into one .grad (x.grad[i] = ...) must not change another
        t._grad = _Tensor._wrap(B.array(g), t._device)
    else:
        t._grad.data = t._grad.data + g
