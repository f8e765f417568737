"""Margin, ranking and embedding losses (PyTorch's semantics).

Argument order follows PyTorch without its deprecated ``size_average``/``reduce``: the options
PyTorch lists after them (``reduction``, ...) are keyword-only here, so a positional PyTorch
call fails loudly instead of binding the wrong option. Empty batches give PyTorch's results
(``'mean'`` NaN, ``'sum'`` 0, ``'none'`` empty).
"""

from __future__ import annotations

import math

import numpy as np

from lucid import _backend as B, ops
from lucid.nn.functional.loss import _check_reduction, _class_weight, _reduce, _tensor
from lucid.ops import loss as _fused
from lucid.ops._util import op  # runs on the input's device stream
from lucid.ops.activation import softplus
from lucid.tensor import Tensor

__all__ = [
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "multilabel_margin_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "cosine_embedding_loss",
    "multi_margin_loss",
    "triplet_margin_loss",
]


def _floats(fn, *pairs, like=None):
    """Each (value, name) as a Tensor (array-likes converted, floats cast to ``like``)."""
    out = []
    for value, name in pairs:
        t = _tensor(value, name, like)
        if like is None:
            like = t
        out.append(t)
    if not out[0].is_floating_point():
        raise TypeError(f"{fn}: {pairs[0][1]} must be floating point, got {out[0].dtype}")
    return out


def _broadcast_shape(fn, *tensors):
    try:
        return tuple(np.broadcast_shapes(*(t.shape for t in tensors)))
    except ValueError:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"{fn}: shapes {shapes} do not broadcast together") from None


def _const(values, like):
    """A constant (no gradient) Tensor of ``like``'s dtype and device."""
    return Tensor._wrap(B.asarray(np.asarray(values), B.dtype_name(like.data.dtype)), like._device)


