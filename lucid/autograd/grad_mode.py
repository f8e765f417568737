"""Whether operations are recorded for differentiation (thread-local, like PyTorch)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


class _GradState(threading.local):
    """Per-thread grad mode; a thread that never set it reads the class's default."""

    enabled = True


# a class default, not getattr(_state, "enabled", True): a thread that never set the mode (most
# programs: no no_grad() before training) would raise and catch an AttributeError inside every
# recorded op's getattr, ~0.4 us of a ~4 us op
_state = _GradState()


def is_grad_enabled() -> bool:
    """True when new operations are recorded on the tape in this thread."""
    return _state.enabled


def _set_mode(mode: bool) -> None:
    _state.enabled = bool(mode)


class _GradMode:
    """A context manager and decorator that sets grad mode and restores it afterwards."""

    mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set_mode(self.mode)
        return self

    def __exit__(self, *exc):
        _set_mode(self._prev)
        return False

    def __call__(self, fn: Callable[..., Any]):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            prev = is_grad_enabled()
            _set_mode(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _set_mode(prev)

        return wrapper


class set_grad_enabled(_GradMode):
    """Turn recording on or off for this thread, at once (PyTorch's ``set_grad_enabled``): as a
    call, ``lucid.set_grad_enabled(False)``; as a context manager, ``with
    lucid.set_grad_enabled(train):`` restores the previous mode on exit; also a decorator."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, int)):
            raise TypeError(f"set_grad_enabled expects a bool, got {type(mode).__name__}")
        self._prev = is_grad_enabled()
        self.mode = bool(mode)
        _set_mode(self.mode)

    def __enter__(self):
        return self  # the mode was set by the constructor; __exit__ restores the one before

    def __exit__(self, *exc):
        _set_mode(self._prev)
        return False


class no_grad(_GradMode):
    """Do not record operations (inference, optimizer updates): ``with lucid.no_grad(): ...``."""

    mode = False


class enable_grad(_GradMode):
    """Record operations again inside a ``no_grad`` region."""

    mode = True


class inference_mode(_GradMode):
    """PyTorch's ``inference_mode``: like ``no_grad`` (Lucid has no separate inference tensors).
    ``inference_mode(False)`` leaves grad mode as it is; ``@inference_mode`` decorates too."""

    def __new__(cls, mode=True):
        if callable(mode):  # used as a bare decorator: @lucid.inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self._active = bool(mode)

    @property
    def mode(self):
        return False if self._active else is_grad_enabled()
