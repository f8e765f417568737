"""lucid.profiler: exact op and node counts for known programs, consistent times (self <= total,
children inside their parent), memory of a known allocation, Chrome trace JSON in microseconds,
nothing recorded outside the context, hooks removed afterwards, no_grad, create_graph and
lucid.compile (one event per compiled call, no traced ops)."""

import json
import time
from importlib import import_module

import numpy as np
import pytest

import lucid
from lucid import nn
from lucid._backend import runtime
from lucid.autograd import graph
from lucid.ops import _util
from lucid.optim import optimizer as optimizer_module
from lucid.profiler import profile, record_function

compile_module = import_module("lucid.compile")  # (lucid.compile is the function)


def _net():
    lucid.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(3, 3, 3, padding=1),
        nn.ReLU(),
        nn.Conv3d(3, 2, 3, padding=1),
    )


def _counts(prof):
    return {a.key: a.count for a in prof.key_averages()}


def _hooks():
    return (
        _util._profile_hook,
        graph._profile_hook,
        optimizer_module._profile_hook,
        compile_module._profile_hook,
    )


def _step(model, opt, x):
    opt.zero_grad()
    loss = model(x).square().mean()
    loss.backward()
    opt.step()
    return loss


def test_counts_of_a_known_program_are_exact():
    model = _net()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-3)  # Adam.step calls super().step: 1 event
    x = lucid.randn(2, 1, 6, 6, 6)
    with profile() as prof:
        _step(model, opt, x)
    counts = _counts(prof)
    assert counts["conv"] == 3 and counts["ConvBackward"] == 3
    assert counts["relu"] == 2 and counts["ReluBackward"] == 2
    assert counts["square"] == counts["SquareBackward"] == 1
    assert counts["mean"] == counts["MeanBackward"] == 1
    assert counts["Optimizer.step#Adam.step"] == 1
    kinds = {a.key: a.kind for a in prof.key_averages()}
    assert kinds["conv"] == "op" and kinds["ConvBackward"] == "backward"
    assert kinds["Optimizer.step#Adam.step"] == "optimizer"


def test_the_profiled_step_computes_what_the_plain_step_does():
    x = lucid.randn(2, 1, 6, 6, 6)
    results = []
    for profiled in (False, True):
        model = _net()
        opt = lucid.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if profiled:
            with profile(record_memory=True, record_shapes=True):
                losses = [_step(model, opt, x).item() for _ in range(2)]
        else:
            losses = [_step(model, opt, x).item() for _ in range(2)]
        grads = [p.grad.numpy() for p in model.parameters()]
        results.append((losses, grads, [p.numpy() for p in model.parameters()]))
    (l0, g0, p0), (l1, g1, p1) = results
    np.testing.assert_allclose(l0, l1, rtol=1e-6)
    for a, b in zip(g0 + p0, g1 + p1):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_times_are_consistent():
    model = _net()
    x = lucid.randn(2, 1, 6, 6, 6)
    with profile() as prof, record_function("outer"):
        model(x).sum().backward()
    events = prof.events()
    assert events and all(e.start_ns <= e.end_ns for e in events)
    for e in events:
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total
    outer = next(e for e in events if e.name == "outer")
    inner = [e for e in events if e is not outer]
    assert all(outer.start_ns <= e.start_ns and e.end_ns <= outer.end_ns for e in inner)
    # outer's self time is its total less its direct children's (those inside no other event)
    direct = [
        e
        for e in inner
        if not any(o is not e and o.start_ns <= e.start_ns and e.end_ns <= o.end_ns for o in inner)
    ]
    assert {e.name for e in direct} >= {"conv", "relu", "sum", "ConvBackward", "SumBackward"}
    rest = outer.cpu_time_total - sum(e.cpu_time_total for e in direct)
    assert outer.self_cpu_time_total == pytest.approx(rest, abs=1e-3)
    for a in prof.key_averages():
        assert 0 <= a.self_cpu_time_total <= a.cpu_time_total
        assert a.cpu_time == pytest.approx(a.cpu_time_total / a.count)
    total_self = sum(a.self_cpu_time_total for a in prof.key_averages())
    assert total_self == pytest.approx(outer.cpu_time_total, rel=1e-6)


def test_table_sorts_and_limits():
    x = lucid.randn(4, 4)
    with profile() as prof:
        for _ in range(3):
            x = x + 1.0
        x.exp()
    table = prof.key_averages().table(sort_by="count", row_limit=1)
    rows = table.splitlines()
    assert any(r.startswith("add") and r.rstrip().endswith("3") for r in rows)
    assert not any(r.startswith("exp") for r in rows)
    assert "Self time total" in table
    with pytest.raises(ValueError, match="sort_by must be one of"):
        prof.key_averages().table(sort_by="cuda_time")