@op
def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, *, reduction: str = "mean"
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` 1 asks for input1 to rank
    higher, -1 for input2. The three tensors must have the same number of dims (and
    broadcast)."""
    _check_reduction(reduction)
    x1, x2, y = _floats(
        "margin_ranking_loss", (input1, "input1"), (input2, "input2"), (target, "target")
    )
    if not x1.ndim == x2.ndim == y.ndim:
        raise ValueError(
            f"margin_ranking_loss: input1 {x1.shape}, input2 {x2.shape} and target "
            f"{y.shape} must have the same number of dims"
        )
    _broadcast_shape("margin_ranking_loss", x1, x2, y)
    return _reduce(ops.relu(-y * (x1 - x2) + margin), reduction)


@op
def hinge_embedding_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, *, reduction: str = "mean"
) -> Tensor:
    """``input`` where ``target`` is 1 and ``max(0, margin - input)`` where it is -1 (as in
    PyTorch, a target that is neither contributes both terms)."""
    _check_reduction(reduction)
    x, y = _floats("hinge_embedding_loss", (input, "input"), (target, "target"))
    _broadcast_shape("hinge_embedding_loss", x, y)
    hinge = ops.where(y != 1, ops.relu(margin - x), 0.0)
    return _reduce(hinge + ops.where(y != -1, x, 0.0), reduction)


def _class_targets(input, fn):
    """(input as (N, C), unbatched) for (C,) or (N, C) inputs."""
    if input.ndim not in (1, 2):
        raise ValueError(f"{fn}: input must have shape (C,) or (N, C), got {input.shape}")
    unbatched = input.ndim == 1
    x = ops.unsqueeze(input, 0) if unbatched else input
    return x, unbatched


def _reduce_samples(loss, reduction, unbatched):
    """Reduce per-sample losses (an empty batch: mean NaN, sum 0, as every loss here; PyTorch
    2.13 returns uninitialised memory for these two losses then)."""
    return _reduce(ops.reshape(loss, ()) if unbatched else loss, reduction)


@op
def multilabel_margin_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss. ``target`` (int, the input's shape (C,) or (N, C)) lists each
    sample's classes, ended by the first -1; per sample
    ``sum_{j listed} sum_{i not listed} max(0, 1 - (x[y_j] - x[i])) / C``."""
    _check_reduction(reduction)
    (x,) = _floats("multilabel_margin_loss", (input, "input"))
    y = _tensor(target, "target")
    if y.is_floating_point() or y.dtype.name == "bool":
        raise TypeError(
            f"multilabel_margin_loss: target must hold integer class indices, got {y.dtype}"
        )
    if y.shape != x.shape:
        raise ValueError(
            f"multilabel_margin_loss: target shape {y.shape} must equal input shape {x.shape}"
        )
    x, unbatched = _class_targets(x, "multilabel_margin_loss")
    n, c = x.shape
    t = np.asarray(y.numpy(), np.int64).reshape(n, c)
    listed = np.cumprod(t != -1, axis=1).astype(bool)  # entries before the first -1
    bad = listed & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(
            f"multilabel_margin_loss: target index {int(t[bad][0])} is out of range "
            f"for {c} classes (use -1 to end a sample's list)"
        )
    member = np.zeros((n, c), bool)
    rows = np.nonzero(listed)[0]
    member[rows, t[listed]] = True
    onehot = np.zeros((n, c, c))  # onehot[n, j, k]: the j-th listed target is class k
    onehot[np.nonzero(listed) + (t[listed],)] = 1.0
    x_target = ops.sum(ops.unsqueeze(x, 1) * _const(onehot, x), axis=2)  # (N, C): x[y_j]
    pair = ops.relu(1.0 - ops.unsqueeze(x_target, 2) + ops.unsqueeze(x, 1))  # (N, j, i)
    mask = listed[:, :, None] & ~member[:, None, :]
    loss = ops.sum(pair * _const(mask, x), axis=(1, 2)) / c
    return _reduce_samples(loss, reduction, unbatched)


@op
def soft_margin_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` (target 1 or -1), stable."""
    _check_reduction(reduction)
    x, y = _floats("soft_margin_loss", (input, "input"), (target, "target"))
    if x.shape != y.shape:
        raise ValueError(
            f"soft_margin_loss: target shape {y.shape} must equal input shape {x.shape}"
        )
    return _reduce(softplus(-y * x, 1.0, math.inf), reduction)


@op
def multilabel_soft_margin_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, *, reduction: str = "mean"
) -> Tensor:
    """One-vs-all logistic loss of logits ``input`` (N, C) against 0/1 ``target`` (same shape):
    per sample, the mean over classes of ``-(t log sigmoid(x) + (1 - t) log sigmoid(-x))``,
    each class term times ``weight`` (broadcast) when given."""
    _check_reduction(reduction)
    x, y = _floats("multilabel_soft_margin_loss", (input, "input"), (target, "target"))
    if x.shape != y.shape:
        raise ValueError(
            f"multilabel_soft_margin_loss: target shape {y.shape} must equal input shape {x.shape}"
        )
    if x.ndim == 0:
        raise ValueError(
            "multilabel_soft_margin_loss: input must have a class dim, got a 0-d tensor"
        )
    loss = _fused.binary_cross_entropy_with_logits(x, y)
    if weight is not None:
        w = _tensor(weight, "weight", x)
        _broadcast_shape("multilabel_soft_margin_loss", x, w)
        loss = loss * w
    c = x.shape[-1]
    loss = ops.sum(loss, axis=-1) / (c if c else float("nan"))
    return _reduce(loss, reduction)


@op
def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, *, reduction: str = "mean"
) -> Tensor:
    """``1 - cos(x1, x2)`` where ``target`` is 1, ``max(0, cos(x1, x2) - margin)`` where it is
    -1 (0 elsewhere); the cosine is over the last dim of (N, D) or (D,) inputs, with PyTorch's
    ``1e-12`` added to each squared norm."""
    _check_reduction(reduction)
    x1, x2, y = _floats(
        "cosine_embedding_loss", (input1, "input1"), (input2, "input2"), (target, "target")
    )
    if x1.shape != x2.shape or x1.ndim not in (1, 2):
        raise ValueError(
            f"cosine_embedding_loss: input1 {x1.shape} and input2 {x2.shape} must "
            "have the same shape, (N, D) or (D,)"
        )
    if y.shape != x1.shape[:-1]:
        raise ValueError(
            f"cosine_embedding_loss: target must have shape {x1.shape[:-1]}, got {y.shape}"
        )
    eps = 1e-12
    dot = ops.sum(x1 * x2, axis=-1)
    denom = ops.sqrt((ops.sum(x1 * x1, axis=-1) + eps) * (ops.sum(x2 * x2, axis=-1) + eps))
    cos = dot / denom
    loss = ops.where(y == 1, 1.0 - cos, 0.0) + ops.where(y == -1, ops.relu(cos - margin), 0.0)
    return _reduce(loss, reduction)


@op
def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge loss of ``input`` (N, C) or (C,) at class indices ``target`` (N,) or
    (): per sample ``sum_{i != y} w[y] * max(0, margin - x[y] + x[i]) ** p / C``, p 1 or 2."""
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: only p == 1 and p == 2 are supported, got {p!r}")
    (x,) = _floats("multi_margin_loss", (input, "input"))
    y = _tensor(target, "target")
    if y.is_floating_point() or y.dtype.name == "bool":
        raise TypeError(f"multi_margin_loss: target must hold integer class indices, got {y.dtype}")
    x, unbatched = _class_targets(x, "multi_margin_loss")
    n, c = x.shape
    if y.shape != ((n,) if not unbatched else ()):
        raise ValueError(
            f"multi_margin_loss: for input of shape {input.shape} the target must "
            f"have shape {(n,) if not unbatched else ()}, got {y.shape}"
        )
    t = np.asarray(y.numpy(), np.int64).reshape(n)
    bad = (t < 0) | (t >= c)
    if bad.any():
        raise IndexError(
            f"multi_margin_loss: target index {int(t[bad][0])} is out of range for {c} classes"
        )
    onehot = np.zeros((n, c), bool)
    onehot[np.arange(n), t] = True
    x_target = ops.sum(x * _const(onehot, x), axis=1, keepdims=True)
    z = ops.relu(margin - x_target + x)
    if p == 2:
        z = z * z
    w = _class_weight(weight, c, x, "multi_margin_loss")
    if w is not None:
        z = z * Tensor._wrap(B.expand_dims(B.take(w, B.asarray(t), axis=0), 1), x._device)
    loss = ops.sum(ops.where(_const(onehot, x) > 0, 0.0, z), axis=1) / (c if c else float("nan"))
    return _reduce_samples(loss, reduction, unbatched)


