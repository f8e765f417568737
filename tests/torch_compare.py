"""PyTorch as an optional oracle: the same function run in Lucid and in torch on the same float64
inputs must agree in value and, seeded with the same random output gradient, in every input's
gradient. Callers skip cleanly when torch is not installed (``pytest.importorskip``)."""

import numpy as np
import pytest

import lucid


def compare_with_torch(lucid_fn, torch_fn, *arrays, grad=True, rtol=1e-10, atol=1e-12):
    """``lucid_fn(*tensors)`` against ``torch_fn(*torch_tensors)`` in float64; non-array arguments
    pass through unchanged. Outputs may be a tensor or a tuple of tensors (the gradient is that of
    sum(out * seed) over every floating output). Returns Lucid's output."""
    torch = pytest.importorskip("torch")
    is_arr = [isinstance(a, np.ndarray) for a in arrays]
    floating = [arr and a.dtype.kind == "f" for a, arr in zip(arrays, is_arr)]
    lx = [
        lucid.tensor(a, dtype="float64" if f else None, requires_grad=grad and f) if arr else a
        for a, arr, f in zip(arrays, is_arr, floating)
    ]
    tx = [
        torch.tensor(a, requires_grad=grad and f) if arr else a
        for a, arr, f in zip(arrays, is_arr, floating)
    ]
    lout, tout = lucid_fn(*lx), torch_fn(*tx)
    louts = lout if isinstance(lout, tuple) else (lout,)
    touts = tout if isinstance(tout, tuple) else (tout,)
    assert len(louts) == len(touts)
    for lo, to in zip(louts, touts):
        assert lo.shape == tuple(to.shape), f"shape {lo.shape} != torch's {tuple(to.shape)}"
        np.testing.assert_allclose(lo.numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    if grad and any(floating):
        rng = np.random.default_rng(7)
        pairs = [(lo, to) for lo, to in zip(louts, touts) if to.is_floating_point()]
        seeds = [rng.standard_normal(lo.shape) for lo, _ in pairs]
        sum(
            (lo * lucid.tensor(s, dtype="float64")).sum() for (lo, _), s in zip(pairs, seeds)
        ).backward()
        sum((to * torch.tensor(s)).sum() for (_, to), s in zip(pairs, seeds)).backward()
        for a, b, f in zip(lx, tx, floating):
            if f:
                assert a.grad is not None, "no gradient reached a floating input"
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)
    return lout
