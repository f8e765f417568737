"""``GradScaler``: dynamic loss scaling for float16 training, with no host read-back.

float16 gradients underflow to zero below ~6e-8; scaling the loss by S (65536 to start)
scales every gradient by S too. ``step`` unscales the gradients and updates the parameters
only when every gradient is finite; ``update`` halves S after an overflow and doubles it after
``growth_interval`` finite steps in a row (unless doubling would overflow float32: S stays).
PyTorch's API and semantics (``scale``, ``step``, ``update``, ``unscale_``, ``get_scale``,
``state_dict``).

Unlike a CPU implementation that asks "was there an inf?" on the host, the decision stays on
the device: the scale and growth tracker are arrays, and a skipped step is a ``where`` that
keeps the old parameters and optimizer state. So a step with a GradScaler still makes one
evaluation, and it can be traced by ``lucid.compile``. ``get_scale()`` and ``state_dict()``
read the values back (on request).
"""

from __future__ import annotations

import math
from typing import Any

from lucid import _backend as B
from lucid.amp.autocast import amp_device
from lucid.optim.optimizer import Optimizer
from lucid.tensor import Tensor

__all__ = ["GradScaler"]


def _positive(name, value, above_one=False):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or math.isinf(value)
    ):
        raise ValueError(f"GradScaler: {name} must be a positive number, got {value!r}")
    if above_one and value <= 1.0:
        raise ValueError(f"GradScaler: {name} must be > 1, got {value!r}")


