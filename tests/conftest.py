"""Suite-wide pytest setup: the ``gpu`` marker and the probe that decides whether it can run.

A GPU that MLX *sees* is not always one it can *use*: GitHub's hosted macOS runners expose a
paravirtual Metal device without simdgroup matrix support, where some kernels fail or hang. So
``@pytest.mark.gpu`` tests run only after a probe (in a subprocess, with a time limit) has run a
matmul, a convolution and a reduction on the GPU and matched the CPU; otherwise they skip with the
probe's reason.

A watchdog ends the run when one test runs longer than ``LUCID_TEST_TIMEOUT`` seconds (default
900), printing every thread's stack: a hang then fails CI in minutes with its place named,
instead of silently using up CI's whole time limit.
"""

from __future__ import annotations

import faulthandler
import functools
import os
import subprocess
import sys

import pytest

PROBE = r"""
import mlx.core as mx
if not (mx.metal.is_available() or (getattr(mx, "cuda", None) and mx.cuda.is_available())):
    print("no GPU visible to MLX"); raise SystemExit(3)
a = mx.random.normal((64, 64), key=mx.random.key(0))
w = mx.random.normal((4, 3, 3, 3, 2), key=mx.random.key(1))
x = mx.random.normal((1, 6, 6, 6, 2), key=mx.random.key(2))
def run(stream):
    with mx.stream(stream):
        out = (a @ a, mx.conv_general(x, w), mx.sum(a, axis=0))
        mx.eval(*out)
    return out
gpu, cpu = run(mx.gpu), run(mx.cpu)
for g, c in zip(gpu, cpu):
    if not mx.allclose(g, c, rtol=1e-3, atol=1e-3).item():
        print("GPU results differ from the CPU's (matmul/conv/reduction)"); raise SystemExit(4)
print("ok")
"""


@functools.lru_cache(maxsize=1)
def gpu_probe() -> tuple[bool, str]:
    """(usable, reason): whether MLX's GPU runs a matmul, a conv and a reduction correctly."""
    if os.environ.get("LUCID_SKIP_GPU_TESTS"):
        return False, "LUCID_SKIP_GPU_TESTS is set"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return False, "the GPU probe hung (a paravirtual GPU, e.g. a hosted CI runner?)"
    if proc.returncode == 0:
        return True, "ok"
    lines = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    reason = lines[-1] if lines else f"probe exited with {proc.returncode}"
    return False, f"GPU not usable: {reason}"


TEST_TIMEOUT_S = float(os.environ.get("LUCID_TEST_TIMEOUT", "900"))
_watchdog_stream = None


def pytest_configure(config):
    global _watchdog_stream
    config.addinivalue_line("markers", "gpu: needs a working GPU (probed once per session)")
    if sys.__stderr__ is not None:  # a duplicate of the terminal's stderr (tests capture fd 2)
        _watchdog_stream = os.fdopen(os.dup(sys.__stderr__.fileno()), "w")


def pytest_unconfigure(config):
    global _watchdog_stream
    if _watchdog_stream is not None:
        _watchdog_stream.close()
        _watchdog_stream = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Arm the watchdog around each test (setup, call and teardown)."""
    if _watchdog_stream is not None and TEST_TIMEOUT_S > 0:
        faulthandler.dump_traceback_later(TEST_TIMEOUT_S, exit=True, file=_watchdog_stream)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    usable, reason = gpu_probe()
    if not usable:
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))