def _pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """``||x1 - x2 + eps||_p`` over the last dim (PyTorch's ``pairwise_distance``)."""
    d = ops.abs(x1 - x2 + eps)
    if p == 2:
        return ops.sqrt(ops.sum(d * d, axis=-1, keepdims=keepdim))
    if p == 1:
        return ops.sum(d, axis=-1, keepdims=keepdim)
    if math.isinf(p):
        return ops.amax(d, dim=-1, keepdim=keepdim)
    return ops.sum(d**p, axis=-1, keepdims=keepdim) ** (1.0 / p)


@op
def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    *,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))`` with ``d`` the p-norm
    pairwise distance over the last dim; ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative
    distance. Inputs are (N, D) or (D,), all with the same number of dims."""
    _check_reduction(reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    a, pos, neg = _floats(
        "triplet_margin_loss", (anchor, "anchor"), (positive, "positive"), (negative, "negative")
    )
    if not a.ndim == pos.ndim == neg.ndim or a.ndim not in (1, 2):
        raise ValueError(
            f"triplet_margin_loss: anchor {a.shape}, positive {pos.shape} and "
            f"negative {neg.shape} must all be (N, D) or (D,)"
        )
    _broadcast_shape("triplet_margin_loss", a, pos, neg)
    d_pos = _pairwise_distance(a, pos, p, eps)
    d_neg = _pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, _pairwise_distance(pos, neg, p, eps))
    return _reduce(ops.relu(margin + d_pos - d_neg), reduction)
