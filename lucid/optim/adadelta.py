"""Adadelta."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim._checks import check_range
from lucid.optim.optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler) with PyTorch's update rule: ``g += weight_decay * p``;
    ``s = rho s + (1 - rho) g^2``; ``d = sqrt(a + eps) / sqrt(s + eps) * g``;
    ``a = rho a + (1 - rho) d^2``; ``p -= lr d``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        )

    def _check_group(self, group):
        self._nonnegative(group, "lr", "eps", "weight_decay")
        check_range(group, "rho", 0.0, 1.0)

    def _update(self, group, param, grad, state):
        rho, eps, wd = group["rho"], group["eps"], group["weight_decay"]
        if wd:
            grad = grad + wd * param
        state["step"] = state.get("step", 0) + 1
        sq, acc = state.get("square_avg"), state.get("acc_delta")
        sq = (1.0 - rho) * grad * grad if sq is None else rho * sq.data + (1.0 - rho) * grad * grad
        acc = B.zeros(param.shape, dtype=param.dtype) if acc is None else acc.data
        delta = B.sqrt(acc + eps) / B.sqrt(sq + eps) * grad
        self._buffer(state, "square_avg", sq)
        self._buffer(state, "acc_delta", rho * acc + (1.0 - rho) * delta * delta)
        return param - group["lr"] * delta
