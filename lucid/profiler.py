"""``lucid.profiler``: which ops a program runs, how often, and where its time (and memory) goes.

    with lucid.profiler.profile(record_memory=True) as prof:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    prof.export_chrome_trace("trace.json")  # open in chrome://tracing or ui.perfetto.dev

Recorded while a :class:`profile` is active, in every thread:

- every op call (each function of ``lucid.ops``/``lucid.nn.functional`` built on the op
  decorator), named by its function (``conv``, ``add``, ``batch_norm``...); an op called by
  another op is its child, so its time counts in the caller's total but not in its self time;
- every tape node replayed by ``backward()``, named ``<Node>Backward`` as the node prints
  (``ConvBackward``); with ``create_graph=True`` the ops of its rule are its children;
- every ``Optimizer.step`` (``Optimizer.step#Adam.step``, PyTorch's name), the ops of a
  ``closure`` inside it;
- every call of a ``lucid.compile``'d function (``lucid.compile: step``) -- and not the ops
  inside: a compiled call runs one MLX graph, and the Python that ran while tracing it is not
  the work. A call that traces includes its tracing time. The first call of a compiled
  *training* step runs eagerly (it creates the optimizer's state), so its ops are recorded;
- the ranges the program names with :class:`record_function`.

**MLX is lazy.** An op only records work; MLX computes it when a result is needed. With
``sync=True`` (the default) the profiler evaluates each op's inputs before starting its clock and
its result before stopping it, so the time of each op is its own computation (plus dispatch).
This changes the schedule: MLX can no longer fuse or overlap ops, and the program runs one
evaluation per op, so the total is slower than the unprofiled program. ``sync=False`` leaves the
program's evaluations as they were: the times are then Python dispatch (recording the graph),
and the computation lands wherever the program evaluates (``Optimizer.step``, ``item()``).

Times are wall-clock microseconds, the PyTorch unit (``cpu_time_total``: the call;
``self_cpu_time_total``: less its children). With ``record_memory=True`` each event records
the change in :func:`lucid.memory.active` across it (``cpu_memory_usage``; meaningful with
``sync=True``: a lazy result holds no memory yet) and the highest active memory during it above
its start (``peak_memory_usage``). MLX's memory counters are process-wide, so this resets
:func:`lucid.memory.peak` at every event, and other threads' allocations count too.

When no profile is active each hook is one ``is not None`` check of a module global (in the op
decorator, per tape node, per optimizer step and per compiled call): nothing else runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from lucid import _backend as B, memory
from lucid.autograd import graph
from lucid.ops import _util
from lucid.optim import optimizer as _optimizer
from lucid.tensor import Tensor
from lucid.utils import pytree

# the module (``lucid.compile`` the attribute is the function)
_compile_module: Any = import_module("lucid.compile")

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "profile", "record_function"]

_active: profile | None = None  # the profile recording now (one at a time)
_lock = threading.Lock()

SORT_KEYS = (
    "cpu_time_total",
    "self_cpu_time_total",
    "cpu_time",
    "self_cpu_time",
    "cpu_memory_usage",
    "self_cpu_memory_usage",
    "peak_memory_usage",
    "count",
)


class FunctionEvent:
    """One recorded call: ``name``, ``kind`` (``"op"``, ``"backward"``, ``"optimizer"``,
    ``"compiled"`` or ``"user"``), ``thread``, its times in microseconds (``cpu_time_total``,
    ``self_cpu_time_total``), ``input_shapes`` (with ``record_shapes``) and, with
    ``record_memory``, ``cpu_memory_usage`` / ``self_cpu_memory_usage`` / ``peak_memory_usage``
    in bytes."""

    __slots__ = (
        "name",
        "kind",
        "thread",
        "start_ns",
        "end_ns",
        "child_ns",
        "input_shapes",
        "mem_start",
        "cpu_memory_usage",
        "child_memory",
        "peak_memory_usage",
        "peak_seen",
        "owner",
    )

    def __init__(self, name: str, kind: str, thread: int, input_shapes=()):
        self.name, self.kind, self.thread = name, kind, thread
        self.input_shapes = input_shapes
        self.start_ns = self.end_ns = self.child_ns = 0
        self.mem_start = self.cpu_memory_usage = self.child_memory = 0
        self.peak_memory_usage = self.peak_seen = 0
        self.owner: Any = None  # the optimizer of a step event (its nested super().step)

    @property
    def cpu_time_total(self) -> float:
        """Wall time of the call in microseconds, children included."""
        return (self.end_ns - self.start_ns) / 1e3

    @property
    def self_cpu_time_total(self) -> float:
        """Wall time of the call in microseconds, less its children's."""
        return (self.end_ns - self.start_ns - self.child_ns) / 1e3

    @property
    def self_cpu_memory_usage(self) -> int:
        """The change in active memory across the call, less its children's changes."""
        return self.cpu_memory_usage - self.child_memory

    def __repr__(self) -> str:
        return (
            f"<FunctionEvent {self.name} ({self.kind}) total={self.cpu_time_total:.1f}us "
            f"self={self.self_cpu_time_total:.1f}us>"
        )


