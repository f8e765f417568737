"""Adagrad."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim.optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad with PyTorch's update rule. With t the step count:

    ``g += weight_decay * p``; ``clr = lr / (1 + (t - 1) lr_decay)``; ``s += g^2`` (s starts at
    ``initial_accumulator_value``); ``p -= clr * g / (sqrt(s) + eps)``.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
        )

    def _check_group(self, group):
        self._nonnegative(
            group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"
        )

    def _update(self, group, param, grad, state):
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        step = state.get("step", 0) + 1
        state["step"] = step
        clr = group["lr"] / (1.0 + (step - 1) * group["lr_decay"])
        acc = state.get("sum")
        acc = (
            B.full(param.shape, group["initial_accumulator_value"], dtype=param.dtype)
            if acc is None
            else acc.data
        ) + grad * grad
        self._buffer(state, "sum", acc)
        return param - clr * grad / (B.sqrt(acc) + group["eps"])
