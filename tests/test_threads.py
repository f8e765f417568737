"""Lucid from several Python threads: ops and host reads (``item()``, ``numpy()``) in user
threads and DataLoader workers while the main thread trains a BatchNorm model, a read in one
thread while another traces a compiled function, deferred checks that stay with the thread (or
the loader task) that made them, per-thread generators (seeded loader workers), a lazy tensor
refused (with a reason) outside its thread, and a clean interpreter exit (no abort from MLX's
streams).

MLX gives each thread its own streams, and a lazy array can only be evaluated in the thread that
made it: these tests fail when one thread's evaluation takes in another thread's deferred work
or lazy generator key, or sees its tracing state. Nothing is timed; waits use events with
generous limits."""

import gc
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid._backend import runtime
from lucid.data import DataLoader, Dataset, get_worker_info
from lucid.data.workers import THREAD_PREFIX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


class RandomFlip(Dataset):
    """Volumes flipped when a Lucid draw says so: a host read in a worker thread."""

    def __init__(self, n=16):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = np.arange(64, dtype=np.float32).reshape(1, 4, 4, 4) + i
        if lucid.rand(1).item() < 0.5:
            x = np.ascontiguousarray(x[..., ::-1])
        return x, i


def test_loader_workers_read_lucid_values_while_the_main_thread_trains():
    model, opt = bn_model()
    for _ in range(5):
        seen = []
        for x, i in DataLoader(RandomFlip(32), batch_size=2, num_workers=2):
            train_step(model, opt, x)
            seen += i.tolist()
        assert seen == list(range(32))
    assert model[1].num_batches_tracked.item() == 80


class BadIds(Dataset):
    """An embedding lookup in the worker with an out-of-range id at sample 3."""

    weight = lucid.tensor(np.arange(8, dtype=np.float32).reshape(4, 2))  # made from data

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return F.embedding(lucid.tensor([9 if i == 3 else i % 4]), self.weight)


def test_a_deferred_check_in_a_worker_fails_its_own_batch():
    with pytest.raises(IndexError, match=r"(?s)DataLoader worker.*embedding: index 9"):
        list(DataLoader(BadIds(), batch_size=2, num_workers=2))
    assert not lucid._backend.has_pending()  # nothing left for this thread to raise


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_loader_threads_are_joined_when_an_iterator_ends_or_is_abandoned():
    gc.collect()  # earlier tests' loaders dropped in reference cycles: their pools shut down
    earlier = set(worker_threads())  # what is still alive is not this test's to check

    def mine():
        return [t for t in worker_threads() if t not in earlier]

    list(DataLoader(RandomFlip(8), batch_size=2, num_workers=2))
    assert mine() == []  # joined before the loop ended
    for _ in DataLoader(RandomFlip(), batch_size=2, num_workers=2):
        break  # the generator is closed here
    assert mine() == []


EXIT_SCRIPT = textwrap.dedent("""
    import threading
    import numpy as np
    import lucid, lucid.nn as nn
    from lucid.data import DataLoader, Dataset

    class RandomFlip(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            x = np.ones((1, 4, 4, 4), np.float32) * i
            return x[..., ::-1].copy() if lucid.rand(1).item() < 0.5 else x

    model = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.BatchNorm3d(2))
    opt = lucid.optim.Adam(model.parameters(), lr=1e-3)

    def user_thread():
        for _ in range(5):
            (lucid.randn(8, 8) @ lucid.randn(8, 8)).sum().item()

    users = [threading.Thread(target=user_thread) for _ in range(2)]
    for t in users:
        t.start()
    for x in DataLoader(RandomFlip(), batch_size=2, num_workers=2):
        loss = model(x).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    for x in DataLoader(RandomFlip(), batch_size=2, num_workers=2):
        break  # abandoned mid-epoch
    kept = iter(DataLoader(RandomFlip(), batch_size=1, num_workers=2))
    next(kept)  # alive at exit
    for t in users:
        t.join()
    print("done", flush=True)
""")


def test_the_interpreter_exits_cleanly_after_threads_used_mlx():
    env = dict(os.environ, PYTHONPATH=ROOT)
    for _ in range(6):
        out = subprocess.run(
            [sys.executable, "-c", EXIT_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "terminate called" not in out.stderr
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.strip() == "done" and out.stderr == ""


class Draw(Dataset):
    """Samples that are Lucid draws, recorded per worker in the worker's order."""

    def __init__(self):
        self.by_worker: dict = {}

    def __len__(self):
        return 12

    def __getitem__(self, i):
        value = lucid.rand(1).item()
        self.by_worker.setdefault(get_worker_info().id, []).append(value)
        return np.float32(value)


def test_worker_generators_are_seeded_per_worker_and_epoch():
    def draws(seed, epochs=1):
        ds = Draw()
        loader = DataLoader(ds, batch_size=1, num_workers=2, seed=seed)
        out = []
        for _ in range(epochs):
            ds.by_worker = {}
            list(loader)
            out.append(ds.by_worker)
        return out

    (a, a_next), (b,), (c,) = draws(3, epochs=2), draws(3), draws(4)
    for w in set(a) & set(b):  # a worker's k-th draw depends on the loader's seed only
        n = min(len(a[w]), len(b[w]))
        assert a[w][:n] == b[w][:n]
    for w in set(a) & set(c):
        assert a[w][0] != c[w][0]
    for w in set(a) & set(a_next):  # a new epoch, new draws
        assert a[w][0] != a_next[w][0]
    if len(a) == 2:  # the two workers do not repeat each other's draws
        assert a[0][0] != a[1][0]


def test_backward_in_another_thread_is_not_counted_in_this_one():
    # lucid.compile tells a training step from a forward by the backward replays its trace
    # made: another thread's backward during a trace must not count
    from lucid.autograd import graph

    before = graph.backward_calls.count

    def work():
        x = lucid.ones(3, requires_grad=True)
        (x * 2).sum().backward()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert graph.backward_calls.count == before
    x = lucid.ones(3, requires_grad=True)
    (x * 2).sum().backward()
    assert graph.backward_calls.count == before + 1
