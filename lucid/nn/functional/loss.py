"""Loss functions (PyTorch's semantics): classification losses on logits or log-probabilities
with class axis 1 (``(N, C)``, ``(N, C, d1, d2, ...)`` or unbatched ``(C,)``), and elementwise
regression losses whose target must have the input's shape.

``reduction`` is ``'none'`` (per element), ``'mean'`` or ``'sum'``. For class-index targets the
weighted mean divides by the summed weights of the non-ignored targets, as PyTorch does.
"""

from __future__ import annotations

import math

from lucid import _backend as B, ops
from lucid.ops import loss as _fused
from lucid.ops._util import op  # runs on the input's device stream
from lucid.ops.activation import log_softmax
from lucid.tensor import Tensor

__all__ = [
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
]

_REDUCTIONS = ("none", "mean", "sum")


# --- argument checks ----------------------------------------------------------------------------
def _tensor(v, name, like=None):
    if isinstance(v, Tensor):
        return v
    try:
        data = B.asarray(v)
    except TypeError as exc:
        raise TypeError(f"{name} must be a Tensor or array-like, got {type(v).__name__}") from exc
    if like is not None and B.is_floating(data.dtype) and like.is_floating_point():
        data = data.astype(like.data.dtype)
    return Tensor._wrap(data, like._device if like is not None else "cpu")


