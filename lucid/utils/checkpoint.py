"""Activation checkpointing: keep a block's input, not its activations, and recompute the
block's forward during backward (PyTorch's ``torch.utils.checkpoint.checkpoint``).

The forward runs without recording (so the tape keeps none of the block's intermediate
arrays) and the block's output is recorded as one op whose inputs are the block's tensor
arguments. Its backward re-runs the block with recording on and replays that small tape from
the output's gradient: the parameters inside get their gradients accumulated there (as the
reentrant PyTorch variant does), and the gradients of the tensor arguments flow on.

Random draws (dropout) follow PyTorch's ``preserve_rng_state``: the default generator's current
key (``runtime.rng_key()``: ``lucid.default_generator``'s key, or the innermost traced key inside
``lucid.compile`` or an enclosing recompute) is saved before the forward, which then draws as
the unchecked call would. The recompute draws from the saved key in a ``runtime.random_key``
scope, so it repeats the forward's draws at every nesting level and leaves the live key as it
was: draws after the backward are the ones an unchecked step would make. As in PyTorch, an
explicit ``lucid.Generator`` used inside the block is not rewound for the recompute.

With ``create_graph=True`` the block is recomputed on its arguments themselves and its
backward recorded, so second derivatives pass through a checkpoint.

Limits: the block must return one Tensor; buffers updated by the block (BatchNorm running
statistics) are updated by the forward and again by the recompute, as in PyTorch.
"""

from __future__ import annotations

from lucid import _backend as B
from lucid._backend import runtime
from lucid.autograd import graph
from lucid.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from lucid.tensor import Tensor

__all__ = ["checkpoint"]


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)``, recomputed in backward instead of keeping its activations.

    ``use_reentrant`` is accepted for PyTorch compatibility (Lucid has one implementation);
    ``preserve_rng_state`` (default True) makes the recompute draw the forward's random
    numbers from the key saved before the forward; the forward draws as ``function`` alone would.
    """
    needs = any(isinstance(a, Tensor) and a.requires_grad for a in args)
    if not is_grad_enabled() or not (needs or _may_need_grad(function)):
        return function(*args, **kwargs)  # nothing to differentiate: nothing to save
    key = runtime.rng_key() if preserve_rng_state else None
    with no_grad():
        out = function(*args, **kwargs)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"checkpoint: the function must return one Tensor, got {type(out).__name__}"
        )
    tensors = [a for a in args if isinstance(a, Tensor)]

    def backward(g):
        inputs = [
            Tensor._wrap(a.data, a._device, requires_grad=a.requires_grad)
            if isinstance(a, Tensor)
            else a
            for a in args
        ]
        with enable_grad(), _rng(key):
            again = function(*inputs, **kwargs)
        if again.requires_grad:
            graph.backward(again, B.cast(g, B.dtype_name(again.data.dtype)))
        grads = iter(
            [i.grad.data if i.grad is not None else None for i in inputs if isinstance(i, Tensor)]
        )
        return tuple(next(grads) for _ in tensors)

    def rule(g, _out, *parents):
        # create_graph: recompute on the arguments themselves, so the gradients keep their
        # dependence on them, and replay only the block (``stop`` ends at the arguments)
        with enable_grad(), _rng(key):
            again = function(*args, **kwargs)
        stop: dict = {id(t): None for t in tensors if t.requires_grad}
        if again.requires_grad:
            graph.backward(again, g.astype(again.dtype), True, None, True, stop)
        return tuple(stop.get(id(t)) for t in parents)

    result = graph.record(out.data, tuple(tensors), backward, "Checkpoint", rule=rule)
    if not result.requires_grad:  # no argument needs a gradient, the block's parameters do
        result.requires_grad = True
        result._node = graph.Node(backward, tuple(tensors), "Checkpoint", rule=rule)
    result._device = out._device
    return result


def _may_need_grad(function) -> bool:
    params = getattr(function, "parameters", None)
    return callable(params) and any(p.requires_grad for p in params())


def _rng(key):
    import contextlib

    return runtime.random_key(key) if key is not None else contextlib.nullcontext()
