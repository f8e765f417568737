"""When MLX computes: evaluations, deferred buffer updates, deferred checks, tracing, memory.

MLX is lazy: nothing runs until something is evaluated, and on a GPU every evaluation is a
round trip that drains the command queue. So Lucid evaluates in as few places as it can, and
every evaluation it makes goes through :func:`evaluate` (or :func:`read` for a host read-back),
which tells the listeners added with :func:`add_eval_listener` -- a test counts evaluations per
training step that way.

Work that would otherwise force an evaluation in the middle of a step is deferred to the next
one:

- ``defer(holder)``: a buffer updated lazily (BatchNorm running statistics, batch counts). Its
  array is evaluated together with the next evaluation, which cuts its lazy chain (a chain
  never grows past ``MAX_DEFERRED_UPDATES`` updates: past that it is handed to
  ``mx.async_eval``, which does not wait).
- ``defer_check(flag, fail)``: a validation whose outcome lives on the device (e.g. "a class
  index is out of range"). The flag is evaluated with the next evaluation and ``fail()`` raises
  there, as a GPU framework reports a device-side assertion at the next synchronisation.

Inside :func:`tracing` (``lucid.compile`` building an ``mx.compile`` graph) nothing may be
evaluated: evaluations and deferrals are no-ops there, because the compiled function's outputs
are evaluated as a whole by its caller, and a host read-back raises. Random draws there split a
key that is an input of the compiled function (:func:`random_key`), not MLX's global key.
"""

from __future__ import annotations

import contextlib

import mlx.core as mx

__all__ = [
    "MAX_DEFERRED_UPDATES",
    "active_memory",
    "add_eval_listener",
    "async_evaluate",
    "cache_memory",
    "clear_cache",
    "compile_function",
    "defer",
    "defer_check",
    "evaluate",
    "fresh_key",
    "get_rng_key",
    "has_pending_checks",
    "is_tracing",
    "next_key",
    "peak_memory",
    "random_key",
    "read",
    "reset_peak_memory",
    "set_cache_limit",
    "set_memory_limit",
    "tracing",
]

MAX_DEFERRED_UPDATES = 64

_listeners: dict = {}
_deferred: dict = {}  # id(holder) -> [holder, updates since the last evaluation]
_checks: list = []  # (flag array, fail callable)
_tracing = 0


# --- counting -------------------------------------------------------------------------------
class _ListenerHandle:
    def __init__(self, key):
        self._key = key

    def remove(self):
        """Stop calling the listener."""
        _listeners.pop(self._key, None)


def add_eval_listener(fn):
    """Call ``fn(kind)`` at every evaluation the library makes: ``kind`` is ``"eval"`` (an
    evaluation of arrays), ``"read"`` (a host read-back: ``item()``, ``numpy()``) or
    ``"kernel"`` (an input handed to a host kernel, e.g. the NumPy convolution). Returns a
    handle whose ``remove()`` unregisters it."""
    key = object()
    _listeners[key] = fn
    return _ListenerHandle(key)


def _notify(kind):
    for fn in list(_listeners.values()):
        fn(kind)


# --- evaluation -----------------------------------------------------------------------------
def _flush_list():
    arrays = [h.data for h, _ in _deferred.values()]
    arrays += [flag for flag, _ in _checks]
    return arrays


def _after_flush():
    _deferred.clear()
    checks = list(_checks)
    _checks.clear()
    for flag, fail in checks:
        if flag.item():
            fail()


def evaluate(*arrays):
    """Compute ``arrays`` now, with every deferred buffer update and check (one evaluation)."""
    if _tracing:
        return
    _notify("eval")
    mx.eval(*arrays, *_flush_list())
    _after_flush()


def read(a, kind="read"):
    """Evaluate ``a`` for a host read-back (``kind="kernel"``: a host kernel's input, which
    leaves deferred work for later)."""
    if _tracing:
        raise RuntimeError(
            "a host read-back (item(), numpy(), a NumPy kernel) cannot happen "
            "inside a compiled function"
        )
    _notify(kind)
    if kind == "kernel":
        mx.eval(a)
        return a
    mx.eval(a, *_flush_list())
    _after_flush()
    return a


