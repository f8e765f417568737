"""Process group and collectives on Tensors: ``init``, ``rank``, ``world_size``, ``all_reduce``,
``all_gather``, ``broadcast``, ``barrier``.

Every call goes through ``lucid._backend.distributed`` (MLX's ``mx.distributed``). Collectives
are blocking and must be called by every rank in the same order; they are not recorded on the
autograd tape (their results are constants).
"""

from __future__ import annotations

import numpy as np

from lucid import _backend as B
from lucid._backend import distributed as BD
from lucid.tensor import Tensor

__all__ = [
    "init",
    "is_available",
    "is_initialized",
    "rank",
    "world_size",
    "all_reduce",
    "all_gather",
    "broadcast",
    "barrier",
]

HOW_TO_LAUNCH = (
    "start one process per rank with MLX's launcher, e.g. `mlx.launch -n 2 --backend ring "
    "python train.py` on this machine, or `mlx.launch --hostfile hosts.json --backend ring "
    "python train.py` across machines (see docs/distributed.md); or set MLX_RANK and "
    "MLX_HOSTFILE yourself. init(strict=False) runs as a single process instead"
)

_OPS = ("sum", "mean", "max", "min")


def is_available(backend: str = "any") -> bool:
    """True when this MLX build includes the named distributed backend."""
    return BD.is_available(backend)


def init(backend: str = "any", strict: bool = False) -> None:
    """Join the distributed job through ``mx.distributed.init(strict, backend)``.

    ``backend`` is ``"any"`` (the first that connects), ``"ring"``, ``"mpi"``, ``"nccl"`` or
    ``"jaccl"``. Started without a launcher, ``strict=False`` gives a group of one process
    (every collective a no-op) and ``strict=True`` raises RuntimeError. Calling it again keeps
    the existing group. Raises RuntimeError (saying how to launch) when MLX cannot initialise,
    or when this process was launched as one of several ranks but ended up alone.
    """
    if not isinstance(backend, str) or backend not in BD.BACKENDS:
        raise ValueError(f"backend must be one of {BD.BACKENDS}, got {backend!r}")
    if strict and not BD.is_available(backend):
        raise RuntimeError(
            f"MLX's distributed backend {backend!r} is not available in this MLX "
            f"build (the ring backend always is; mpi needs an MPI library, nccl "
            f"CUDA, jaccl macOS with Thunderbolt RDMA). To run data-parallel, "
            f"{HOW_TO_LAUNCH}."
        )
    try:
        _, size = BD.init(backend, strict)
    except RuntimeError as exc:
        raise RuntimeError(
            f"lucid.distributed.init(backend={backend!r}, strict={strict}) failed "
            f"in MLX: {exc}. To run data-parallel, {HOW_TO_LAUNCH}."
        ) from exc
    launched = BD.launched_world_size()
    if size == 1 and launched is not None and launched > 1:
        raise RuntimeError(
            f"this process was launched as one of {launched} ranks (MLX_RANK and "
            f"MLX_HOSTFILE are set) but init(backend={backend!r}) gave a group of "
            "one process: call init() with backend='any' or the backend it was "
            "launched with"
        )


def is_initialized() -> bool:
    """True once :func:`init` ran (explicitly, or implicitly by a collective)."""
    return BD.is_initialized()


def _ensure() -> int:
    """The world size, joining the job first (``init()``, as MLX does) if nobody did."""
    if not BD.is_initialized():
        init()
    return BD.size()


def rank() -> int:
    """This process's rank, 0 .. world_size() - 1 (0 for a single process)."""
    _ensure()
    return BD.rank()


def world_size() -> int:
    """Number of processes in the job (1 for a single process)."""
    return _ensure()


def _array_of(tensor, what):
    if isinstance(tensor, Tensor):
        return tensor.data, tensor._device
    try:
        return B.asarray(tensor), "cpu"
    except TypeError:
        raise TypeError(
            f"{what} expects a Tensor or array-like, got {type(tensor).__name__}"
        ) from None


def _check_root(root, size):
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < size:
        raise ValueError(f"root must be a rank in [0, {size}), got {root!r}")


def all_reduce(tensor, op: str = "sum") -> Tensor:
    """A new Tensor: ``tensor`` reduced element-wise over all ranks with ``op`` (``"sum"``,
    ``"mean"``, ``"max"`` or ``"min"``). Not differentiable: the result is a constant off the
    tape. ``"mean"`` needs a floating dtype."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {_OPS}, got {op!r}")
    data, device = _array_of(tensor, "all_reduce")
    if op == "mean" and not B.is_floating(data.dtype):
        raise TypeError(
            f"all_reduce(op='mean') needs a floating tensor, got dtype {B.dtype_name(data.dtype)}"
        )
    size = _ensure()
    if size > 1:
        if op in ("sum", "mean"):
            data = BD.all_sum(data)
        else:
            data = BD.all_max(data) if op == "max" else BD.all_min(data)
        if op == "mean":
            data = data / size
    else:
        data = B.array(data)  # a copy, as with several ranks: the result never aliases the input
    return Tensor._wrap(data, device)


def all_gather(tensor) -> Tensor:
    """Every rank's ``tensor`` (same shape on all ranks) concatenated along axis 0 in rank
    order; a 0-d tensor gives a vector of world_size() values. Not differentiable."""
    data, device = _array_of(tensor, "all_gather")
    if data.ndim == 0:
        data = B.reshape(data, (1,))
    if _ensure() > 1:
        data = BD.all_gather(data)
    return Tensor._wrap(data, device)


def broadcast_arrays(arrays, root: int = 0) -> list:
    """Root's values of a list of backend arrays (same shapes and dtypes on every rank).

    One collective per dtype: arrays are flattened into one buffer, zeroed on the other ranks
    and all-summed, which copies the root's values exactly.
    """
    size = _ensure()
    _check_root(root, size)
    if size == 1 or not arrays:
        return list(arrays)
    me = BD.rank()
    out = list(arrays)
    by_dtype: dict = {}
    for i, a in enumerate(arrays):
        by_dtype.setdefault(B.mx_dtype_of(a), []).append(i)
    for idx in by_dtype.values():
        flat = B.concatenate([B.reshape(arrays[i], (-1,)) for i in idx])
        if me != root:
            flat = B.zeros(flat.shape, dtype=flat.dtype)
        flat = BD.all_sum(flat)
        offset = 0
        for i in idx:
            n = arrays[i].size
            out[i] = B.reshape(flat[offset : offset + n], arrays[i].shape)
            offset += n
    return out


def broadcast(tensor, root: int = 0) -> Tensor:
    """A new Tensor holding rank ``root``'s values of ``tensor`` (same shape and dtype on every
    rank). Not differentiable."""
    data, device = _array_of(tensor, "broadcast")
    return Tensor._wrap(broadcast_arrays([data], root)[0], device)


def barrier() -> None:
    """Return only when every rank has reached its barrier()."""
    if _ensure() > 1:
        BD.all_sum(B.zeros((1,), dtype=B.DTYPES["int32"]))


def all_ok(ok: bool) -> bool:
    """True when ``ok`` is true on every rank (a barrier that also shares a success flag, so
    one rank's failure does not leave the others waiting)."""
    if _ensure() == 1:
        return bool(ok)
    failures = BD.all_sum(B.asarray([0 if ok else 1], "int32"))
    return int(B.to_numpy(failures)[0]) == 0
