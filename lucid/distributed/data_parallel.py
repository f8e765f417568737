"""Data parallelism: the same model on every rank, a different slice of each batch, gradients
averaged after ``backward()`` so every rank takes the same optimizer step.

``average_gradients`` flattens the gradients into a few buffers (one per dtype, split at
``bucket_cap_mb``) and all-sums each buffer once: a handful of collectives per step however many
parameters the model has, rather than one per parameter.
"""

from __future__ import annotations

import numpy as np

from lucid import _backend as B
from lucid._backend import distributed as BD
from lucid.distributed import comm
from lucid.nn.modules.module import Module, Parameter
from lucid.tensor import Tensor

__all__ = [
    "average_gradients",
    "broadcast_parameters",
    "broadcast_buffers",
    "DataParallel",
    "DistributedDataParallel",
]

DEFAULT_BUCKET_MB = 25.0


def _tensors(model_or_params, what):
    """The distinct Tensors of a Module's parameters or of an iterable of Tensors."""
    if isinstance(model_or_params, Module):
        items = list(model_or_params.parameters())
    elif isinstance(model_or_params, Tensor):
        items = [model_or_params]
    else:
        try:
            items = list(model_or_params)
        except TypeError:
            raise TypeError(
                f"{what} expects a Module or an iterable of Tensors, got "
                f"{type(model_or_params).__name__}"
            ) from None
    out, seen = [], set()
    for t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} expects Tensors, got a {type(t).__name__}")
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def plan_buckets(arrays, cap_bytes) -> list:
    """Index lists grouping ``arrays`` into buckets: one dtype per bucket, original order, each
    at most ``cap_bytes`` unless a single array is larger (it then has a bucket of its own)."""
    by_dtype: dict = {}
    for i, a in enumerate(arrays):
        by_dtype.setdefault(B.mx_dtype_of(a), []).append(i)
    buckets = []
    for idx in by_dtype.values():
        current: list[int] = []
        nbytes = 0
        for i in idx:
            size = arrays[i].nbytes
            if current and nbytes + size > cap_bytes:
                buckets.append(current)
                current, nbytes = [], 0
            current.append(i)
            nbytes += size
        if current:
            buckets.append(current)
    return buckets


