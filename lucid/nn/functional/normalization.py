"""Normalisation functions: batch, instance, group and layer norm.

Each standardises with the single ``lucid.ops.standardize.standardize`` op and then applies the
optional per-channel (or per-element) affine map with ordinary differentiable ops. Running
statistics are plain buffers updated outside the tape.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucid import _backend as B
from lucid.ops import elementwise as E, shape as S
from lucid.ops._util import op  # runs on the input's device stream
from lucid.ops.standardize import standardize
from lucid.tensor import Tensor

__all__ = ["batch_norm", "instance_norm", "group_norm", "layer_norm"]


def _channel_view(t, ndim, axis=1):
    """A per-channel vector shaped to broadcast against an ``ndim``-d input at ``axis``."""
    return S.reshape(t, (-1,) + (1,) * (ndim - axis - 1))


def _like(p, y):
    """Parameter ``p`` in ``y``'s dtype, so float32 parameters keep a half-precision output half."""
    return p if p.dtype == y.dtype else S.astype(p, y.dtype)


def affine(y: Tensor, weight: Tensor | None, bias: Tensor | None, axis: int = 1) -> Tensor:
    """``y * weight + bias`` with per-channel vectors along ``axis`` (either may be None), on the
    tape; float32 parameters keep a half-precision ``y`` half. Shared by batch, instance and
    group norm and by ``SyncBatchNorm``."""
    if weight is not None:
        y = E.mul(y, _channel_view(_like(weight, y), y.ndim, axis))
    if bias is not None:
        y = E.add(y, _channel_view(_like(bias, y), y.ndim, axis))
    return y


def _check_vector(t, channels, what, name):
    if t is not None and tuple(t.shape) != (channels,):
        raise ValueError(
            f"{name}: {what} must have shape ({channels},) to match the input's "
            f"{channels} channels, got {tuple(t.shape)}"
        )


def _update(buffer, batch_value, momentum):
    """buffer <- (1 - momentum) * buffer + momentum * batch_value, in place, off the tape."""
    old = buffer.data
    with B.device_scope(buffer._device):
        batch_value = B.reshape(B.cast(batch_value, B.dtype_name(old.dtype)), old.shape)
        buffer.data = (1.0 - momentum) * old + momentum * batch_value
        if buffer.data.dtype != old.dtype:  # an array momentum (1 / count) may promote
            buffer.data = B.cast(buffer.data, B.dtype_name(old.dtype))
    # lazy, but evaluated with the step's one evaluation (the optimizer's), so the chain of
    # updates never grows from one step to the next; no evaluation inside the forward
    B.defer(buffer)


def update_running_stats(
    running_mean: Tensor,
    running_var: Tensor,
    mean: Any,
    var: Any,
    count: float,
    momentum: Any,
) -> None:
    """Move the running buffers toward a batch's per-channel ``mean`` and biased ``var`` (backend
    arrays over ``count`` values per channel; the running variance takes the unbiased one) by
    ``momentum``: in place, off the tape, and lazily, evaluated with the step's one evaluation.
    The one update of batch norm, instance norm and ``SyncBatchNorm``."""
    _update(running_mean, mean, momentum)
    _update(running_var, var * (count / (count - 1)), momentum)


def _with_running_stats(input, running_mean, running_var, weight, bias, eps, axis=1):
    """(x - running_mean) / sqrt(running_var + eps) * weight + bias, differentiable in x and the
    affine parameters; the statistics are constants."""
    rstd = 1.0 / B.sqrt(running_var.data + eps)
    scale = Tensor._wrap(B.cast(rstd, B.dtype_name(input.data.dtype)), input._device)
    shift = Tensor._wrap(
        B.cast(-running_mean.data * rstd, B.dtype_name(input.data.dtype)), input._device
    )
    if weight is not None:
        scale = E.mul(scale, _like(weight, scale))
        shift = E.mul(shift, _like(weight, shift))
    if bias is not None:
        shift = E.add(shift, _like(bias, shift))
    return E.add(
        E.mul(input, _channel_view(scale, input.ndim, axis)), _channel_view(shift, input.ndim, axis)
    )


