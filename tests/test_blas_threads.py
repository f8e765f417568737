"""The GEMM thread policy of the NumPy kernels (lucid/_backend/blas_threads.py): its logic, not its
timing (benchmarks/contention.py measures that)."""

import sys

import numpy as np
import pytest

from lucid._backend import blas_threads as bt


class FakeBlas:
    """Records thread-count changes like an OpenBLAS would hold them."""

    def __init__(self, threads):
        self.threads, self.history = threads, []

    def get(self):
        return self.threads

    def set(self, n):
        self.threads = n
        self.history.append(n)


@pytest.fixture
def fake(monkeypatch):
    blas = FakeBlas(4)
    monkeypatch.setattr(bt, "_blas", blas)
    return blas


def test_small_gemms_run_on_one_thread_big_ones_on_all():
    small, big = bt.MIN_WORK_TO_SPLIT - 1, bt.MIN_WORK_TO_SPLIT
    assert bt.threads_for(small, 8) == 1
    assert bt.threads_for(big, 8) == 8
    assert bt.threads_for(big, 1) == 1


def test_the_setting_is_restored_after_a_small_gemm(fake):
    with bt.gemm_threads(1000):
        assert fake.threads == 1
    assert fake.threads == 4 and fake.history == [1, 4]


def test_the_setting_is_restored_when_the_gemm_fails(fake):
    with pytest.raises(ZeroDivisionError), bt.gemm_threads(1000):
        1 / 0
    assert fake.threads == 4


def test_a_big_gemm_leaves_the_setting_alone(fake):
    with bt.gemm_threads(bt.MIN_WORK_TO_SPLIT):
        assert fake.threads == 4
    assert fake.history == []


def test_a_users_own_limit_is_never_raised(fake):
    fake.threads = 1  # e.g. threadpoolctl's limit
    with bt.gemm_threads(bt.MIN_WORK_TO_SPLIT * 10):
        assert fake.threads == 1
    assert fake.history == []


def test_without_an_openblas_nothing_happens(monkeypatch):
    monkeypatch.setattr(bt, "_blas", None)
    with bt.gemm_threads(10):
        pass
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(bt.matmul(a, a.T), a @ a.T)


def test_matmul_sizes_its_gemm_by_its_work(fake, monkeypatch):
    seen = []
    monkeypatch.setattr(bt, "threads_for", lambda work, allowed: seen.append(work) or 1)
    a, b = np.ones((5, 2, 3)), np.ones((3, 7))  # more multiply-adds than moved elements
    monkeypatch.setattr(bt, "MOVE_COST", 1)
    np.testing.assert_allclose(bt.matmul(a, b), np.full((5, 2, 7), 3.0))
    out = np.empty((5, 2, 7))
    bt.matmul(a, b, out=out)
    assert seen == [5 * 2 * 3 * 7] * 2 and out[0, 0, 0] == 3.0


def test_a_gemm_bound_by_reading_a_large_operand_counts_its_elements(fake, monkeypatch):
    """Few columns times a large matrix: the work is the operand's elements times MOVE_COST
    (a deep conv layer's weight times a handful of positions), not its few multiply-adds."""
    seen = []
    monkeypatch.setattr(bt, "threads_for", lambda work, allowed: seen.append(work) or 1)
    w, cols = np.ones((64, 300)), np.ones((300, 2))
    bt.matmul(w, cols)
    assert seen == [bt.MOVE_COST * w.size] and bt.MOVE_COST * w.size > 64 * 300 * 2


def test_numpys_own_openblas_is_listed_first():
    maps = (
        "7f00-7f01 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libopenblas.so.0\n"
        "7f02-7f03 r-xp 0 08:01 2 /venv/site-packages/numpy.libs/"
        "libscipy_openblas64_-32a4b2a6.so\n"
        "7f04-7f05 r-xp 0 08:01 3 /usr/lib/libc.so.6\n"
    )
    assert bt.loaded_openblas_paths(maps) == [
        "/venv/site-packages/numpy.libs/libscipy_openblas64_-32a4b2a6.so",
        "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    ]
    assert bt.loaded_openblas_paths("7f04-7f05 r-xp 0 08:01 3 /usr/lib/libc.so.6\n") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="OpenBLAS binding is Linux-only")
def test_the_real_openblas_is_bound_and_restored():
    blas = bt.openblas()
    if blas is None:
        pytest.skip("NumPy here does not use OpenBLAS")
    before = blas.get()
    with bt.gemm_threads(1):
        assert blas.get() == 1
    assert blas.get() == before


def test_run_ordered_consumes_in_order_on_the_pool_with_one_blas_thread(fake):
    """Several small items run on the pool (OpenBLAS at one thread meanwhile, restored after),
    and their results reach ``consume`` in the items' order whatever order they finish in."""
    import threading
    import time

    seen_threads, during = set(), []

    def fn(i):
        seen_threads.add(threading.current_thread().name)
        during.append(fake.threads)
        time.sleep(0.002 * ((7 * i) % 5))  # finish out of order
        return i * i

    got = []
    bt.run_ordered(fn, range(20), 10, got.append)
    assert got == [i * i for i in range(20)]
    assert set(during) == {1} and fake.threads == 4
    assert all(name.startswith("lucid-gemm") for name in seen_threads)


def test_run_ordered_runs_here_when_a_split_would_pay_or_there_is_one_item(fake):
    """Items big enough for OpenBLAS to split, or a single item, run in the calling thread."""
    import threading

    here = threading.current_thread().name
    names = []
    bt.run_ordered(
        lambda i: names.append(threading.current_thread().name), [1, 2], bt.MIN_WORK_TO_SPLIT
    )
    bt.run_ordered(lambda i: names.append(threading.current_thread().name), [1], 10)
    assert names == [here] * 3 and fake.history == []


def test_run_ordered_raises_a_workers_error_and_restores_the_threads(fake):
    def fn(i):
        if i == 5:
            raise ValueError("chunk 5")
        return i

    with pytest.raises(ValueError, match="chunk 5"):
        bt.run_ordered(fn, range(12), 10, lambda r: None)
    assert fake.threads == 4


def test_pooled_gemms_skip_the_per_call_thread_setting(fake):
    """In a pool worker ``matmul`` does not touch the (process-wide) thread count: two workers
    setting and restoring it would race."""
    a = np.ones((3, 4))
    got = []
    bt.run_ordered(lambda i: bt.matmul(a, a.T * i), range(4), 10, got.append)
    assert [g[0, 0] for g in got] == [0.0, 4.0, 8.0, 12.0]
    assert fake.history == [1, 4]


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_gets_a_pool_of_its_own():
    """After the parent used the chunk pool, a forked child (a DataLoader worker process) runs
    pooled convolutions with threads of its own and gets the parent's result."""
    import multiprocessing

    from lucid._backend import numpy_conv as nc

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 6, 24, 24), dtype=np.float32)
    w = rng.standard_normal((16, 8, 3, 3, 3), dtype=np.float32)
    args = ((1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 1)
    want = nc.conv_forward(x, w, *args)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(nc.conv_forward, (x, w) + args).get(timeout=60)
    assert np.array_equal(got, want)
