"""Empty arrays made from host data are safe to compute with.

MLX 0.32's CPU kernels can loop forever on arrays computed from ``mx.array`` of an empty numpy
array: instance norm over an empty spatial dim (its mean, ``x - mean``, then a reduction) hung
the CI suite (about one process in two). Every host-to-MLX copy in Lucid goes through one
function that builds empty arrays with ``mx.zeros`` instead. These chains run in subprocesses
with a time limit, so a regression fails in minutes rather than hanging the suite.
"""

import subprocess
import sys

import numpy as np
import pytest

import lucid
from lucid import _backend as B

CHAINS = r"""
import numpy as np
import lucid
import lucid.nn.functional as F

def t(shape, grad=False):
    return lucid.tensor(np.zeros(shape), dtype="float64", requires_grad=grad)

for _ in range(300):
    x = t((3, 2, 0), grad=True)
    out = F.instance_norm(x, None, None, t((2,)) + 1, t((2,)))
    (out * t((3, 2, 0))).sum().backward()
    assert out.numpy().shape == (3, 2, 0) and x.grad.numpy().shape == (3, 2, 0)
    y = t((3, 2, 0))
    m = y.mean(dim=-1, keepdim=True)  # NaN: the mean of nothing
    d = y - m
    for r in ((d * 2).sum(dim=-1), d.prod(dim=-1), (d > 0).any(dim=-1), d.cumsum(dim=0),
              F.softmax(d, dim=-1), F.pad(d, (1, 1)), lucid.where(d > 0, d, 0 * d), d[[0, 1]]):
        r.numpy()
    assert (d * 2).sum(dim=-1).numpy().tolist() == [[0.0, 0.0]] * 3
print("ok")
"""


def test_computations_on_empty_host_arrays_finish():
    # the hang depends on the process (about one in two), not on the iteration: several processes
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHAINS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0 and out.strip() == "ok", err[-2000:]
    finally:
        for proc in procs:
            proc.kill()


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "int64", "uint8", "bool"])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4, 2), (2, 0, 1)])
def test_empty_host_data_keeps_shape_and_dtype(shape, dtype):
    np_dtype = np.float32 if dtype == "bfloat16" else np.dtype(dtype)
    t = lucid.tensor(np.zeros(shape, dtype=np_dtype), dtype=dtype)
    assert t.shape == shape and t.dtype == getattr(lucid, dtype)
    assert t.numpy().shape == shape
    a = B.from_numpy(np.zeros(shape, dtype=np_dtype))
    assert tuple(a.shape) == shape and B.dtype_name(a.dtype) == np.dtype(np_dtype).name