def _check_reduction(reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _same_shape(input, target, fn):
    if input.shape != target.shape:
        raise ValueError(f"{fn}: target shape {target.shape} must equal input shape {input.shape}")


def _class_weight(weight, c, like, fn):
    if weight is None:
        return None
    w = _tensor(weight, "weight", like)
    if w.shape != (c,):
        raise ValueError(f"{fn}: weight must have shape ({c},) (one per class), got {w.shape}")
    return w.data.astype(like.data.dtype)


def _check_indices(input, target, ignore_index, fn):
    """Shape and range checks for class-index targets; returns (input, target array, unbatched,
    out-of-range mask)."""
    if not input.is_floating_point():
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    if input.ndim == 0:
        raise ValueError(
            f"{fn}: input must have shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor"
        )
    unbatched = input.ndim == 1
    expected = () if unbatched else (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{fn}: for input of shape {input.shape} the class-index target must "
            f"have shape {expected}, got {target.shape}"
        )
    t = B.cast(target.data, "int64")  # uint8 etc. cannot even be compared with -100
    c = input.shape[0] if unbatched else input.shape[1]
    # no host read here (it would sync every step): out-of-range targets are counted as ignored,
    # their losses poisoned with NaN (_poison), and an IndexError is deferred to the next host read
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if t.size:
        B.defer_index_check(B.any(bad), B.where(t == ignore_index, 0, t), c, f"{fn} target")
        t = B.where(bad, ignore_index, t)
    if unbatched:
        input, t, bad = ops.unsqueeze(input, 0), B.reshape(t, (1,)), B.reshape(bad, (1,))
    return input, t, unbatched, bad


def _poison(loss, bad):
    """NaN where the target was out of range, so a bad target never gives a plausible loss."""
    return ops.where(Tensor._wrap(bad, loss._device), math.nan, loss)


def _index_reduce(loss, t, weight, ignore_index, reduction, unbatched, dtype):
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "mean":
        _, wy = _fused.target_weights(t, weight, ignore_index, dtype)
        total = B.sum(wy)
        # every target ignored (or an empty batch): the value is NaN but, as in PyTorch, the
        # gradient is 0, so the NaN is added as a constant after dividing by a safe 1
        none = B.equal(total, 0)
        mean = ops.sum(loss) / Tensor._wrap(B.where(none, 1, total), loss._device)
        return mean + Tensor._wrap(B.where(none, float("nan"), 0).astype(dtype), loss._device)
    return ops.reshape(loss, ()) if unbatched else loss


# --- classification -----------------------------------------------------------------------------
@op
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy between logits ``input`` (class axis 1, or (C,)) and ``target``.

    ``target`` holds class indices (an integer tensor of shape (N, d1, ...), or () unbatched),
    or class probabilities (a float tensor of the input's shape). ``weight`` (C,) rescales each
    class; ``ignore_index`` (index targets only) marks positions that contribute nothing;
    ``label_smoothing`` in [0, 1] mixes the target with the uniform distribution.
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    input = _tensor(input, "input")
    target = _tensor(target, "target")
    if target.is_floating_point():
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    if target.dtype.name == "bool":
        raise TypeError(
            "cross_entropy: target must hold integer class indices or float "
            "probabilities, got a bool tensor"
        )
    x, t, unbatched, bad = _check_indices(input, target, ignore_index, "cross_entropy")
    w = _class_weight(weight, x.shape[1], x, "cross_entropy")
    loss = _poison(_fused.cross_entropy(x, t, w, ignore_index, label_smoothing), bad)
    return _index_reduce(loss, t, w, ignore_index, reduction, unbatched, x.data.dtype)


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    _same_shape(input, target, "cross_entropy (probability targets)")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have shape (C,), (N, C) or (N, C, d1, ...)")
    axis = 0 if input.ndim == 1 else 1
    c = input.shape[axis]
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / c
    prod = log_softmax(input, axis=axis) * target
    w = _class_weight(weight, c, input, "cross_entropy")
    if w is not None:
        prod = prod * Tensor._wrap(
            B.reshape(w, (c,) + (1,) * (input.ndim - axis - 1)), input._device
        )
    loss = -ops.sum(prod, axis=axis)
    if reduction == "mean":  # PyTorch divides by the number of positions, weights or not
        n = input.numel() // c if c else 0
        return ops.sum(loss) / (n if n else float("nan"))
    return _reduce(loss, reduction)


@op
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (class axis 1, or (C,)) at class
    indices ``target``; ``weight``, ``ignore_index`` and ``reduction`` as in cross_entropy."""
    _check_reduction(reduction)
    input = _tensor(input, "input")
    target = _tensor(target, "target")
    if target.is_floating_point() or target.dtype.name == "bool":
        raise TypeError(f"nll_loss: target must hold integer class indices, got {target.dtype}")
    x, t, unbatched, bad = _check_indices(input, target, ignore_index, "nll_loss")
    w = _class_weight(weight, x.shape[1], x, "nll_loss")
    loss = _poison(_fused.nll_loss(x, t, w, ignore_index), bad)
    return _index_reduce(loss, t, w, ignore_index, reduction, unbatched, x.data.dtype)


@op
def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross entropy of probabilities ``input`` in [0, 1] against ``target`` (same
    shape); each log is clamped to >= -100 so p = 0 or 1 gives a finite loss. ``weight`` is
    broadcast against the elementwise loss."""
    _check_reduction(reduction)
    input = _tensor(input, "input")
    target = _tensor(target, "target", input)
    _same_shape(input, target, "binary_cross_entropy")
    if input.numel():
        lo, hi = B.item(B.min(input.data)), B.item(B.max(input.data))
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                "binary_cross_entropy: input must hold probabilities in [0, 1], got "
                f"values in [{lo}, {hi}] (use binary_cross_entropy_with_logits "
                "for logits)"
            )
    loss = _fused.binary_cross_entropy(input, target)
    if weight is not None:
        loss = loss * _broadcastable(weight, "weight", input, "binary_cross_entropy")
    return _reduce(loss, reduction)


@op
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross entropy in one numerically stable step, on logits ``input``.

    ``pos_weight`` weights the positive term per class (broadcast against the input from the
    right: shape (C,) for (N, C) inputs, (C, 1, 1, 1) for (N, C, D, H, W)); ``weight``
    rescales the elementwise loss.
    """
    _check_reduction(reduction)
    input = _tensor(input, "input")
    target = _tensor(target, "target", input)
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    pw = None
    if pos_weight is not None:
        pw = _broadcastable(pos_weight, "pos_weight", input, "binary_cross_entropy_with_logits")
    loss = _fused.binary_cross_entropy_with_logits(input, target, pw)
    if weight is not None:
        loss = loss * _broadcastable(weight, "weight", input, "binary_cross_entropy_with_logits")
    return _reduce(loss, reduction)


def _broadcastable(v, name, input, fn):
    v = _tensor(v, name, input)
    shape = v.shape
    ok = len(shape) <= input.ndim and all(
        a == b or a == 1 for a, b in zip(reversed(shape), reversed(input.shape))
    )
    if not ok:
        raise ValueError(
            f"{fn}: {name} of shape {shape} does not broadcast to the input shape {input.shape}"
        )
    return v


# --- regression ---------------------------------------------------------------------------------
def _diff(input, target, fn, reduction):
    _check_reduction(reduction)
    input = _tensor(input, "input")
    target = _tensor(target, "target", input)
    _same_shape(input, target, fn)
    return input - target


@op
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target) ** 2``."""
    return _reduce(ops.square(_diff(input, target, "mse_loss", reduction)), reduction)


@op
def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Absolute error ``|input - target|``."""
    return _reduce(ops.abs(_diff(input, target, "l1_loss", reduction)), reduction)


@op
def smooth_l1_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """``0.5 * d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (plain L1 when
    ``beta`` is 0)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = _diff(input, target, "smooth_l1_loss", reduction)
    a = ops.abs(d)
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(ops.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta), reduction)


