"""Lucid from several Python threads: ops and host reads (``item()``, ``numpy()``) in user
threads while the main thread trains a BatchNorm model, a read in one thread while another
traces a compiled function, deferred checks that stay with the thread that made them,
per-thread generators, and a lazy tensor refused (with a reason) outside its thread.

MLX gives each thread its own streams, and a lazy array can only be evaluated in the thread that
made it: these tests fail when one thread's evaluation takes in another thread's deferred work
or lazy generator key, or sees its tracing state. Nothing is timed; waits use events with
generous limits."""

import threading

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid._backend import runtime


def bn_model():
    """A small Conv3d + BatchNorm3d model and its Adam optimizer."""
    model = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.BatchNorm3d(2), nn.ReLU())
    return model, lucid.optim.Adam(model.parameters(), lr=1e-2)


def train_step(model, opt, x):
    """One step; its forward leaves BatchNorm's running statistics deferred until opt.step()."""
    loss = model(x).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def run_threads(target, n):
    """Start ``n`` threads running ``target(i)``; return (threads, errors list)."""
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, errors


def test_ops_and_reads_in_threads_while_the_main_thread_trains():
    model, opt = bn_model()

    def work(i):
        rng = np.random.default_rng(i)
        bn = nn.BatchNorm1d(3)  # this thread's own lazily updated buffers
        for _ in range(10):
            a = rng.standard_normal((3, 3)).astype(np.float32)
            t = lucid.tensor(a)
            assert t.sum().item() == pytest.approx(float(a.sum()), rel=1e-5, abs=1e-5)
            np.testing.assert_allclose((t @ t).numpy(), a @ a, rtol=1e-5, atol=1e-5)
            assert abs(bn(t).mean().item()) < 1e-5
            assert 0.0 <= lucid.rand(1).item() < 1.0
        assert bn.num_batches_tracked.item() == 10

    steps = 0
    for _ in range(50):  # fresh threads each round: their streams come and go
        threads, errors = run_threads(work, 4)
        while True:  # at least one step (and its draws) while they run
            train_step(model, opt, lucid.randn(2, 1, 4, 4, 4))
            steps += 1
            if not any(t.is_alive() for t in threads):
                break
        for t in threads:
            t.join(timeout=120)
        assert errors == [], errors[0]
    assert model[1].num_batches_tracked.item() == steps


def test_a_thread_reads_while_another_traces():
    key = runtime.rng_key()
    lucid._backend.evaluate(key)
    inside = threading.Event()
    drawn = threading.Event()
    seen = {}

    def work(_):
        assert inside.wait(60)
        seen["tracing"] = runtime.is_tracing()
        seen["value"] = (lucid.ones(2) * 3).sum().item()  # a read: refused while tracing
        seen["draw"] = lucid.rand(3).numpy()
        drawn.set()

    with runtime.tracing(), runtime.random_key(key):
        first = lucid.rand(3)
        threads, errors = run_threads(work, 1)
        inside.set()
        assert drawn.wait(60)
        second = lucid.rand(3)  # the other thread's draw did not advance this key
        assert runtime.is_tracing()
    threads[0].join(timeout=60)
    assert errors == [], errors[0]
    assert seen["tracing"] is False and seen["value"] == 6.0
    assert seen["draw"].shape == (3,)
    with runtime.random_key(key):
        again = (lucid.rand(3), lucid.rand(3))
    np.testing.assert_array_equal(first.numpy(), again[0].numpy())
    np.testing.assert_array_equal(second.numpy(), again[1].numpy())


def test_deferred_checks_stay_with_their_thread():
    loss = F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([0, 7]))  # a deferred check, here
    assert lucid._backend.has_pending()
    results = {}

    def work(_):
        results["other"] = lucid.tensor([1.0, 2.0]).sum().item()  # must not run ours
        bad = F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([9, 0]))  # its own check
        try:
            bad.item()
        except IndexError as exc:
            results["own"] = str(exc)

    threads, errors = run_threads(work, 1)
    threads[0].join(timeout=60)
    assert errors == [], errors[0]
    assert results["other"] == 3.0 and "index 9" in results["own"]
    assert lucid._backend.has_pending()  # still ours to raise
    with pytest.raises(IndexError, match="index 7"):
        loss.item()


def test_threads_draw_from_their_own_generators():
    def first_draws(n, seed_in_thread=None):
        out = [None] * n

        def draw(i):
            if seed_in_thread is not None:
                lucid.manual_seed(seed_in_thread)
            out[i] = lucid.rand(2).numpy().tolist()

        threads, errors = run_threads(draw, n)
        for t in threads:
            t.join(timeout=60)
        assert errors == [], errors[0]
        return out

    lucid.manual_seed(0)
    alone = [lucid.rand(3).numpy() for _ in range(2)]
    lucid.manual_seed(0)
    first = lucid.rand(3)  # leaves this thread's key lazy while the threads draw
    drawn = first_draws(3)
    second = lucid.rand(3)
    np.testing.assert_array_equal(first.numpy(), alone[0])
    np.testing.assert_array_equal(second.numpy(), alone[1])  # the threads did not advance it
    assert len({tuple(d) for d in drawn}) == 3  # nor repeat each other
    a, b = first_draws(2, seed_in_thread=5), first_draws(1, seed_in_thread=5)
    assert a[0] == a[1] == b[0]  # manual_seed in a thread seeds that thread's generator


def test_a_lazy_tensor_is_evaluated_in_its_own_thread_then_shared():
    lazy = lucid.ones(3) * 2  # recorded on this thread's stream, not evaluated
    out = {}

    def use(_):
        try:
            out["sum"] = (lazy + 1).sum().item()
        except RuntimeError as exc:
            out["error"] = str(exc)

    threads, errors = run_threads(use, 1)
    threads[0].join(timeout=60)
    assert errors == [] and "computed lazily in one thread" in out.pop("error")
    lazy.numpy()  # evaluated here: any thread may use it now
    threads, errors = run_threads(use, 1)
    threads[0].join(timeout=60)
    assert errors == [] and out == {"sum": 9.0}
