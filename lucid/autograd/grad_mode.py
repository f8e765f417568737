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


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on or off for this thread."""
    _state.enabled = bool(mode)


class _GradMode:
    """A context manager and decorator that sets grad mode and restores it afterwards."""

    mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._prev)
        return False

    def __call__(self, fn: Callable[..., Any]):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any):
            prev = is_grad_enabled()
            set_grad_enabled(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                set_grad_enabled(prev)

        return wrapper


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