class GradScaler:
    """Dynamic loss scaling: ``scaler.scale(loss).backward(); scaler.step(opt);
    scaler.update()``.

    ``GradScaler(device="gpu", init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``; with ``enabled=False`` every method is a
    pass-through (``scale`` returns the loss, ``step`` calls ``optimizer.step()``). ``device``
    is read as ``autocast``'s ``device_type``: PyTorch's ``"cuda"``/``"mps"`` where MLX's GPU
    is of another kind (or absent) disable the scaler with a UserWarning, as in PyTorch.
    """

    _array_names = ("_scale", "_growth_tracker")

    def __init__(
        self,
        device: str = "gpu",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        _positive("init_scale", init_scale)
        _positive("growth_factor", growth_factor, above_one=True)
        if not 0.0 < backoff_factor < 1.0:
            raise ValueError(
                f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor!r}"
            )
        if (
            isinstance(growth_interval, bool)
            or not isinstance(growth_interval, int)
            or growth_interval < 1
        ):
            raise ValueError(
                f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}"
            )
        self.device, enabled = amp_device(
            device, enabled, "GradScaler: device", "scaling is disabled"
        )
        self._enabled = bool(enabled)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._scale = B.full((), float(init_scale), dtype=B.DTYPES["float32"])
        self._growth_tracker = B.zeros((), dtype=B.DTYPES["int32"])
        self._per_optimizer: dict = {}  # id(optimizer) -> {"stage", "found_inf"}
        self._found_inf = None  # of this iteration, over every optimizer stepped

    # --- the loop ----------------------------------------------------------------------------
    def is_enabled(self) -> bool:
        """Whether scaling is on."""
        return self._enabled

    def scale(self, outputs):
        """``outputs`` (a Tensor, or a list/tuple of them) multiplied by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if not isinstance(outputs, Tensor):
            raise TypeError(f"GradScaler.scale expects a Tensor, got {type(outputs).__name__}")
        factor = Tensor._wrap(
            B.cast(self._scale, B.dtype_name(outputs.data.dtype))
            if outputs.is_floating_point()
            else self._scale,
            outputs._device,
        )
        return outputs * factor

    def _entry(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": "ready", "found_inf": None})

    def unscale_(self, optimizer: Optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale in place (once per step, before
        ``step``), noting whether any is inf/NaN; e.g. before gradient clipping."""
        if not self._enabled:
            return
        entry = self._entry(optimizer)
        if entry["stage"] == "unscaled":
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()"
            )
        if entry["stage"] == "stepped":
            raise RuntimeError("unscale_() is being called after step()")
        inv = 1.0 / self._scale
        found = B.zeros((), dtype=B.DTYPES["bool"])
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                unscaled = (B.cast(g, "float32") * inv).astype(g.dtype)
                found = found | B.any(B.isnan(unscaled) | B.isinf(unscaled))
                p.grad.data = unscaled
        entry["found_inf"] = found
        entry["stage"] = "unscaled"

    def step(self, optimizer: Optimizer, *args: Any, **kwargs: Any):
        """Unscale (unless ``unscale_`` was called) and run ``optimizer.step()``, keeping the old
        parameters and optimizer state wherever a gradient was inf/NaN (a skipped step)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if args or kwargs.get("closure") is not None:
            raise RuntimeError("GradScaler.step does not support a closure")
        entry = self._entry(optimizer)
        if entry["stage"] == "stepped":
            raise RuntimeError("step() has already been called since the last update()")
        if entry["stage"] == "ready":
            self.unscale_(optimizer)
        found = entry["found_inf"]
        before = _snapshot(optimizer)
        optimizer._evaluates = False  # evaluated below, once, after the skip is applied
        try:
            result = optimizer.step()
        finally:
            optimizer._evaluates = True
        B.evaluate(*_keep_where(found, before, optimizer))
        entry["stage"] = "stepped"
        self._found_inf = found if self._found_inf is None else self._found_inf | found
        return result

    def update(self, new_scale=None) -> None:
        """Adjust the scale for the next iteration: times ``backoff_factor`` after an inf/NaN,
        times ``growth_factor`` after ``growth_interval`` clean steps (kept as it is where that
        would overflow float32 to inf, as PyTorch); or set it to
        ``new_scale`` (a number or a one-element Tensor)."""
        if not self._enabled:
            return
        if new_scale is not None:
            value = new_scale.data if isinstance(new_scale, Tensor) else float(new_scale)
            self._scale = B.reshape(B.cast(B.asarray(value), "float32"), ())
        elif self._found_inf is not None:
            found = self._found_inf
            grown = self._growth_tracker + 1
            grow = grown >= self._growth_interval
            larger = self._scale * self._growth_factor
            # as PyTorch's _amp_update_scale_: a scale that would grow past float32's range
            # to inf stays (an inf scale turns every gradient inf and skips every step)
            larger = B.where(B.isinf(larger), self._scale, larger)
            self._scale = B.where(
                found,
                self._scale * self._backoff_factor,
                B.where(grow, larger, self._scale),
            )
            self._growth_tracker = B.where(found | grow, 0, grown).astype(B.DTYPES["int32"])
        self._per_optimizer.clear()
        self._found_inf = None

    # --- reading and saving --------------------------------------------------------------------
    def get_scale(self) -> float:
        """The current scale (a host read-back; 1.0 when disabled)."""
        return B.item(self._scale) if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        """The factor the scale grows by."""
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after an inf/NaN."""
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        """Clean steps in a row before the scale grows."""
        return self._growth_interval

    def state_dict(self) -> dict:
        """``{"scale", "growth_factor", "backoff_factor", "growth_interval",
        "_growth_tracker"}`` (empty when disabled), as PyTorch."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": int(B.item(self._growth_tracker)),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned."""
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("the state dict is empty: it was saved by a disabled GradScaler")
        self._scale = B.full((), float(state_dict["scale"]), dtype=B.DTYPES["float32"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = B.full(
            (), int(state_dict["_growth_tracker"]), dtype=B.DTYPES["int32"]
        )


def _snapshot(optimizer):
    """Each parameter's array and its optimizer state's values (counts as arrays)."""
    params = [(p, p.data) for g in optimizer.param_groups for p in g["params"]]
    state = {}
    for p, s in optimizer.state.items():
        state[p] = {k: (v, v.data if isinstance(v, Tensor) else v) for k, v in s.items()}
    return params, state


def _keep_where(found, before, optimizer):
    """Where ``found`` (a 0-d bool array), put the snapshot's values back, lazily (state the
    step created goes back to zeros: what a first step starts from). Returns the new arrays."""
    params, state = before
    out = []
    for p, old in params:
        if p.data is not old:
            p.data = B.where(found, old, p.data)
        out.append(p.data)
    for p, s in optimizer.state.items():
        old_entries = state.get(p, {})
        for k, v in list(s.items()):
            old = old_entries.get(k, (None, None))[1]
            if isinstance(v, Tensor):
                base = B.zeros(v.data.shape, dtype=v.data.dtype) if old is None else old
                v.data = B.where(found, base, v.data)
                out.append(v.data)
            elif _is_count(v):
                s[k] = B.where(found, B.asarray(0 if old is None else old), B.asarray(v))
                out.append(s[k])
    return out


def _is_count(v) -> bool:
    """A number or 0-d array kept in optimizer state (e.g. Adam's step count)."""
    return isinstance(v, B.Array) or (isinstance(v, (int, float)) and not isinstance(v, bool))
