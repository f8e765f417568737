"""Index checks that must not cost a host read-back on the training hot path.

MLX's gathers read out-of-range indices silently (garbage, or a crash for large ones). Indices
already on the host are checked at once by the ops. Device-resident indices on the hot path
(embedding ids, class-index targets) are made memory-safe by the op itself (clamped, with the
affected outputs set to NaN) and leave a *deferred check* here: a lazy bool "something was out of
range" plus what is needed to name the bad index. The checks are evaluated, all at once, at the
next host read of any tensor (``item()``, ``numpy()``, ``tolist()``, printing...) or at an
explicit :func:`check_indices`, and raise ``IndexError`` there. ``set_index_checks("eager")``
checks each one immediately instead (a host read per call).
"""

from __future__ import annotations

import contextlib

import mlx.core as mx
import numpy as np

_MODES = ("deferred", "eager")
_mode = "deferred"
_pending: list = []  # (bad flag, indices, size, what)
_MAX_PENDING = 256  # without any host read for this many checks, check them now (bounded memory)
_paused = 0


def set_index_checks(mode: str) -> None:
    """``"deferred"`` (default: checked at the next host read) or ``"eager"`` (checked at once)."""
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
    """Register no deferred checks inside (the ops stay memory-safe: clamped and NaN-poisoned).
    For code traced by ``mx.compile``, whose arrays cannot be evaluated outside the trace."""
    global _paused
    _paused += 1
    try:
        yield
    finally:
        _paused -= 1


def defer_index_check(bad, indices, size: int, what: str) -> None:
    """Register a check: ``bad`` is a lazy bool array, True when some entry of ``indices`` (a
    backend int array) is outside ``[0, size)``; ``what`` names the op in the message."""
    if _paused:
        return
    _pending.append((bad, indices, size, what))
    if _mode == "eager" or len(_pending) >= _MAX_PENDING:
        check_indices()


def has_pending() -> bool:
    """True when deferred checks wait for the next host read."""
    return bool(_pending)


def check_indices(*also) -> None:
    """Evaluate every deferred index check now; raise IndexError for the first that failed
    (all pending checks are consumed either way). Arrays in ``also`` (what the caller is about
    to read) are evaluated in the same pass: one synchronisation, not two."""
    if not _pending:
        return
    checks = list(_pending)
    _pending.clear()
    mx.eval(*[bad for bad, *_ in checks], *also)
    for bad, indices, size, what in checks:
        if bad.item():
            values = np.array(indices.astype(mx.int64), copy=True).ravel()
            wrong = values[(values < 0) | (values >= size)]
            raise IndexError(f"{what}: index {int(wrong[0])} is out of range for an axis of size "
                             f"{size} ({wrong.size} of {values.size} entries out of range)")
