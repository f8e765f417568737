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
are evaluated as a whole by its caller, and a host read-back raises. Draws from the default
generator there split a key that is an input of the compiled function (:func:`random_key`), not
the default generator's; an explicit generator's key is captured state of the step.

Threads: MLX (0.32) gives each thread its own streams, and a lazy array can be evaluated only in
the thread whose stream it was recorded on. So the deferred work, the tracing flag, the traced
key and the generator are per thread: an evaluation flushes what its own thread deferred, never
another thread's half-built arrays, and a draw never splits a key another thread left lazy (the
main thread has the global generator; each other thread its own, see :func:`seed_generator`).
When a thread ends, its deferred work is evaluated and its MLX streams are destroyed while
Python still runs it (:func:`release_thread`): left to MLX, they are torn down after ``join()``
has returned, racing the interpreter's exit (an abort, "terminate called without an active
exception").
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import warnings

import mlx.core as mx
import numpy as np

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
    "is_default_key",
    "is_tracing",
    "next_key",
    "peak_memory",
    "random_key",
    "read",
    "release_thread",
    "reset_peak_memory",
    "rng_key",
    "seed_generator",
    "seed_key",
    "set_default_key_holder",
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


class _ThreadState:
    """One thread's pending work and tracing depth. Dropped when the thread ends (CPython
    clears a thread's ``threading.local`` data in that thread, before ``join()`` returns), which
    releases the thread's MLX streams then."""

    def __init__(self) -> None:
        self.deferred: dict = {}  # id(holder) -> [holder, updates since the last evaluation]
        self.checks: list = []  # (flag array, fail callable)
        self.tracing = 0
        self.key: list = [None]  # this thread's generator key (threads other than the main one)
        self.owner = threading.get_ident()
        self.is_main = threading.current_thread() is threading.main_thread()

    def __del__(self) -> None:
        # the main thread's streams live until exit (destroying them early aborts MLX), and a
        # state freed elsewhere (module teardown) is not its thread's to release
        if self.is_main or threading.get_ident() != self.owner:
            return
        try:
            _release(self)
        except Exception as exc:  # noqa: BLE001 (nobody is left to raise it to)
            warnings.warn(
                f"a thread ended with failed deferred work: {exc}", RuntimeWarning, stacklevel=1
            )


class _Local(threading.local):
    """Holds each thread's ``_ThreadState`` (made at the thread's first use)."""

    def __init__(self) -> None:
        self.state = _ThreadState()


class _ThreadStack(threading.local):
    """A stack (``append``, ``pop``, ``[-1]``, truth) of which each thread has its own."""

    def __init__(self) -> None:
        self.items: list = []

    def append(self, item) -> None:
        """Push ``item`` on this thread's stack."""
        self.items.append(item)

    def pop(self):
        """Pop this thread's top item."""
        return self.items.pop()

    def __getitem__(self, i):
        return self.items[i]

    def __setitem__(self, i, item):
        self.items[i] = item

    def __len__(self) -> int:
        return len(self.items)


_local = _Local()


def _state() -> _ThreadState:
    """The calling thread's state."""
    return _local.state


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
def _flush_list(state):
    arrays = [h.data for h, _ in state.deferred.values()]
    arrays += [flag for flag, _ in state.checks]
    return arrays


def _after_flush(state):
    state.deferred.clear()
    checks = list(state.checks)
    state.checks.clear()
    for flag, fail in checks:
        if flag.item():
            fail()


def _eval(*arrays) -> None:
    """``mx.eval``, with MLX's error for an array recorded on another thread's stream explained."""
    try:
        mx.eval(*arrays)
    except RuntimeError as exc:
        if "in current thread" not in str(exc):
            raise
        raise RuntimeError(
            f"{exc} A tensor computed lazily in one thread can be evaluated only there (MLX "
            "gives each thread its own streams): read it there first (e.g. numpy()), or make "
            "it in this thread."
        ) from exc


def evaluate(*arrays):
    """Compute ``arrays`` now, with this thread's deferred buffer updates and checks (one
    evaluation)."""
    state = _state()
    if state.tracing:
        return
    _notify("eval")
    _eval(*arrays, *_flush_list(state))
    _after_flush(state)


def read(a, kind="read"):
    """Evaluate ``a`` for a host read-back (``kind="kernel"``: a host kernel's input, which
    leaves deferred work for later)."""
    state = _state()
    if state.tracing:
        raise RuntimeError(
            "a host read-back (item(), numpy(), a NumPy kernel) cannot happen "
            "inside a compiled function"
        )
    _notify(kind)
    if kind == "kernel":
        _eval(a)
        return a
    _eval(a, *_flush_list(state))
    _after_flush(state)
    return a


def async_evaluate(*arrays):
    """Start computing ``arrays`` without waiting for them."""
    if not _state().tracing:
        _notify("async")
        mx.async_eval(*arrays)


def defer(holder) -> None:
    """Evaluate ``holder.data`` (a lazily updated buffer) with this thread's next evaluation."""
    state = _state()
    if state.tracing:
        return
    entry = state.deferred.setdefault(id(holder), [holder, 0])
    entry[1] += 1
    if entry[1] >= MAX_DEFERRED_UPDATES:  # nobody evaluates: cut the chain without waiting
        _notify("async")
        mx.async_eval(holder.data)
        entry[1] = 0


def defer_check(flag, fail) -> None:
    """Call ``fail()`` (which raises) at this thread's next evaluation if the boolean array
    ``flag`` is True then."""
    state = _state()
    if state.tracing:
        return
    state.checks.append((flag, fail))
    if len(state.checks) >= MAX_DEFERRED_UPDATES:
        evaluate()


