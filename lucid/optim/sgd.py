"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable

from lucid.optim.optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with PyTorch's update rule. For each parameter with gradient g:

    ``g += weight_decay * p``; with ``momentum`` m > 0, ``buf = g`` on the first step and
    ``buf = m * buf + (1 - dampening) * g`` after, then ``g = g + m * buf`` (``nesterov``) or
    ``g = buf``; finally ``p -= lr * g``. ``maximize`` ascends instead.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _check_group(self, group):
        self._nonnegative(group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, group, param, grad, state):
        wd, m = group["weight_decay"], group["momentum"]
        if wd:
            grad = grad + wd * param
        if m:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad
            else:
                buf = m * buf.data + (1.0 - group["dampening"]) * grad
            self._buffer(state, "momentum_buffer", buf)
            grad = grad + m * buf if group["nesterov"] else buf
        return param - group["lr"] * grad
