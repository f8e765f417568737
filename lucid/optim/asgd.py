"""Averaged SGD."""

from __future__ import annotations

from collections.abc import Iterable

from lucid.optim.optimizer import Optimizer

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """Averaged SGD (Polyak-Ruppert) with PyTorch's update rule. With t the step count:
    ``g += weight_decay * p``; ``p = p (1 - lambd eta) - eta g``; the average ``ax`` copies
    ``p`` while ``mu == 1`` and moves ``ax += mu (p - ax)`` after; then
    ``eta = lr / (1 + lambd lr t) ** alpha`` and ``mu = 1 / max(1, t - t0)``. The average is
    ``optimizer.state[p]["ax"]``."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize
            ),
        )

    def _check_group(self, group):
        self._nonnegative(group, "lr", "weight_decay")

    def _update(self, group, param, grad, state):
        lr, lambd, alpha, wd = group["lr"], group["lambd"], group["alpha"], group["weight_decay"]
        if wd:
            grad = grad + wd * param
        step = state.get("step", 0) + 1
        state["step"] = step
        eta, mu = state.get("eta", lr), state.get("mu", 1.0)
        param = param * (1.0 - lambd * eta) - eta * grad
        ax = state.get("ax")
        self._buffer(
            state, "ax", param if mu == 1 or ax is None else ax.data + (param - ax.data) * mu
        )
        state["eta"] = lr / (1.0 + lambd * lr * step) ** alpha
        state["mu"] = 1.0 / max(1.0, step - group["t0"])
        return param
