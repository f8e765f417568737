"""``SyncBatchNorm``: batch normalisation whose batch statistics span every rank's batch.

Plain ``BatchNorm*d`` under data parallelism normalises each rank's slice of the batch with
that slice's own mean and variance (and each rank's running statistics drift apart; see
``DataParallel(broadcast_buffers=True)``). With small per-rank batches -- common for 3D volumes
-- those statistics are noisy. ``SyncBatchNorm`` computes them over the whole global batch:

- forward: each rank's per-channel (count, mean, M2) is all-gathered and combined with Chan's
  parallel formula (numerically stable, unlike sum / sum-of-squares), one collective;
- backward: the per-channel sums of ``g`` and ``g * y`` are all-summed (one collective) and
  ``dx = rstd * (g - sum(g) / N - y * sum(g * y) / N)`` with global sums and the global count N,
  which is the gradient of the sum of every rank's loss with respect to this rank's input.

So a step of data-parallel training with ``SyncBatchNorm`` and averaged gradients equals a
single-process step with ``BatchNorm`` on the concatenated batch (when the ranks' batches have
equal size). Every rank must run the same forward and backward passes (the collectives are
matched in order). Eval mode uses the running statistics, with no communication.
"""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid._backend import distributed as BD
from lucid.distributed import comm
from lucid.nn.functional import normalization as F
from lucid.nn.modules.normalization import _BatchNorm
from lucid.ops._util import op, record

__all__ = ["SyncBatchNorm", "sync_standardize"]

_HALF = ("float16", "bfloat16")


def _all_gather(a):
    return BD.all_gather(a) if comm.world_size() > 1 else a


def _all_sum(a):
    return BD.all_sum(a) if comm.world_size() > 1 else a


@op
def sync_standardize(x, eps=1e-5):
    """Standardise an ``(N, C, *S)`` input per channel with statistics over N and S of every
    rank. Returns ``(y, mean, var, count)``: ``y`` on the tape, the global per-channel mean and
    biased variance as ``(C,)`` backend arrays, and the global number of values per channel."""
    channels = x.shape[1]
    axes = [0] + list(range(2, x.ndim))
    keep = (1, channels) + (1,) * (x.ndim - 2)
    name = B.dtype_name(x.data.dtype)
    xd = B.cast(x.data, "float32") if name in _HALF else x.data
    local = math.prod(x.shape[a] for a in axes)
    if local:
        mean_l = B.mean(xd, axis=axes)
        m2_l = B.sum(B.square(xd - B.reshape(mean_l, keep)), axis=axes)
    else:  # an empty slice on this rank still takes part in the collectives
        mean_l = m2_l = B.zeros((channels,), dtype=xd.dtype)
    stats = B.concatenate([B.full((1,), float(local), dtype=xd.dtype), mean_l, m2_l])
    table = _all_gather(B.reshape(stats, (1, -1)))  # (ranks, 1 + 2C)
    counts, means, m2s = table[:, :1], table[:, 1 : 1 + channels], table[:, 1 + channels :]
    total = float(B.to_numpy(B.sum(counts)))
    if total <= 1:
        raise ValueError(
            f"SyncBatchNorm: expected more than 1 value per channel over all ranks "
            f"when training, got {int(total)} (this rank's input {x.shape})"
        )
    mean = B.sum(counts * means, axis=0) / total
    var = B.sum(m2s + counts * B.square(means - mean), axis=0) / total
    rstd = B.reshape(1.0 / B.sqrt(var + eps), keep)
    y = (xd - B.reshape(mean, keep)) * rstd

    def backward(g):
        g = B.cast(g, B.dtype_name(y.dtype))
        sums = B.concatenate([B.sum(g, axis=axes), B.sum(g * y, axis=axes)])
        sums = _all_sum(sums)
        sum_g = B.reshape(sums[:channels], keep)
        sum_gy = B.reshape(sums[channels:], keep)
        return (B.cast(rstd * (g - sum_g / total - y * (sum_gy / total)), name),)

    return record(B.cast(y, name), (x,), backward, "SyncStandardize"), mean, var, total


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation of ``(N, C, *S)`` inputs (any number of spatial dims) with batch
    statistics synchronised across all ranks while training; same parameters, buffers and
    state-dict keys as ``BatchNorm*d``. In a single process it equals ``BatchNorm*d``.
    :meth:`convert_sync_batchnorm` swaps it in for the BatchNorm layers of a model."""

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm expects an input (N, C, *S), got shape {input.shape}")
        self._check_channels(input, 1)

    def forward(self, input):
        """Normalise ``input`` per channel (global batch statistics while training)."""
        self._check_input_dim(input)
        if not self.training:  # running statistics, or this rank's batch when none are kept
            return F.batch_norm(
                input,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                training=not self.track_running_stats,
                momentum=0.0,
                eps=self.eps,
            )
        factor = self._factor()
        y, mean, var, total = sync_standardize(input, self.eps)
        if self.track_running_stats:  # the one update of BatchNorm: lazy, cut with the step
            F.update_running_stats(self.running_mean, self.running_var, mean, var, total, factor)
        return F.affine(y, self.weight, self.bias)

    @classmethod
    def convert_sync_batchnorm(cls, module):
        """``module`` with every ``BatchNorm1d/2d/3d`` replaced by a SyncBatchNorm that keeps
        the same Parameter objects (optimizers stay valid) and buffers. Returns the module (a
        new object only when ``module`` itself is a BatchNorm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            new = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
            )
            for name in ("weight", "bias"):
                if module._parameters.get(name) is not None:
                    setattr(new, name, module._parameters[name])
            for name, buf in module._buffers.items():
                new.register_buffer(name, buf)
            new.train(module.training)
            return new
        for name, child in list(module._modules.items()):
            if child is not None:
                converted = cls.convert_sync_batchnorm(child)
                if converted is not child:
                    module._modules[name] = converted
        return module