class FunctionEventAvg:
    """The events of one ``key`` (a name; with ``group_by_input_shape``, a name and its input
    shapes) added up: ``count``, ``cpu_time_total``, ``self_cpu_time_total``, their averages
    ``cpu_time`` and ``self_cpu_time`` (microseconds), ``cpu_memory_usage`` and
    ``self_cpu_memory_usage`` (summed bytes) and ``peak_memory_usage`` (the largest)."""

    def __init__(self, key: str, kind: str, input_shapes=()):
        self.key, self.kind, self.input_shapes = key, kind, input_shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = self.peak_memory_usage = 0

    def add(self, e: FunctionEvent) -> None:
        """Count one more event of this key."""
        self.count += 1
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.cpu_memory_usage += e.cpu_memory_usage
        self.self_cpu_memory_usage += e.self_cpu_memory_usage
        self.peak_memory_usage = max(self.peak_memory_usage, e.peak_memory_usage)

    @property
    def cpu_time(self) -> float:
        """Average wall time per call in microseconds."""
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def self_cpu_time(self) -> float:
        """Average self time per call in microseconds."""
        return self.self_cpu_time_total / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return (
            f"<FunctionEventAvg {self.key} count={self.count} "
            f"total={self.cpu_time_total:.1f}us self={self.self_cpu_time_total:.1f}us>"
        )