def async_evaluate(*arrays):
    """Start computing ``arrays`` without waiting for them."""
    if not _tracing:
        _notify("async")
        mx.async_eval(*arrays)


def defer(holder) -> None:
    """Evaluate ``holder.data`` (a lazily updated buffer) with the next evaluation."""
    if _tracing:
        return
    entry = _deferred.setdefault(id(holder), [holder, 0])
    entry[1] += 1
    if entry[1] >= MAX_DEFERRED_UPDATES:  # nobody evaluates: cut the chain without waiting
        _notify("async")
        mx.async_eval(holder.data)
        entry[1] = 0


def defer_check(flag, fail) -> None:
    """Call ``fail()`` (which raises) at the next evaluation if the boolean array ``flag`` is
    True then."""
    if _tracing:
        return
    _checks.append((flag, fail))
    if len(_checks) >= MAX_DEFERRED_UPDATES:
        evaluate()


def has_pending_checks() -> bool:
    """True when deferred checks wait for the next evaluation."""
    return bool(_checks)


def is_tracing() -> bool:
    """True while a function is being traced for ``mx.compile``."""
    return _tracing > 0


@contextlib.contextmanager
def tracing():
    """Mark a region as traced by ``mx.compile`` (no evaluations, host kernels avoided)."""
    global _tracing
    _tracing += 1
    try:
        yield
    finally:
        _tracing -= 1


def compile_function(fn):
    """``mx.compile(fn)`` (``fn`` maps a list of arrays to a list of arrays)."""
    return mx.compile(fn)


_trace_key: list = []  # keys of the active random_key scopes, innermost last


def fresh_key():
    """A new random key drawn from the current generator (see :func:`get_rng_key`), advancing
    it: the input a compiled function's random draws start from. Inside a :func:`random_key`
    scope it is a subkey of the scope's key, so a traced region draws nothing from MLX's
    global generator (which would make the key a constant of the trace)."""
    if _trace_key:
        return next_key()
    return mx.random.randint(0, 2**31 - 1, (2,), dtype=mx.int32).astype(mx.uint32)


@contextlib.contextmanager
def random_key(key):
    """Inside, :func:`next_key` splits ``key`` (a traced input, or a key saved by
    :func:`get_rng_key`) instead of MLX's global key, which the scope leaves untouched."""
    _trace_key.append(key)
    try:
        yield
    finally:
        _trace_key.pop()


def get_rng_key() -> mx.array:
    """The current random key: the innermost :func:`random_key` scope's key, else MLX's global
    key (``mx.random.state[0]``). Reading it draws nothing; the next random draw splits this
    key, so ``with random_key(get_rng_key()):`` repeats the draws that follow it."""
    if _trace_key:
        return _trace_key[-1]
    return mx.random.state[0]  # type: ignore[index]  # typed object in the stubs: a sequence


def next_key():
    """None (use the global generator) outside a :func:`random_key` scope; inside, a fresh
    subkey, split off the scope's key as MLX's generator splits its global key."""
    if not _trace_key:
        return None
    key, sub = mx.random.split(_trace_key[-1])
    _trace_key[-1] = key
    return sub


# --- memory ---------------------------------------------------------------------------------
def active_memory() -> int:
    """Bytes held by live arrays."""
    return mx.get_active_memory()


def peak_memory() -> int:
    """Largest ``active_memory()`` since start or the last ``reset_peak_memory()``."""
    return mx.get_peak_memory()


def cache_memory() -> int:
    """Bytes MLX keeps cached for reuse (not held by arrays)."""
    return mx.get_cache_memory()


def reset_peak_memory() -> None:
    """Start measuring the peak afresh."""
    mx.reset_peak_memory()


def set_memory_limit(limit: int) -> int:
    """Set MLX's memory limit in bytes; returns the previous one."""
    return mx.set_memory_limit(int(limit))


def set_cache_limit(limit: int) -> int:
    """Set MLX's cache limit in bytes (0 disables the cache); returns the previous one."""
    return mx.set_cache_limit(int(limit))


def clear_cache() -> None:
    """Return MLX's cached memory to the system."""
    mx.clear_cache()
