"""``meshgrid``: coordinate grids from 1-D tensors (PyTorch's ``indexing`` convention)."""

from __future__ import annotations

import warnings

from lucid.ops.shape import broadcast_to, reshape
from lucid.tensor import Tensor


def meshgrid(*tensors, indexing=None):
    """One tensor per input, each broadcast to the grid's shape: ``indexing="ij"`` gives shape
    ``(len(t0), len(t1), ...)``, ``"xy"`` swaps the first two. ``None`` means ``"ij"`` with
    PyTorch's warning. Gradients flow back (summed over the broadcast)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn(
            "torch.meshgrid: in an upcoming release, it will be required to pass the "
            "indexing argument.",
            UserWarning,
            stacklevel=2,
        )
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if not isinstance(t, Tensor) or t.ndim > 1:
            raise ValueError(
                f"meshgrid expects 0-D or 1-D tensors, got {getattr(t, 'shape', type(t).__name__)}"
            )
    sizes = [t.numel() for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(sizes[i] for i in order)
    out = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(i)] = sizes[i]
        out.append(broadcast_to(reshape(t, tuple(view)), shape))
    return tuple(out)