class EventList(list):
    """A list of events (or of averages, from :meth:`profile.key_averages`) that prints as a
    table."""

    def __init__(self, items: Iterable = (), record_memory: bool = False):
        super().__init__(items)
        self.record_memory = record_memory

    def table(
        self,
        sort_by: str | None = None,
        row_limit: int = 100,
        max_name_column_width: int = 55,
    ) -> str:
        """The rows as a text table, sorted by ``sort_by`` (largest first; one of
        ``SORT_KEYS``; None keeps the order), at most ``row_limit`` of them (-1: all)."""
        rows = list(self)
        if sort_by is not None:
            if sort_by not in SORT_KEYS:
                raise ValueError(f"table: sort_by must be one of {SORT_KEYS}, got {sort_by!r}")
            rows.sort(key=lambda r: getattr(r, sort_by), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        self_total = sum(r.self_cpu_time_total for r in self)
        shapes = any(getattr(r, "input_shapes", ()) for r in rows)
        head = ["Name", "Self %", "Self", "Total %", "Total", "Avg"]
        if self.record_memory:
            head += ["Mem", "Self mem", "Peak mem"]
        head += ["Calls"] + (["Input shapes"] if shapes else [])
        body = []
        for r in rows:
            name = _key(r)
            if len(name) > max_name_column_width:
                name = name[: max_name_column_width - 3] + "..."
            count = getattr(r, "count", 1)
            line = [
                name,
                _percent(r.self_cpu_time_total, self_total),
                _time(r.self_cpu_time_total),
                _percent(r.cpu_time_total, self_total),
                _time(r.cpu_time_total),
                _time(r.cpu_time_total / count if count else 0.0),
            ]
            if self.record_memory:
                line += [
                    _bytes(r.cpu_memory_usage),
                    _bytes(r.self_cpu_memory_usage),
                    _bytes(r.peak_memory_usage),
                ]
            line.append(str(count))
            if shapes:
                line.append(str([list(s) for s in r.input_shapes]))
            body.append(line)
        widths = [max(len(x) for x in col) for col in zip(head, *body)]
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))

        def fmt(cells):
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
            return "  ".join([first, *rest]).rstrip()

        out = [rule, fmt(head), rule, *(fmt(line) for line in body), rule]
        out.append(f"Self time total: {_time(self_total)}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def _key(r) -> str:
    return r.key if isinstance(r, FunctionEventAvg) else r.name


def _percent(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole > 0 else "-"


def _time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _arrays(values, out: list) -> list:
    """The backend arrays among ``values`` (Tensors, arrays, one level of lists/tuples)."""
    for v in values:
        if isinstance(v, Tensor):
            out.append(v._data)
        elif isinstance(v, B.Array):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for w in v:
                if isinstance(w, Tensor):
                    out.append(w._data)
                elif isinstance(w, B.Array):
                    out.append(w)
    return out


def _shapes(args) -> tuple:
    """Each argument's shape (a list of Tensors: a tuple of shapes; anything else: ())."""
    shapes: list = []
    for a in args:
        if isinstance(a, Tensor):
            shapes.append(tuple(a.shape))
        elif isinstance(a, (list, tuple)) and a and isinstance(a[0], Tensor):
            shapes.append(tuple(tuple(t.shape) for t in a if isinstance(t, Tensor)))
        else:
            shapes.append(())
    return tuple(shapes)


class _Thread(threading.local):
    """One thread's open events and the call the hook lets through (see ``_util.PASS``)."""

    def __init__(self):
        self.stack: list[FunctionEvent] = []
        self.passing: Any = None


class profile:
    """Record the ops, backward nodes, optimizer steps and compiled calls run inside
    ``with lucid.profiler.profile() as prof:`` (see the module docstring).

    ``sync`` (default True): evaluate each op's inputs and result inside its event, so its
    time is its computation (this changes MLX's schedule); False: times are Python dispatch
    only. ``record_memory`` (PyTorch's ``profile_memory`` is accepted as an alias): record
    each event's change in active memory and its peak. ``record_shapes``: record the input
    shapes of each op (``key_averages(group_by_input_shape=True)`` groups by them). One
    profile can be active at a time.
    """

    def __init__(
        self,
        *,
        sync: bool = True,
        record_memory: bool = False,
        record_shapes: bool = False,
        profile_memory: bool | None = None,
    ):
        for name, value in (
            ("sync", sync),
            ("record_memory", record_memory),
            ("record_shapes", record_shapes),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"profile: {name} must be a bool, got {type(value).__name__}")
        if profile_memory is not None:
            record_memory = bool(profile_memory)
        self.sync, self.record_memory, self.record_shapes = sync, record_memory, record_shapes
        self._events: list[FunctionEvent] = []
        self._thread = _Thread()
        self._recording = False
        self._used = False
        self._t0 = 0

    # --- the context ---------------------------------------------------------------------------
    def __enter__(self) -> profile:
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("lucid.profiler: a profile is already active")
            if self._used:
                raise RuntimeError("lucid.profiler: a profile records once; make a new one")
            self._used = True
            _active = self
            self._recording = True
            self._t0 = time.perf_counter_ns()
            _util.set_profile_hook(self._op_hook)
            graph._profile_hook = self._node_hook
            _optimizer._profile_hook = self._step_hook
            _compile_module._profile_hook = self._compiled_hook
        return self

    def __exit__(self, *exc) -> None:
        global _active
        with _lock:
            _util.set_profile_hook(None)
            graph._profile_hook = None
            _optimizer._profile_hook = None
            _compile_module._profile_hook = None
            self._recording = False
            _active = None

    # --- recording -----------------------------------------------------------------------------
    def _begin(self, name: str, kind: str, shapes=()) -> FunctionEvent:
        stack = self._thread.stack
        ev = FunctionEvent(name, kind, threading.get_ident(), shapes)
        if self.record_memory:
            seen = memory.peak()
            if stack:  # the peak so far belongs to the enclosing event: fold it in first
                stack[-1].peak_seen = max(stack[-1].peak_seen, seen)
            ev.mem_start = ev.peak_seen = memory.active()
            memory.reset_peak()
        stack.append(ev)
        ev.start_ns = time.perf_counter_ns()
        return ev

    def _end(self, ev: FunctionEvent) -> None:
        ev.end_ns = time.perf_counter_ns()
        stack = self._thread.stack
        while stack and stack.pop() is not ev:  # (an event left open by an error is dropped)
            pass
        parent = stack[-1] if stack else None
        if self.record_memory:
            ev.peak_seen = max(ev.peak_seen, memory.peak())
            ev.peak_memory_usage = ev.peak_seen - ev.mem_start
            ev.cpu_memory_usage = memory.active() - ev.mem_start
            if parent is not None:
                parent.peak_seen = max(parent.peak_seen, ev.peak_seen)
                parent.child_memory += ev.cpu_memory_usage
        if parent is not None:
            parent.child_ns += ev.end_ns - ev.start_ns
        if self._recording:
            self._events.append(ev)

    def _evaluate(self, *values) -> None:
        arrays = _arrays(values, [])
        if arrays:
            B.evaluate(*arrays)

    def _op_hook(self, fn, run, args, kwargs):
        state = self._thread
        if state.passing is fn:  # our own call below: the op runs as usual
            state.passing = None
            return _util.PASS
        if B.is_tracing():  # ops traced by lucid.compile are not the work (module docstring)
            return _util.PASS
        if self.sync:
            self._evaluate(*args, *kwargs.values())
        ev = self._begin(run.__name__, "op", _shapes(args) if self.record_shapes else ())
        try:
            state.passing = fn
            out = run(*args, **kwargs)
            if self.sync:
                self._evaluate(out)
        finally:
            state.passing = None
            self._end(ev)
        return out

    def _node_hook(self, node, g, t, create_graph):
        if B.is_tracing():
            return graph.node_grads(node, g, t, create_graph)
        if self.sync:
            self._evaluate(g)
        ev = self._begin(node.name + "Backward", "backward")
        try:
            grads = graph.node_grads(node, g, t, create_graph)
            if self.sync:
                self._evaluate(*grads)
        finally:
            self._end(ev)
        return grads

    def _step_hook(self, opt, step, args, kwargs):
        if B.is_tracing() or any(e.owner is opt for e in self._thread.stack):
            return step(opt, *args, **kwargs)  # (a subclass's step calling super().step)
        ev = self._begin(f"Optimizer.step#{type(opt).__name__}.step", "optimizer")
        ev.owner = opt
        try:
            out = step(opt, *args, **kwargs)
            if self.sync:
                self._evaluate([p for group in opt.param_groups for p in group["params"]])
        finally:
            ev.owner = None
            self._end(ev)
        return out

    def _compiled_hook(self, compiled, args, kwargs):
        state = self._thread
        if state.passing is compiled:
            state.passing = None
            return _util.PASS
        if B.is_tracing():
            return _util.PASS
        fn = compiled.fn
        name = getattr(fn, "__name__", None) or type(fn).__name__
        if self.sync:
            self._evaluate(*args, *kwargs.values())
        ev = self._begin(f"lucid.compile: {name}", "compiled")
        try:
            state.passing = compiled
            out = compiled(*args, **kwargs)
            if self.sync:
                self._evaluate(*pytree.flatten(out)[0])
        finally:
            state.passing = None
            self._end(ev)
        return out

    # --- results -------------------------------------------------------------------------------
    def events(self) -> EventList:
        """Every recorded event, in the order they started."""
        return EventList(sorted(self._events, key=lambda e: e.start_ns), self.record_memory)

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """One :class:`FunctionEventAvg` per event name (and input shapes, with
        ``group_by_input_shape``), in the order each first ran."""
        groups: dict = {}
        for e in self.events():
            key = (e.name, e.input_shapes) if group_by_input_shape else e.name
            avg = groups.get(key)
            if avg is None:
                shapes = e.input_shapes if group_by_input_shape else ()
                avg = groups[key] = FunctionEventAvg(e.name, e.kind, shapes)
            avg.add(e)
        return EventList(groups.values(), self.record_memory)

    def export_chrome_trace(self, path) -> None:
        """Write the events as Chrome trace-event JSON (``{"traceEvents": [...]}``, complete
        events ``"ph": "X"`` with ``ts``/``dur`` in microseconds from the profile's start):
        open it in chrome://tracing or https://ui.perfetto.dev."""
        pid = os.getpid()
        trace: list[dict] = [
            {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": "lucid"}}
        ]
        for e in self.events():
            args: dict = {}
            if e.input_shapes:
                args["input_shapes"] = [list(s) for s in e.input_shapes]
            if self.record_memory:
                args["memory_bytes"] = e.cpu_memory_usage
                args["peak_memory_bytes"] = e.peak_memory_usage
            trace.append(
                {
                    "name": e.name,
                    "cat": e.kind,
                    "ph": "X",
                    "ts": (e.start_ns - self._t0) / 1e3,
                    "dur": (e.end_ns - e.start_ns) / 1e3,
                    "pid": pid,
                    "tid": e.thread,
                    "args": args,
                }
            )
        with open(path, "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)


class record_function:
    """Name a range of the program in the active profile (a no-op without one):
    ``with lucid.profiler.record_function("data"): batch = next(it)``. Its ops are its
    children."""

    def __init__(self, name: str):
        if not isinstance(name, str):
            raise TypeError(f"record_function: name must be a str, got {type(name).__name__}")
        self.name = name
        self._event: FunctionEvent | None = None
        self._profile: profile | None = None

    def __enter__(self) -> record_function:
        prof = _active
        if prof is not None and not B.is_tracing():
            self._profile = prof
            self._event = prof._begin(self.name, "user")
        return self

    def __exit__(self, *exc) -> None:
        if self._profile is not None and self._event is not None:
            self._profile._end(self._event)
        self._profile = self._event = None
