"""Data-parallel training on MLX's distributed engine (``mlx.core.distributed``).

Lucid starts no processes and opens no sockets of its own: ``mlx.launch`` starts one process per
rank, and MLX's backends (``ring`` over TCP, ``mpi``, ``nccl`` on CUDA, ``jaccl`` on Thunderbolt)
carry the collectives. ``lucid._backend.distributed`` is the only module that calls MLX here.

    mlx.launch -n 2 --backend ring python examples/train_shapes3d_distributed.py --epochs 1

(MLX 0.32's launcher runs the command as given: name ``python`` or pass ``--python``.)

What MLX 0.32 offers, as checked on Linux (CPU-only MLX 0.32.4, two processes on 127.0.0.1):

- ``ring`` works across local processes, started by ``mlx.launch -n 2 --backend ring`` or by
  setting ``MLX_RANK`` and ``MLX_HOSTFILE`` (a JSON list with one ``["ip:port"]`` list per rank)
  yourself; connecting takes well under a second. ``mpi``, ``nccl`` and ``jaccl`` are
  unavailable in that build.
- ``init()`` without a launcher gives a group of one process (rank 0, size 1) and every
  collective is then the identity; ``init(strict=True)`` raises instead. A rank whose peers never
  start waits for them forever.
- Collectives: ``all_sum``, ``all_max``, ``all_min``, ``all_gather``, ``send``/``recv``. The ring
  backend raises "not supported" for ``sum_scatter`` (reduce-scatter) and for group ``split``.
  float32, float64 and integer arrays all reduce. There is no broadcast and no barrier: Lucid
  builds them from ``all_sum`` (the other ranks contribute zeros, which copies the root's values
  exactly).

What this package builds on top:

- ``init(backend="any", strict=False)``, ``rank()``, ``world_size()``, ``is_initialized()``;
  ``rank()``/``world_size()``/collectives join the job lazily if ``init()`` was not called.
- ``all_reduce(t, op="sum"|"mean"|"max"|"min")``, ``all_gather``, ``broadcast``, ``barrier``:
  results are new Tensors off the autograd tape (not differentiable).
- ``broadcast_parameters(model, root=0)``, ``average_gradients(model_or_params)`` (gradients
  flattened into a few dtype buckets: one all-sum per bucket per step) and the
  ``DataParallel(model)`` wrapper combining them.
- ``DistributedSampler`` for ``lucid.data.DataLoader(sampler=...)``.
- ``SyncBatchNorm``: forward statistics and backward terms all-reduced across ranks (a real
  op with its backward). Plain ``BatchNorm*d`` under data parallelism normalises with each
  rank's own batch statistics -- the per-rank batch is the effective BatchNorm batch -- and its
  running statistics differ per rank (``DataParallel`` copies rank 0's into the others before
  every training forward).
- ``save_on_rank0(obj, path)``: rank 0 writes with ``lucid.save``, then all ranks synchronise.

Every rank must call the collectives (and ``backward`` through SyncBatchNorm) in the same
order. Everything is a no-op in a single process. See docs/distributed.md.
"""

from lucid.distributed.checkpoint import save_on_rank0  # noqa: F401
from lucid.distributed.comm import (
    all_gather,
    all_reduce,
    barrier,
    broadcast,  # noqa: F401
    init,
    is_available,
    is_initialized,
    rank,
    world_size,
)
from lucid.distributed.data_parallel import (
    DataParallel,
    DistributedDataParallel,  # noqa: F401
    average_gradients,
    broadcast_buffers,
    broadcast_parameters,
)
from lucid.distributed.sampler import DistributedSampler  # noqa: F401
from lucid.distributed.sync_batchnorm import SyncBatchNorm  # noqa: F401

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
    "broadcast_parameters",
    "broadcast_buffers",
    "average_gradients",
    "DataParallel",
    "DistributedDataParallel",
    "DistributedSampler",
    "SyncBatchNorm",
    "save_on_rank0",
]