def has_pending_checks() -> bool:
    """True when deferred checks of this thread wait for its next evaluation."""
    return bool(_state().checks)


def is_tracing() -> bool:
    """True while this thread traces a function for ``mx.compile``."""
    return _state().tracing > 0


@contextlib.contextmanager
def tracing():
    """Mark a region of this thread as traced by ``mx.compile`` (no evaluations, host kernels
    avoided); other threads keep evaluating."""
    state = _state()
    state.tracing += 1
    try:
        yield
    finally:
        state.tracing -= 1


def _release(state) -> None:
    """Evaluate ``state``'s deferred work (raising a failed check), then destroy the calling
    thread's MLX streams (an older MLX, with one set of streams for all threads, has no
    ``clear_streams``: nothing to destroy)."""
    try:
        if state.deferred or state.checks:
            _notify("eval")
            _eval(*_flush_list(state))
            _after_flush(state)
    finally:
        clear = getattr(mx, "clear_streams", None)
        if clear is not None:
            clear()


def release_thread() -> None:
    """End this thread's use of MLX (not the main thread's): evaluate its deferred work, so
    that buffers it updated can be read by other threads (a failed deferred check raises here),
    and destroy its MLX streams, whose arrays must all be evaluated by then. CPython does this
    by itself when a thread ends; call it as a thread's last Lucid call to get a failed check
    raised, or where thread-local data outlives the thread."""
    state = _state()
    if state.is_main:
        raise RuntimeError("release_thread() is for threads other than the main thread")
    _release(state)


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


_trace_key = _ThreadStack()  # per thread: keys of the active random_key scopes, innermost last
# The default generator's key lives in one holder: an object whose ``data`` is the key array.
# ``lucid.random`` registers ``lucid.default_generator``'s key Tensor here at import, so the
# default Generator's state IS the main thread's global key (MLX's own cannot be set back).
_default_key: list = [None]
_generator_lock = threading.Lock()
_seeded: list = [None]  # the main thread's last seed (None: unseeded), other threads start from
_thread_rank = itertools.count(1)  # threads in the order of their first draw (atomic: the GIL)


class _KeyHolder:
    """A key holder (``data`` is the key array): the default generator's until ``lucid.random``
    registers its Generator's Tensor, and each non-main thread's own."""

    def __init__(self, data):
        self.data = data


def _default_holder():
    holder = _default_key[0]
    if holder is None:  # only before lucid.random is imported: start where MLX's generator is
        holder = _default_key[0] = _KeyHolder(mx.random.state[0])
    return holder


def _key_holder():
    """The calling thread's default key holder: the default Generator's in the main thread;
    another thread has its own (MLX evaluates a lazy key only in the thread that split it, so
    threads cannot split one key in turn), first keyed from the main thread's seed and the
    thread's rank."""
    state = _state()
    if state.is_main:
        return _default_holder()
    if state.key[0] is None:
        entropy = None if _seeded[0] is None else [_seeded[0], next(_thread_rank)]
        seed = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
        state.key[0] = _KeyHolder(mx.random.key(int(seed)))
    return state.key[0]


def seed_key(seed: int):
    """The key of a 64-bit ``seed``: two uint32 words (high, low)."""
    return mx.random.key(int(seed))


def set_default_key_holder(holder) -> None:
    """Make ``holder`` (an object whose ``data`` is a key array) the default generator's key:
    draws given no generator split it from now on (outside :func:`random_key` scopes)."""
    with _generator_lock:
        _default_key[0] = holder


def is_default_key(holder) -> bool:
    """True for None and for the default generator's key holder."""
    return holder is None or holder is _default_key[0]


def seed_generator(seed: int) -> None:
    """Seed the calling thread's default generator (the global one in the main thread; MLX's
    too, for draws Lucid does not make)."""
    mx.random.seed(int(seed))
    holder = _key_holder()
    with _generator_lock:
        holder.data = mx.random.key(int(seed))
        if holder is _default_key[0]:
            _seeded[0] = int(seed)


def rng_key():
    """The key the next draw from the default generator splits: the innermost
    :func:`random_key` scope's inside one, else the calling thread's default key."""
    if _trace_key:
        return _trace_key[-1]
    return _key_holder().data


def set_rng_key(key) -> None:
    """Make ``key`` (from :func:`rng_key`) the key the next default draw splits."""
    if _trace_key:
        _trace_key[-1] = key
    else:
        holder = _key_holder()
        with _generator_lock:
            holder.data = key


@contextlib.contextmanager
def random_key(key):
    """Inside, draws from the default generator split ``key`` (a traced input, or a key saved
    by :func:`rng_key`) instead of the default generator's key, which the scope leaves
    untouched: ``with random_key(rng_key()):`` repeats the draws that would follow. Draws from
    an explicit generator (a key holder given to :func:`next_key`) are not affected."""
    _trace_key.append(key)
    try:
        yield
    finally:
        _trace_key.pop()


def next_key(holder=None):
    """A fresh subkey for one random draw. ``holder`` is a generator's key holder (an object
    whose ``data`` is its key, which is advanced); None (or the default generator's holder)
    splits the current default key (:func:`rng_key`)."""
    if is_default_key(holder):
        if _trace_key:
            key, sub = mx.random.split(_trace_key[-1])
            _trace_key[-1] = key
            return sub
        holder = _key_holder()
    with _generator_lock:
        key, sub = mx.random.split(holder.data)
        holder.data = key
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