def test_chrome_trace_is_trace_event_json_in_microseconds(tmp_path):
    x = lucid.randn(8, 8)
    begin = time.perf_counter()
    with profile() as prof:
        with record_function("sleep"):
            time.sleep(0.02)
        (x @ x).relu()
    wall_us = (time.perf_counter() - begin) * 1e6
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    trace = json.loads(path.read_text())
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in complete) == ["matmul", "relu", "sleep"]
    for e in complete:
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid"} <= set(e)
        assert e["ts"] >= 0 and e["dur"] >= 0 and e["ts"] + e["dur"] <= wall_us
    sleep = next(e for e in complete if e["name"] == "sleep")
    assert 20_000 <= sleep["dur"] <= wall_us  # microseconds: 0.02 s is 20000


def test_nothing_is_recorded_outside_and_the_hooks_are_removed():
    assert _hooks() == (None, None, None, None)
    x = lucid.randn(3, requires_grad=True)
    with profile() as prof:
        (x * 2.0).sum().backward()
    n = len(prof.events())
    assert _hooks() == (None, None, None, None)
    (x * 3.0).sum().backward()
    with record_function("after"):
        x.exp()
    assert len(prof.events()) == n == 4  # mul, sum, and their two nodes
    with pytest.raises(ValueError), profile():
        raise ValueError("inside")
    assert _hooks() == (None, None, None, None)


def test_one_profile_at_a_time():
    with profile(), pytest.raises(RuntimeError, match="already active"), profile():
        pass
    done = profile()
    with done:
        pass
    with pytest.raises(RuntimeError, match="records once"), done:
        pass


def test_no_grad_records_the_forward_only():
    model = _net()
    with profile() as prof, lucid.no_grad():
        model(lucid.randn(1, 1, 4, 4, 4))
    counts = _counts(prof)
    assert counts == {"conv": 3, "relu": 2}


def test_sync_evaluates_each_op_and_sync_false_does_not():
    x = lucid.randn(16, 16)
    _ = x.numpy()
    for sync, expected in ((True, 6), (False, 0)):
        evals = []
        handle = runtime.add_eval_listener(evals.append)
        try:
            with profile(sync=sync):
                y = (x * 2.0 + 1.0).exp()
        finally:
            handle.remove()
        assert evals.count("eval") == expected  # per op: its inputs, then its result
        assert y.shape == (16, 16)


def test_memory_of_a_known_allocation():
    x = lucid.ones(256, 1024)  # 1 MiB of float32
    _ = x.numpy()
    with profile(record_memory=True) as prof:
        y = x + 1.0
    (e,) = prof.events()
    assert e.name == "add"
    assert 1 << 20 <= e.cpu_memory_usage <= (1 << 20) + 4096  # the result (and a scalar)
    assert e.peak_memory_usage >= e.cpu_memory_usage
    assert e.self_cpu_memory_usage == e.cpu_memory_usage  # no children
    assert float(y[0, 0]) == 2.0
    assert "Peak mem" in prof.key_averages().table()


def test_shapes_group_the_averages():
    with profile(record_shapes=True) as prof:
        lucid.randn(2, 3).exp()
        lucid.randn(4, 3).exp()
        lucid.randn(2, 3).exp()
    by_shape = {a.input_shapes: a.count for a in prof.key_averages(group_by_input_shape=True)}
    assert by_shape == {((2, 3),): 2, ((4, 3),): 1}
    assert _counts(prof) == {"exp": 3}


def test_create_graph_records_the_rules_ops_inside_their_nodes():
    x = lucid.randn(5, requires_grad=True)
    with profile() as prof:
        (g,) = lucid.autograd.grad(x.exp().sum(), x, create_graph=True)
    nodes = [e for e in prof.events() if e.name == "ExpBackward"]
    assert len(nodes) == 1
    inner = [e for e in prof.events() if e.kind == "op" and e.start_ns >= nodes[0].start_ns]
    assert any(e.end_ns <= nodes[0].end_ns for e in inner)  # the rule's mul runs inside
    np.testing.assert_allclose(g.numpy(), np.exp(x.numpy()), rtol=1e-6)


def test_compiled_calls_are_one_event_each_and_their_traced_ops_are_not_recorded():
    def f(a):
        return (a * 2.0).sum()

    compiled = lucid.compile(f)
    x = lucid.randn(4, 4)
    with profile() as prof:
        out = [compiled(x).item() for _ in range(3)]  # eager, traced, cached
    counts = _counts(prof)
    assert counts["lucid.compile: f"] == 3
    assert counts["mul"] == counts["sum"] == 1  # the first call runs eagerly; the trace is not
    assert compiled.traces == 1
    np.testing.assert_allclose(out, [f(x).item()] * 3, rtol=1e-6)


def test_a_compiled_training_step_under_the_profiler():
    model = _net()
    opt = lucid.optim.SGD(model.parameters(), lr=0.1)
    x = lucid.randn(1, 1, 4, 4, 4)
    step = lucid.compile(lambda: _step(model, opt, x))
    with profile() as prof:
        losses = [step().item() for _ in range(3)]
    counts = _counts(prof)
    assert counts["lucid.compile: <lambda>"] == 3
    assert counts["conv"] == 3 and counts["Optimizer.step#SGD.step"] == 1  # the eager call
    assert losses[2] < losses[0]


def test_record_function_without_a_profile_is_a_no_op():
    with record_function("nothing"):
        lucid.randn(2).exp()
    with pytest.raises(TypeError, match="name must be a str"):
        record_function(3)