@op
def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """``0.5 * d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = _diff(input, target, "huber_loss", reduction)
    a = ops.abs(d)
    return _reduce(ops.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)


@op
def kl_div(
    input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False
) -> Tensor:
    """Kullback-Leibler divergence with ``input`` holding log-probabilities: elementwise
    ``target * (log(target) - input)`` (0 where target is 0), or with ``log_target`` the target
    given as log-probabilities too. ``'batchmean'`` divides the sum by the batch size (the true
    KL divergence per sample); ``'mean'`` averages over every element."""
    _check_reduction(reduction, _REDUCTIONS + ("batchmean",))
    input = _tensor(input, "input")
    target = _tensor(target, "target", input)
    _same_shape(input, target, "kl_div")
    if log_target:
        loss = ops.exp(target) * (target - input)
    else:
        pos = target > 0
        safe = ops.where(pos, target, 1.0)  # keeps log() and its gradient finite where t = 0
        loss = ops.where(pos, target * ops.log(safe), 0.0) - target * input
    if reduction == "batchmean":
        n = input.shape[0] if input.ndim else 1
        return ops.sum(loss) / n
    return _reduce(loss, reduction)


# --- segmentation -------------------------------------------------------------------------------
def _dice_target(target, input, fn):
    """``target`` as per-channel masks of the input's shape (index targets one-hot encoded)."""
    if target.is_floating_point():
        _same_shape(input, target, fn + " (float targets)")
        return target
    c = input.shape[1]
    if target.ndim == input.ndim and target.shape[1] == 1:
        target = ops.squeeze(target, 1)  # (N, 1, *S) class maps, as MONAI accepts
    expected = (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{fn}: for input of shape {input.shape} a class-index target must have "
            f"shape {expected} (or a float target the input's shape), got "
            f"{target.shape}"
        )
    t = B.cast(target.data, "int64")
    if t.size:
        lo, hi = B.min(t).item(), B.max(t).item()
        if lo < 0 or hi >= c:
            raise ValueError(
                f"{fn}: target class indices must be in [0, {c}), got values in [{lo}, {hi}]"
            )
    classes = B.reshape(B.arange(c), (1, c) + (1,) * (input.ndim - 2))
    onehot = B.expand_dims(t, 1) == classes
    return Tensor._wrap(B.cast(onehot, B.dtype_name(input.data.dtype)), input._device)


@op
def dice_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    softmax: bool = False,
    sigmoid: bool = False,
    squared_pred: bool = False,
    jaccard: bool = False,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Soft Dice loss (MONAI's ``DiceLoss`` semantics) of ``input`` (N, C, *spatial) against
    ``target``: per sample and channel ``1 - (2 * sum(p * t) + smooth_nr) / (sum(p) + sum(t) +
    smooth_dr)``, sums over the spatial axes (and the batch too when ``batch``).

    ``p`` is ``softmax(input, 1)`` / ``sigmoid(input)`` when asked, else ``input`` itself
    (already probabilities). ``target`` holds class indices (integer (N, *spatial) or
    (N, 1, *spatial), one-hot encoded here) or per-channel masks (float, the input's shape).
    ``include_background=False`` drops channel 0. ``squared_pred`` sums squares in the
    denominator; ``jaccard`` uses ``2 * (sum(p) + sum(t) - sum(p * t))`` there (IoU-style).
    ``reduction``: ``'mean'``/``'sum'`` over the (N, C) (or (C,) with ``batch``) values, or
    ``'none'`` for those values themselves.
    """
    _check_reduction(reduction)
    fn = "dice_loss"
    if softmax and sigmoid:
        raise ValueError(f"{fn}: choose at most one of softmax and sigmoid")
    input = _tensor(input, "input")
    target = _tensor(target, "target", input)
    if not input.is_floating_point():
        raise TypeError(f"{fn}: input must be floating point, got {input.dtype}")
    if input.ndim < 3:
        raise ValueError(f"{fn}: input must have shape (N, C, *spatial), got {input.shape}")
    target = _dice_target(target, input, fn)
    p = ops.sigmoid(input) if sigmoid else input
    if softmax:
        from lucid.ops.activation import softmax as _softmax

        p = _softmax(input, axis=1)
    if not include_background:
        if input.shape[1] == 1:
            raise ValueError(
                f"{fn}: include_background=False needs >= 2 channels (channel 0 "
                "is the background), got 1"
            )
        p, target = p[:, 1:], target[:, 1:]
    axes = ((0,) if batch else ()) + tuple(range(2, input.ndim))
    intersection = ops.sum(p * target, axis=axes)
    if squared_pred:
        denominator = ops.sum(p * p, axis=axes) + ops.sum(target * target, axis=axes)
    else:
        denominator = ops.sum(p, axis=axes) + ops.sum(target, axis=axes)
    if jaccard:
        denominator = 2.0 * (denominator - intersection)
    loss = 1.0 - (2.0 * intersection + smooth_nr) / (denominator + smooth_dr)
    return _reduce(loss, reduction)


__all__ += ["dice_loss"]
