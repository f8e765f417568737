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
key that is an input of the compiled function (:func:`random_key`), not the global generator's.
"""

from __future__ import annotations

import contextlib
import threading

import mlx.core as mx

__all__ = [
    "MAX_DEFERRED_UPDATES",
    "active_memory",
    "add_eval_listener",
    "async_evaluate",
    "cache_memory",
    "clear_cache",
    "collecting_checks",
    "compile_function",
    "defer",
    "defer_check",
    "evaluate",
    "has_pending_checks",
    "is_tracing",
    "next_key",
    "peak_memory",
    "random_key",
    "read",
    "reset_peak_memory",
    "rng_key",
    "seed_generator",
    "set_rng_key",
    "set_cache_limit",
    "set_memory_limit",
    "synchronize",
    "traced_check",
    "traced_write",
    "tracing",
    "watching_writes",
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


_watch = threading.local()


@contextlib.contextmanager
def watching_writes(fn):
    """Inside, every in-place write to a Tensor (its ``data`` setter) during tracing calls
    ``fn(tensor)`` first: ``lucid.compile`` refuses writes to tensors it did not capture."""
    stack = _watch.__dict__.setdefault("stack", [])
    stack.append(fn)
    try:
        yield
    finally:
        stack.pop()


def traced_write(tensor) -> None:
    """Tell the innermost :func:`watching_writes` watcher of this thread about a write."""
    stack = getattr(_watch, "stack", None)
    if stack:
        stack[-1](tensor)


@contextlib.contextmanager
def collecting_checks():
    """Inside, deferred checks registered while tracing are appended to the yielded list (a
    compiled function returns their arrays and registers them after each call)."""
    stack = _watch.__dict__.setdefault("checks", [])
    found: list = []
    stack.append(found)
    try:
        yield found
    finally:
        stack.pop()


def traced_check(check) -> None:
    """Hand a check registered while tracing to the innermost :func:`collecting_checks`."""
    stack = getattr(_watch, "checks", None)
    if stack:
        stack[-1].append(check)


def compile_function(fn):
    """``mx.compile(fn)`` (``fn`` maps a list of arrays to a list of arrays)."""
    return mx.compile(fn)


_trace_key: list = []  # keys of the active random_key scopes, innermost last
_generator: list = [None]  # Lucid's global generator: its key (MLX's global key cannot be set back)
_generator_lock = threading.Lock()


def seed_generator(seed: int) -> None:
    """Seed Lucid's global generator (and MLX's, for draws Lucid does not make)."""
    mx.random.seed(int(seed))
    with _generator_lock:
        _generator[0] = mx.random.key(int(seed))


def rng_key():
    """The key the next random draw splits: the innermost :func:`random_key` scope's inside
    one, else the global generator's."""
    if _trace_key:
        return _trace_key[-1]
    with _generator_lock:
        if _generator[0] is None:  # unseeded: start where MLX's time-seeded generator is
            _generator[0] = mx.random.state[0]
        return _generator[0]


def set_rng_key(key) -> None:
    """Make ``key`` (from :func:`rng_key`) the key the next random draw splits."""
    if _trace_key:
        _trace_key[-1] = key
    else:
        with _generator_lock:
            _generator[0] = key


@contextlib.contextmanager
def random_key(key):
    """Inside, :func:`next_key` splits ``key`` (a traced input, or a key saved by
    :func:`rng_key`) instead of the global generator's key, which the scope leaves untouched:
    ``with random_key(rng_key()):`` repeats the draws that would follow."""
    _trace_key.append(key)
    try:
        yield
    finally:
        _trace_key.pop()


def next_key():
    """A fresh subkey for one random draw, split off the current key (:func:`rng_key`)."""
    if _trace_key:
        key, sub = mx.random.split(_trace_key[-1])
        _trace_key[-1] = key
        return sub
    with _generator_lock:
        if _generator[0] is None:
            _generator[0] = mx.random.state[0]
        key, sub = mx.random.split(_generator[0])
        _generator[0] = key
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


def synchronize(device: str) -> None:
    """Wait until the work MLX has queued on ``device``'s stream (``"cpu"`` or ``"gpu"``) is
    done. Lazy arrays nobody has evaluated are not queued work: evaluate them first."""
    mx.synchronize(mx.default_stream(mx.gpu if device == "gpu" else mx.cpu))
