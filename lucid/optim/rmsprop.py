"""RMSprop (optionally centered, with momentum)."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim.optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop with PyTorch's update rule:

    ``g += weight_decay * p``; ``s = alpha s + (1 - alpha) g^2``; ``centered`` also keeps
    ``a = alpha a + (1 - alpha) g`` and uses ``s - a^2``; ``d = sqrt(.) + eps``; with
    ``momentum`` m, ``buf = m buf + g / d`` and ``p -= lr buf``, else ``p -= lr g / d``.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
            ),
        )

    def _check_group(self, group):
        self._nonnegative(group, "lr", "alpha", "eps", "weight_decay", "momentum")

    def _update(self, group, param, grad, state):
        alpha, wd, m = group["alpha"], group["weight_decay"], group["momentum"]
        if wd:
            grad = grad + wd * param
        state["step"] = state.get("step", 0) + 1
        sq = state.get("square_avg")
        sq = (
            (1.0 - alpha) * grad * grad
            if sq is None
            else alpha * sq.data + (1.0 - alpha) * grad * grad
        )
        self._buffer(state, "square_avg", sq)
        if group["centered"]:
            ga = state.get("grad_avg")
            ga = (1.0 - alpha) * grad if ga is None else alpha * ga.data + (1.0 - alpha) * grad
            self._buffer(state, "grad_avg", ga)
            sq = sq - ga * ga
        denom = B.sqrt(sq) + group["eps"]
        if m > 0:
            buf = state.get("momentum_buffer")
            buf = grad / denom if buf is None else m * buf.data + grad / denom
            self._buffer(state, "momentum_buffer", buf)
            return param - group["lr"] * buf
        return param - group["lr"] * grad / denom