def average_gradients(model_or_params, bucket_cap_mb: float = DEFAULT_BUCKET_MB) -> None:
    """Replace every parameter's ``.grad`` by its mean over all ranks, in place.

    Call it after ``loss.backward()`` and before ``optimizer.step()``, on every rank, with the
    same parameters in the same order. A parameter without a gradient on some rank counts as a
    zero gradient there; one without a gradient on every rank keeps ``.grad = None``. One
    all-sum per bucket (each bucket also carries per-parameter "has a gradient" flags). A single
    process returns at once.
    """
    if not isinstance(bucket_cap_mb, (int, float)) or bucket_cap_mb <= 0:
        raise ValueError(f"bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
    params = [p for p in _tensors(model_or_params, "average_gradients") if p.requires_grad]
    size = comm.world_size()
    if size == 1 or not params:
        return
    grads = [
        p.grad.data if p.grad is not None else B.zeros(p.data.shape, dtype=p.data.dtype)
        for p in params
    ]
    for bucket in plan_buckets(grads, bucket_cap_mb * 2**20):
        dtype = grads[bucket[0]].dtype
        flags = B.asarray([params[i].grad is not None for i in bucket]).astype(dtype)
        flat = B.concatenate([B.reshape(grads[i], (-1,)) for i in bucket] + [flags])
        flat = BD.all_sum(flat)
        had = B.to_numpy(flat[flat.size - len(bucket) :])
        flat = flat / size
        offset = 0
        for k, i in enumerate(bucket):
            p, n = params[i], grads[i].size
            if had[k] > 0:
                g = B.reshape(flat[offset : offset + n], p.data.shape)
                if p.grad is None:
                    p.grad = Tensor._wrap(g, p._device)
                else:
                    p.grad.data = g
            offset += n


def _assign(t, array):
    if isinstance(t, Parameter):
        t._set_array(array)
    else:
        t.data = array


def _broadcast_tensors(tensors, root, what):
    size = comm.world_size()
    comm._check_root(root, size)
    if size == 1:
        return
    # every rank must hold the same tensor list: compare a signature first, so a mismatch is an
    # error instead of a hang or silently mixed values
    sig = np.array(
        [
            len(tensors),
            sum(t.numel() for t in tensors),
            sum((i + 1) * t.ndim for i, t in enumerate(tensors)),
        ],
        dtype=np.int64,
    )
    everyone = B.to_numpy(BD.all_gather(B.from_numpy(sig[None])))
    if not (everyone == sig).all():
        raise RuntimeError(
            f"{what}: the ranks hold different tensors (count, total size, ranks: "
            f"{everyone.tolist()}): build the same model on every rank"
        )
    for t, array in zip(tensors, comm.broadcast_arrays([t.data for t in tensors], root)):
        _assign(t, array)


def broadcast_parameters(model_or_params, root: int = 0, buffers: bool = True) -> None:
    """Copy rank ``root``'s parameters (and, for a Module with ``buffers``, its buffers such as
    BatchNorm running statistics) to every rank, in place. Call it once after building the model
    so all ranks start from the same weights; a no-op for a single process."""
    tensors = _tensors(model_or_params, "broadcast_parameters")
    if buffers and isinstance(model_or_params, Module):
        tensors += list(model_or_params.buffers())
    _broadcast_tensors(tensors, root, "broadcast_parameters")


def broadcast_buffers(model, root: int = 0) -> None:
    """Copy rank ``root``'s buffers (running statistics, counters) to every rank, in place."""
    if not isinstance(model, Module):
        raise TypeError(f"broadcast_buffers expects a Module, got {type(model).__name__}")
    _broadcast_tensors(list(model.buffers()), root, "broadcast_buffers")


class DataParallel(Module):
    """Wrap ``module`` for data-parallel training across the ranks of ``lucid.distributed``.

    At construction rank ``root``'s parameters and buffers are copied to every rank. Calling the
    wrapper runs ``module`` (in training mode first copying the root's buffers, so plain
    BatchNorm running statistics stay those of rank 0, when ``broadcast_buffers``). After
    ``loss.backward()`` call :meth:`average_gradients`, then ``optimizer.step()``::

        model = DataParallel(Net())
        opt = lucid.optim.SGD(model.parameters(), lr=0.1)
        loss_fn(model(x), y).backward()
        model.average_gradients()
        opt.step()

    Its state dict has PyTorch's ``module.`` prefix; save ``model.module.state_dict()`` for a
    checkpoint that loads into the bare network.
    """

    def __init__(
        self,
        module,
        broadcast_buffers: bool = True,
        bucket_cap_mb: float = DEFAULT_BUCKET_MB,
        root: int = 0,
    ):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel wraps a Module, got {type(module).__name__}")
        if not isinstance(bucket_cap_mb, (int, float)) or bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = bucket_cap_mb
        self.root = root
        broadcast_parameters(module, root=root, buffers=True)

    def forward(self, *args, **kwargs):
        """Run the wrapped module on this rank's share of the batch."""
        if self.training and self.broadcast_buffers and comm.world_size() > 1:
            broadcast_buffers(self.module, self.root)
        return self.module(*args, **kwargs)

    def average_gradients(self) -> None:
        """Average the wrapped module's gradients over all ranks (see :func:`average_gradients`)."""
        average_gradients(self.module, self.bucket_cap_mb)

    def extra_repr(self) -> str:
        return f"world_size={comm.world_size()}, bucket_cap_mb={self.bucket_cap_mb}"


DistributedDataParallel = DataParallel  # PyTorch's name for the same thing
