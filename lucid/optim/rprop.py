"""Resilient backpropagation."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim.optimizer import Optimizer

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Rprop with PyTorch's update rule: each element's step size grows by ``etas[1]`` while
    its gradient keeps its sign and shrinks by ``etas[0]`` when the sign flips (clamped to
    ``step_sizes``); after a flip the gradient counts as 0 (no move, no flip next step);
    ``p -= sign(g) * step_size``. Step sizes start at ``lr``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50.0),
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        )

    def _check_group(self, group):
        self._nonnegative(group, "lr")
        minus, plus = group["etas"]
        if not 0.0 < minus < 1.0 < plus:
            raise ValueError(f"Invalid eta values: {minus}, {plus}")
        lo, hi = group["step_sizes"]
        if not 0.0 <= lo <= hi:
            raise ValueError(f"Invalid step_sizes: {lo}, {hi} (expected 0 <= min <= max)")

    def _update(self, group, param, grad, state):
        (minus, plus), (lo, hi) = group["etas"], group["step_sizes"]
        state["step"] = state.get("step", 0) + 1
        prev, size = state.get("prev"), state.get("step_size")
        prev = B.zeros(param.shape, dtype=param.dtype) if prev is None else prev.data
        size = B.full(param.shape, group["lr"], dtype=param.dtype) if size is None else size.data
        agree = grad * prev

        def scalar(v):  # where() of two Python floats would round them to float32
            return B.full((), v, dtype=param.dtype)

        factor = B.where(agree > 0, scalar(plus), B.where(agree < 0, scalar(minus), scalar(1.0)))
        size = B.clip(size * factor, lo, hi)
        grad = B.where(agree < 0, 0.0, grad)
        self._buffer(state, "step_size", size)
        self._buffer(state, "prev", grad)
        return param - B.sign(grad) * size
