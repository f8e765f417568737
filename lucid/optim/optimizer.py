"""The optimizer base class: parameter groups, per-parameter state, ``zero_grad``, ``step``
bookkeeping and a ``state_dict`` that round-trips exactly.

Updates are plain backend-array arithmetic on ``param.data``: they are never recorded on the
tape and leave ``param.grad`` as it was. At the end of ``step()`` the new parameters and state
are evaluated in one evaluation (``B.evaluate``), which also evaluates every buffer updated
lazily during the step (BatchNorm's running statistics) and the step's deferred checks: that is
the training step's only evaluation, and MLX's lazy graphs do not grow from one step to the next.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from typing import Any

from lucid import _backend as B
from lucid.autograd.grad_mode import enable_grad
from lucid.optim._checks import check_nonnegative
from lucid.tensor import Tensor

__all__ = ["Optimizer"]

_profile_hook: Any = None  # set by lucid.profiler: hook(optimizer, step, args, kwargs)


def _profiled(step):
    """``step`` timed by ``lucid.profiler`` while a profile is active, a plain call otherwise
    (every class's own ``step`` is wrapped: PyTorch's profiler sees ``Optimizer.step`` alike)."""

    @functools.wraps(step)
    def run(self, *args, **kwargs):
        if _profile_hook is None:
            return step(self, *args, **kwargs)
        return _profile_hook(self, step, args, kwargs)

    return run


class Optimizer:
    """Base class of the optimizers.

    ``params`` is an iterable of Tensors, or of dicts (parameter groups) each with a ``"params"``
    entry and optional per-group hyperparameters overriding ``defaults``. Subclasses implement
    ``_update(group, param, grad, state)`` returning the new parameter array, and may override
    ``_check_group`` to validate hyperparameters.
    """

    _evaluates = True  # False while a GradScaler steps it (the scaler evaluates once, after)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _profiled(cls.__dict__["step"])

    def __init__(self, params: Iterable, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}  # param -> {name: Tensor or number}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors or of dicts (parameter "
                "groups), got a single Tensor: wrap it in a list"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- groups ----------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (a dict with ``"params"``); missing hyperparameters take
        the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizers can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    "can't optimize a non-leaf Tensor (one computed by an op); "
                    "optimize the leaf tensors it was computed from"
                )
            if not p.is_floating_point():
                raise TypeError(f"can only optimize floating-point Tensors, got dtype {p.dtype}")
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError("a parameter appears twice in one parameter group")
        for other in self.param_groups:
            if ids & {id(p) for p in other["params"]}:
                raise ValueError("some parameters appear in more than one parameter group")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate a group's hyperparameters (subclasses raise ValueError naming them)."""

    @staticmethod
    def _nonnegative(group, *names):
        check_nonnegative(group, *names)

    # --- gradients and steps -----------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (set to None, or to zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor._wrap(
                        B.zeros(p.grad.data.shape, dtype=p.grad.data.dtype), p._device
                    )

    @_profiled
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (optional) re-evaluates the
        model and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        touched = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                # on the parameter's own stream: MLX's default (the GPU on a Mac) cannot run a
                # CPU parameter's float64 update
                with B.device_scope(p._device):
                    grad = p.grad.data
                    if grad.dtype != p.data.dtype:
                        grad = grad.astype(p.data.dtype)
                    if group.get("maximize", False):
                        grad = -grad
                    new = self._update(group, p.data, grad, state)
                    if new.dtype != p.data.dtype:  # Python floats must not promote float16 params
                        new = new.astype(p.data.dtype)
                p.data = new
                touched.append(new)
                for v in state.values():
                    if isinstance(v, Tensor):
                        v._device = p._device
                        touched.append(v.data)
        if touched and self._evaluates:
            B.evaluate(*touched)
        return loss

    def _update(self, group: dict, param, grad, state: dict):
        """The new value of one parameter (backend arrays in, backend array out); ``state`` is
        this parameter's dict, updated in place."""
        raise NotImplementedError

    @staticmethod
    def _buffer(state: dict, name: str, array) -> None:
        """Store ``array`` in ``state[name]`` (a Tensor, so state dicts can be saved)."""
        held = state.get(name)
        if held is None:
            state[name] = Tensor._wrap(array)
        else:
            held.data = array

    # --- saving ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}`` with
        parameters replaced by their position across groups; the values are snapshots."""
        index: dict[int, int] = {}
        groups: list[dict] = []
        for group in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            entry["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                entry["params"].append(index[id(p)])
            groups.append(entry)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _saved(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by ``state_dict()`` (e.g. after
        ``lucid.load``); the groups must hold the same numbers of parameters."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(
                "load_state_dict expects the dict from Optimizer.state_dict(), with "
                "keys 'state' and 'param_groups'"
            )
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(
                f"the state dict has {len(saved)} parameter group(s), the optimizer "
                f"has {len(self.param_groups)}"
            )
        for i, (s, g) in enumerate(zip(saved, self.param_groups)):
            if len(s["params"]) != len(g["params"]):
                raise ValueError(
                    f"parameter group {i} has {len(g['params'])} parameter(s) but "
                    f"the state dict's has {len(s['params'])}"
                )
        by_index: dict[int, Tensor] = {}
        for s, g in zip(saved, self.param_groups):
            by_index.update(zip(s["params"], g["params"]))
        new_state = {}
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(
                    f"the state dict has state for parameter {key}, which no parameter group lists"
                )
            new_state[p] = {k: self._restore(v, p, k) for k, v in values.items()}
        for s, g in zip(saved, self.param_groups):
            for k, v in s.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)
        self.state = new_state

    @staticmethod
    def _restore(value, param, name):
        if not isinstance(value, Tensor):
            return copy.deepcopy(value)
        if value.ndim == 0 and param.ndim != 0:  # a count saved by another program as a tensor
            return value.item()
        data = value.data
        if tuple(data.shape) != param.shape:
            raise ValueError(
                f"state {name!r} has shape {tuple(data.shape)}, its parameter {param.shape}"
            )
        if B.is_floating(data.dtype):  # follow the parameter's dtype, as PyTorch does
            data = data.astype(param.data.dtype)
        return Tensor._wrap(data, param._device)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        return "\n".join(lines) + "\n)"


def _saved(value):
    """A snapshot of one state entry: Tensors share their array; a count that a compiled step
    or a GradScaler keeps as a 0-d array is read back as a number (state_dict is on request)."""
    if isinstance(value, Tensor):
        return Tensor._wrap(value.data, value._device)
    if isinstance(value, B.Array):
        return B.item(value)
    return copy.deepcopy(value)
