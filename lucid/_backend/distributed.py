"""MLX's distributed engine (``mlx.core.distributed``): the only module that touches it.

What MLX 0.32 offers (checked on Linux, CPU-only, and documented in docs/distributed.md):

- ``mx.distributed.init(strict=False, backend="any")`` builds the global group. Backends:
  ``ring`` (TCP sockets, always built in, needs ``MLX_RANK`` and ``MLX_HOSTFILE`` in the
  environment, which ``mlx.launch`` sets), ``mpi`` (needs libmpi), ``nccl`` (CUDA) and
  ``jaccl`` (Thunderbolt RDMA on macOS). With ``strict=False`` and nothing to connect to it
  returns a group of one process; with ``strict=True`` it raises.
- Collectives: ``all_sum``, ``all_max``, ``all_min``, ``all_gather`` (concatenates along
  axis 0), ``send``/``recv``/``recv_like``; ``sum_scatter`` exists but the ring backend raises
  "not supported". They are lazy array ops: the communication happens when the result is
  evaluated, so every rank must evaluate the same collectives in the same order.
- Pitfalls: a ring rank whose peers never start waits for them forever; ``mlx.launch -n 1``
  writes an empty hostfile that makes ring initialisation raise a JSON parse error (handled
  below: one host means one process).

Collectives run on the CPU stream (what the ring and MPI backends implement; on Apple silicon
the memory is shared, so a GPU array costs no copy), except on NCCL, which needs the GPU stream
(that path is untested here: no CUDA machine was available).
"""

from __future__ import annotations

import json
import os

import mlx.core as mx

__all__ = [
    "BACKENDS",
    "is_available",
    "launched_world_size",
    "init",
    "is_initialized",
    "rank",
    "size",
    "all_sum",
    "all_max",
    "all_min",
    "all_gather",
    "send",
    "recv",
]

BACKENDS = ("any", "ring", "mpi", "nccl", "jaccl")

_group = None  # the global mx.distributed.Group once init() ran
_nccl = False  # whether that group runs on NCCL, whose collectives need the GPU stream


def is_available(backend: str = "any") -> bool:
    """True when this MLX build can use ``backend`` (``"any"``: at least one backend)."""
    try:
        return bool(mx.distributed.is_available(backend))
    except (TypeError, ValueError, RuntimeError):  # older MLX: no backend argument
        return backend == "any" and bool(mx.distributed.is_available())


def launched_world_size():
    """How many hosts the launcher's ``MLX_HOSTFILE`` names (a process started by
    ``mlx.launch`` has ``MLX_RANK`` and ``MLX_HOSTFILE`` set), or None when not launched or the
    file cannot be read (MLX then reports the problem itself)."""
    path = os.environ.get("MLX_HOSTFILE")
    if path is None or "MLX_RANK" not in os.environ:
        return None
    try:
        with open(path) as f:
            text = f.read().strip()
        hosts = json.loads(text) if text else []
    except (OSError, ValueError):
        return None
    if isinstance(hosts, dict):
        hosts = hosts.get("hosts", [])
    return len(hosts) if isinstance(hosts, list) else None


def init(backend: str = "any", strict: bool = False):
    """Create (or return) the global group through ``mx.distributed.init``; returns
    ``(rank, size)``. Raises MLX's RuntimeError when it cannot connect."""
    global _group, _nccl
    if _group is not None and (_group.size() > 1 or not strict):
        return _group.rank(), _group.size()
    if launched_world_size() in (0, 1) and backend in ("any", "ring"):
        # mlx.launch with one host writes an empty hostfile that MLX cannot parse (and a
        # one-entry hostfile makes the ring wait for itself): that job is one process
        saved = {k: os.environ.pop(k) for k in ("MLX_HOSTFILE", "MLX_RANK")}
        try:
            _group = mx.distributed.init(strict=False, backend="any")
        finally:
            os.environ.update(saved)
    else:
        _group = mx.distributed.init(strict=strict, backend=backend)
        # NCCL is picked when asked for, or under `mlx.launch --backend nccl` (which sets
        # NCCL_HOST_IP); MLX's Group does not say which backend it runs on
        _nccl = (
            _group.size() > 1
            and _cuda()
            and (backend == "nccl" or (backend == "any" and "NCCL_HOST_IP" in os.environ))
        )
    return _group.rank(), _group.size()


def is_initialized() -> bool:
    """True once :func:`init` created the global group."""
    return _group is not None


def _require():
    if _group is None:
        raise RuntimeError("lucid._backend.distributed: init() has not been called")
    return _group


def rank() -> int:
    """This process's rank in the global group."""
    return _require().rank()


def size() -> int:
    """Number of processes in the global group."""
    return _require().size()


def _cuda() -> bool:
    cuda = getattr(mx, "cuda", None)
    return cuda is not None and cuda.is_available()


def _stream():
    return mx.gpu if _nccl else mx.cpu


def _collective(fn, a):
    """Run an MLX collective on ``a`` and evaluate it now (so every rank runs its collectives in
    program order)."""
    out = fn(a, group=_require(), stream=_stream())
    mx.eval(out)
    return out


def all_sum(a):
    """Element-wise sum of ``a`` over all ranks, evaluated now."""
    return _collective(mx.distributed.all_sum, a)


def all_max(a):
    """Element-wise maximum of ``a`` over all ranks, evaluated now."""
    return _collective(mx.distributed.all_max, a)


def all_min(a):
    """Element-wise minimum of ``a`` over all ranks, evaluated now."""
    return _collective(mx.distributed.all_min, a)


def all_gather(a):
    """Every rank's ``a`` concatenated along axis 0 in rank order, evaluated now."""
    return _collective(mx.distributed.all_gather, a)


def send(a, dst: int) -> None:
    """Send ``a`` to rank ``dst`` (blocks until the matching :func:`recv`)."""
    mx.eval(mx.distributed.send(a, dst, group=_require(), stream=_stream()))


def recv(shape, dtype, src: int):
    """Receive an array of ``shape`` and MLX ``dtype`` from rank ``src``."""
    out = mx.distributed.recv(tuple(shape), dtype, src, group=_require(), stream=_stream())
    mx.eval(out)
    return out
