"""Normalisation layers: BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d, GroupNorm, LayerNorm."""

from __future__ import annotations

import numbers

from lucid import _backend as B
from lucid.nn.functional import normalization as F
from lucid.nn.modules.module import Module, Parameter
from lucid.ops import shape as S
from lucid.tensor import Tensor

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "GroupNorm",
    "LayerNorm",
]


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _filled(shape, value):
    return B.full(tuple(shape), value, dtype=B.DTYPES["float32"])


class _NormBase(Module):
    """Per-channel affine parameters and running statistics shared by batch and instance norm.

    Buffers: ``running_mean`` (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (an
    int64 count) when ``track_running_stats``. ``momentum=None`` makes the running statistics a
    cumulative average over all batches seen (factor ``1 / num_batches_tracked``).
    """

    n = 0  # spatial dims of the batched input

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.num_features = _positive_int(num_features, "num_features")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(_filled((num_features,), 1.0))
            self.bias = Parameter(_filled((num_features,), 0.0))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(_filled((num_features,), 0.0)))
            self.register_buffer("running_var", Tensor._wrap(_filled((num_features,), 1.0)))
            self.register_buffer(
                "num_batches_tracked", Tensor._wrap(B.zeros((), dtype=B.DTYPES["int64"]))
            )
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        if device is not None or dtype is not None:  # PyTorch's factory keywords
            self.to(device=device, dtype=dtype)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, batch count 0."""
        if self.track_running_stats:
            self.running_mean.data = _filled((self.num_features,), 0.0)
            self.running_var.data = _filled((self.num_features,), 1.0)
            self.num_batches_tracked.data = B.zeros((), dtype=B.DTYPES["int64"])

    def reset_parameters(self) -> None:
        """Running statistics reset; weight 1 and bias 0."""
        self.reset_running_stats()
        if self.affine:
            self.weight.data = _filled((self.num_features,), 1.0)
            self.bias.data = _filled((self.num_features,), 0.0)

    def _factor(self):
        """The running-statistics update factor of this training step (counting the batch).

        The count stays on the device and lazy (no read-back): its ``+1`` is evaluated with the
        step's one evaluation (``B.defer``), so its graph never grows; with ``momentum=None``
        the factor ``1 / count`` is a lazy array too."""
        if not (self.training and self.track_running_stats):
            return 0.0
        count = self.num_batches_tracked
        count.data = count.data + 1
        B.defer(count)
        if self.momentum is None:
            return 1.0 / B.cast(count.data, B.dtype_name(self.running_mean.data.dtype))
        return self.momentum

    def _check_channels(self, input, axis):
        c = input.shape[axis]
        if c != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: expected input with {self.num_features} "
                f"channels (num_features), got {c} (input shape {input.shape})"
            )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    """Batch normalisation over ``n`` spatial dims: batch statistics while training (updating the
    running ones), running statistics in eval mode when they are tracked."""

    def _check_input_dim(self, input):
        ranks = (2, 3) if self.n == 1 else (self.n + 2,)
        if input.ndim not in ranks:
            wanted = " or ".join(f"{r}-D" for r in ranks)
            raise ValueError(
                f"{type(self).__name__} expects a {wanted} input (N, C, *S), got "
                f"shape {input.shape}"
            )
        self._check_channels(input, 1)

    def forward(self, input: Tensor) -> Tensor:
        """Normalise ``input`` per channel."""
        self._check_input_dim(input)
        factor = self._factor()
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=use_batch,
            momentum=factor,
            eps=self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs."""

    n = 1


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs."""

    n = 2


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs."""

    n = 3


class _InstanceNorm(_NormBase):
    """Instance normalisation over ``n`` spatial dims of (N, C, *S) or unbatched (C, *S) inputs.
    PyTorch's defaults: ``affine=False``, ``track_running_stats=False``. Unlike batch norm (and
    as in PyTorch), ``momentum=None`` means no running update at all, and
    ``num_batches_tracked`` is never advanced (it stays 0)."""

    def __init__(
        self,
        num_features,
        eps=1e-5,
        momentum=0.1,
        affine=False,
        track_running_stats=False,
        device=None,
        dtype=None,
    ):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _factor(self):
        """The running-statistics update factor; 0 when nothing is updated."""
        if not (self.training and self.track_running_stats) or self.momentum is None:
            return 0.0
        return self.momentum

    def forward(self, input: Tensor):
        """Normalise each sample's channels over their spatial dims."""
        if input.ndim not in (self.n + 1, self.n + 2):
            raise ValueError(
                f"{type(self).__name__} expects a {self.n + 2}-D input (N, C, *S) or "
                f"an unbatched {self.n + 1}-D input (C, *S), got shape {input.shape}"
            )
        unbatched = input.ndim == self.n + 1
        self._check_channels(input, 0 if unbatched else 1)
        x = S.unsqueeze(input, 0) if unbatched else input
        factor = self._factor()
        use_input_stats = self.training or not self.track_running_stats
        stats = (self.running_mean, self.running_var)
        if use_input_stats and not factor:  # nothing to update (momentum None or 0)
            stats = (None, None)
        y = F.instance_norm(
            x,
            *stats,
            self.weight,
            self.bias,
            use_input_stats=use_input_stats,
            momentum=factor,
            eps=self.eps,
        )
        return S.squeeze(y, 0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs."""

    n = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs."""

    n = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) inputs."""

    n = 3


class GroupNorm(Module):
    """Group normalisation: ``num_channels`` split into ``num_groups`` groups, each standardised
    over its channels and spatial dims; per-channel weight and bias when ``affine``."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        self.num_groups = _positive_int(num_groups, "num_groups")
        self.num_channels = _positive_int(num_channels, "num_channels")
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={num_channels} must be divisible by "
                f"num_groups={num_groups}"
            )
        self.eps, self.affine = eps, affine
        if affine:
            self.weight = Parameter(_filled((num_channels,), 1.0))
            self.bias = Parameter(_filled((num_channels,), 0.0))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if device is not None or dtype is not None:  # PyTorch's factory keywords
            self.to(device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        """Normalise an (N, C, *S) input."""
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm: expected an input (N, {self.num_channels}, *S), got "
                f"shape {input.shape}"
            )
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """Layer normalisation over the trailing dims ``normalized_shape``, with elementwise weight
    and bias of that shape when ``elementwise_affine`` (``bias=False`` drops the bias)."""

    def __init__(
        self,
        normalized_shape,
        eps=1e-5,
        elementwise_affine=True,
        bias=True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        shape = (
            (normalized_shape,)
            if isinstance(normalized_shape, numbers.Integral)
            else tuple(normalized_shape)
        )
        for s in shape:
            _positive_int(s, "normalized_shape entries")
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one dim")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.register_parameter(
            "weight", Parameter(_filled(shape, 1.0)) if elementwise_affine else None
        )
        self.register_parameter(
            "bias", Parameter(_filled(shape, 0.0)) if elementwise_affine and bias else None
        )
        if device is not None or dtype is not None:  # PyTorch's factory keywords
            self.to(device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        """Normalise over the trailing ``normalized_shape`` dims."""
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