@op
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of an ``(N, C, *S)`` input over N and S, per channel.

    In training (or without running statistics) the batch statistics are used, and given
    ``running_mean``/``running_var`` buffers are updated in place with ``momentum`` (the running
    variance takes the unbiased batch variance). Otherwise the running statistics are used.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects an input of shape (N, C, *), got {input.shape}")
    channels = input.shape[1]
    for t, what in (
        (running_mean, "running_mean"),
        (running_var, "running_var"),
        (weight, "weight"),
        (bias, "bias"),
    ):
        _check_vector(t, channels, what, "batch_norm")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and running_mean is not None:
        return _with_running_stats(input, running_mean, running_var, weight, bias, eps)
    axes = (0,) + tuple(range(2, input.ndim))
    count = math.prod([input.shape[a] for a in axes])
    if training and count == 1:  # PyTorch's rule: an empty batch passes, one value does not
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got "
            f"input of shape {input.shape}"
        )
    y, mean, var = standardize(input, axes, eps)
    # (both or neither, checked above); empty: the running statistics stay as they are
    if training and running_mean is not None and running_var is not None and count:
        update_running_stats(running_mean, running_var, mean, var, count, momentum)
    return affine(y, weight, bias)


@op
def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Instance normalisation: each sample's channels standardised over their spatial dims.

    Accepts ``(N, C, *S)``. With ``use_input_stats`` the per-instance statistics are used and
    given running buffers are updated with their batch average (unbiased variances); otherwise the
    running statistics are used, as batch norm in eval mode.
    """
    if input.ndim < 3:
        raise ValueError(
            f"instance_norm expects an input of shape (N, C, *S) with at least one "
            f"spatial dim, got {input.shape}"
        )
    channels = input.shape[1]
    for t, what in (
        (running_mean, "running_mean"),
        (running_var, "running_var"),
        (weight, "weight"),
        (bias, "bias"),
    ):
        _check_vector(t, channels, what, "instance_norm")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(
                "instance_norm: use_input_stats=False needs running_mean and running_var"
            )
        return _with_running_stats(input, running_mean, running_var, weight, bias, eps)
    if (running_mean is None) != (running_var is None):
        raise ValueError("instance_norm: give both running_mean and running_var, or neither")
    count = math.prod(input.shape[2:])
    if count == 1:  # PyTorch's rule: empty spatial dims pass, a single element does not
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element per channel, got "
            f"input of shape {input.shape}"
        )
    y, mean, var = standardize(input, tuple(range(2, input.ndim)), eps)
    # empty: the running statistics stay as they are
    if running_mean is not None and running_var is not None and input.numel():
        batch_mean, batch_var = B.mean(mean, axis=0), B.mean(var, axis=0)
        update_running_stats(running_mean, running_var, batch_mean, batch_var, count, momentum)
    return affine(y, weight, bias)


@op
def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalisation of ``(N, C, *S)``: channels split into ``num_groups`` groups, each
    standardised over its channels and spatial dims, then a per-channel affine map."""
    if input.ndim < 2:
        raise ValueError(f"group_norm expects an input of shape (N, C, *), got {input.shape}")
    channels = input.shape[1]
    if not isinstance(num_groups, numbers.Integral) or num_groups < 1 or channels % num_groups:
        raise ValueError(
            f"group_norm: num_groups={num_groups!r} must be a positive divisor of the "
            f"input's {channels} channels"
        )
    _check_vector(weight, channels, "weight", "group_norm")
    _check_vector(bias, channels, "bias", "group_norm")
    n = input.shape[0]
    if n * (channels // num_groups) * math.prod(input.shape[2:]) == 1:  # PyTorch's check
        raise ValueError(
            f"group_norm: expected more than 1 value per channel, got input of "
            f"shape {input.shape} with num_groups={num_groups}"
        )
    per_group = math.prod(input.shape[1:]) // num_groups  # not -1: N may be 0
    grouped = S.reshape(input, (n, num_groups, per_group))
    y, _, _ = standardize(grouped, 2, eps)
    return affine(S.reshape(y, input.shape), weight, bias)


@op
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing dims ``normalized_shape``, with an elementwise
    affine map of that shape."""
    shape = (
        (normalized_shape,)
        if isinstance(normalized_shape, numbers.Integral)
        else tuple(normalized_shape)
    )
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[-k:]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must match the trailing dims of "
            f"the input, got input shape {input.shape}"
        )
    for t, what in ((weight, "weight"), (bias, "bias")):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {what} must have shape {shape}, got {tuple(t.shape)}")
    y, _, _ = standardize(input, tuple(range(input.ndim - k, input.ndim)), eps)
    if weight is not None:
        y = E.mul(y, _like(weight, y))
    if bias is not None:
        y = E.add(y, _like(bias, y))
    return y
