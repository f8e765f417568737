"""Random tensors; ``lucid.random.seed(s)`` makes every random call reproducible."""

from __future__ import annotations

from lucid import _backend as B
from lucid._typing import DTypeLike, IntOrSeq
from lucid.creation import _make, _shape
from lucid.dtypes import as_dtype_name
from lucid.tensor import Tensor


def seed(value: int) -> None:
    """Seed every random draw Lucid makes (tensors, initialisers, dropout)."""
    B.random_seed(value)


def manual_seed(seed: int) -> None:
    """PyTorch's name for ``seed``: make every random draw Lucid makes reproducible."""
    B.random_seed(seed)


def _size(size):
    return _shape((size,) if isinstance(size, int) else (tuple(size),))


def randn(
    *shape: IntOrSeq,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples."""
    shape, name = _shape(shape), as_dtype_name(dtype)
    return _make(lambda: B.random_normal(shape, name), device, requires_grad)


def rand(
    *shape: IntOrSeq,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples in [0, 1)."""
    shape, name = _shape(shape), as_dtype_name(dtype)
    return _make(lambda: B.random_uniform(shape, name), device, requires_grad)


def uniform(
    low: float = 0.0,
    high: float = 1.0,
    size: IntOrSeq = (),
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples in [low, high)."""
    shape, name = _size(size), as_dtype_name(dtype)
    return _make(lambda: B.random_uniform(shape, name, low, high), device, requires_grad)


def normal(
    mean: float = 0.0,
    std: float = 1.0,
    size: IntOrSeq = (),
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Normal samples with the given mean and standard deviation."""
    shape, name = _size(size), as_dtype_name(dtype)
    return _make(lambda: B.random_normal(shape, name, mean, std), device, requires_grad)


def randint(
    low: float,
    high: float | None = None,
    size: IntOrSeq = (),
    dtype: DTypeLike = "int64",
    device: str | None = None,
) -> Tensor:
    """Integers uniformly drawn from [low, high): PyTorch's ``randint(low, high, size)`` and
    ``randint(high, size)`` (from [0, high))."""
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: empty range [{low}, {high})")
    shape, name = _size(size), as_dtype_name(dtype)
    return _make(lambda: B.random_randint(low, high, shape, name), device, False)


def permutation(n: int, device: str | None = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    return _make(lambda: B.random_permutation(n).astype(B.DTYPES["int64"]), device, False)


def rand_like(
    t: Tensor, dtype: DTypeLike = None, device: str | None = None, requires_grad: bool = False
) -> Tensor:
    """Uniform samples with ``t``'s shape."""
    return rand(
        t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad
    )


def randn_like(
    t: Tensor, dtype: DTypeLike = None, device: str | None = None, requires_grad: bool = False
) -> Tensor:
    """Normal samples with ``t``'s shape."""
    return randn(
        t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad
    )


def randperm(
    n: int,
    *,
    generator: None = None,
    dtype: DTypeLike = "int64",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of 0..n-1 from Lucid's seeded generator (``generator`` must be None:
    Lucid has one global generator)."""
    if generator is not None:
        raise ValueError(
            "randperm: Lucid has one global generator (lucid.random.seed); pass generator=None"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    name = as_dtype_name(dtype)
    return _make(
        lambda: B.cast(B.random_permutation(n), name) if n else B.zeros((0,), dtype=B.DTYPES[name]),
        device,
        requires_grad,
    )
