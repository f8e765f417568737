"""lucid.compile has no per-call cost that grows: 200,000 calls of a compiled step that draws no
random numbers leave resident memory within 10 MiB of where it was after warm-up, and the
generator is not chained behind them (the old compile chained a fresh key per call, never
evaluated: +2.1 KB a call, and the next ``randn(3).numpy()`` took 6.6 s)."""

import gc
import os
import resource
import sys
import time

import pytest

import lucid
from lucid import nn

CALLS = int(os.environ.get("LUCID_SOAK_COMPILE_CALLS", "200000"))


def _rss() -> int:
    """Resident memory now in bytes (Linux's /proc; elsewhere the peak, which bounds it)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


@pytest.mark.soak
@pytest.mark.skipif(
    lucid._backend.cpu_kernels() == "numpy",
    reason="a compiled graph runs MLX's kernels under either CPU kernel set: soaked once",
)
def test_compiled_calls_leave_memory_flat_and_the_generator_alone():
    lin = nn.Linear(4, 2)
    opt = lucid.optim.SGD(lin.parameters(), lr=1e-3)

    def step(x):
        opt.zero_grad()
        loss = lin(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    fn = lucid.compile(step)
    x = lucid.randn(3, 4)
    for _ in range(2000):
        fn(x)
    gc.collect()
    before = _rss()
    for _ in range(CALLS):
        fn(x)
    gc.collect()
    grown = _rss() - before
    start = time.perf_counter()
    lucid.randn(3).numpy()
    took = time.perf_counter() - start
    assert fn.traces == 1
    assert grown < 10 * 1024 * 1024, f"{CALLS} compiled calls grew resident memory by {grown} B"
    assert took < 0.5, f"randn(3) after {CALLS} compiled calls took {took:.2f} s"
    print(f"{CALLS} compiled calls: resident memory {grown / 2**20:+.2f} MiB")
