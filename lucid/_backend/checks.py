"""Index checks that must not cost a host read-back on the training hot path.

MLX's gathers read out-of-range indices silently (garbage, or a crash for large ones). Indices
already on the host are checked at once by the ops. Device-resident indices on the hot path
(embedding ids, class-index targets) are made memory-safe by the op itself (clamped, with the
affected outputs set to NaN) and leave a *deferred check*: a lazy bool "something was out of
range" plus what is needed to name the bad index. It is a ``runtime.defer_check``, so it is
evaluated with the next evaluation Lucid makes anyway (the optimizer's one per step, a host read
such as ``item()``/``numpy()``/printing, or an explicit :func:`check_indices`) and raises
``IndexError`` there, as a GPU framework reports a device-side assertion at the next
synchronisation. ``set_index_checks("eager")`` checks each one immediately instead.
"""

from __future__ import annotations

import contextlib
import threading

import mlx.core as mx
import numpy as np

from lucid._backend import runtime

_MODES = ("deferred", "eager")
_mode = "deferred"
_paused = threading.local()  # per thread: another thread's paused region must not skip ours


def set_index_checks(mode: str) -> None:
    """``"deferred"`` (default: checked at the next evaluation) or ``"eager"`` (at once)."""
    global _mode
    if mode not in _MODES:
        raise ValueError(f"index check mode must be one of {_MODES}, got {mode!r}")
    if mode == "eager":
        check_indices()
    _mode = mode


def index_check_mode() -> str:
    """The current mode, ``"deferred"`` or ``"eager"``."""
    return _mode


@contextlib.contextmanager
def paused():
    """Register no deferred checks inside (the ops stay memory-safe: clamped and NaN-poisoned)."""
    _paused.depth = getattr(_paused, "depth", 0) + 1
    try:
        yield
    finally:
        _paused.depth -= 1


def _raiser(indices, size: int, what: str):
    def fail():
        values = np.array(indices.astype(mx.int64), copy=True).ravel()
        wrong = values[(values < 0) | (values >= size)]
        raise IndexError(
            f"{what}: index {int(wrong[0])} is out of range for an axis of size "
            f"{size} ({wrong.size} of {values.size} entries out of range)"
        )

    return fail


def defer_index_check(bad, indices, size: int, what: str) -> None:
    """Register a check: ``bad`` is a lazy bool array, True when some entry of ``indices`` (a
    backend int array) is outside ``[0, size)``; ``what`` names the op in the message."""
    if getattr(_paused, "depth", 0):
        return
    if runtime.is_tracing():  # lucid.compile returns the check's arrays and registers it
        runtime.traced_check((bad, indices, size, what))
        return
    fail = _raiser(indices, size, what)
    if _mode == "eager":
        runtime.evaluate(bad)
        if bad.item():
            fail()
        return
    runtime.defer_check(bad, fail)


def has_pending() -> bool:
    """True when deferred checks wait for the next evaluation."""
    return runtime.has_pending_checks()


def check_indices(*also) -> None:
    """Evaluate every deferred check now (with the arrays in ``also``, in one pass); raise
    IndexError for the first that failed (all pending checks are consumed either way)."""
    if runtime.has_pending_checks():
        runtime.evaluate(*also)
