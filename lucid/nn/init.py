"""Parameter initialisers, PyTorch-style: each fills a tensor in place and returns it.

Random values come from ``generator`` (a ``lucid.Generator``; the default generator, seeded by
``lucid.manual_seed``, when None). They are drawn in
float32 and cast to the tensor's dtype (the backend draws no float64 uniforms). Fans follow the
usual convention for a weight of shape ``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``
and ``fan_out = out * prod(kernel)``; a grouped conv weight already stores ``in / groups``.
"""

from __future__ import annotations

import math

import numpy as np

from lucid import _backend as B
from lucid.ops._util import op  # each initialiser runs on its tensor's device stream
from lucid.random import Generator, _key_holder
from lucid.tensor import Tensor

__all__ = [
    "calculate_gain",
    "calculate_fan_in_and_fan_out",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "trunc_normal_",
    "orthogonal_",
    "eye_",
    "dirac_",
    "sparse_",
]


def _check_tensor(t, name, floating=True):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(t).__name__}")
    if floating and not t.is_floating_point():
        raise TypeError(f"{name} needs a floating-point tensor, got dtype {t.dtype}")


def _store(t, values):
    """Write ``values`` (a backend array) into ``t`` in place, in ``t``'s dtype."""
    t.data = B.cast(values, B.dtype_name(t.data.dtype))
    return t


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation: 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (``param`` is the slope, default
    0.01), 3/4 for selu."""
    linear = (
        "linear",
        "identity",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
    )
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: leaky_relu slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one "
        f"of {list(linear) + ['tanh', 'relu', 'leaky_relu', 'selu']}"
    )


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple:
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)`` (at least 2-D)."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # PyTorch's (private) spelling


def _fan(tensor, mode):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")


@op
def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Fill with samples from U(a, b)."""
    _check_tensor(tensor, "uniform_")
    if b < a:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    key = _key_holder(generator, "uniform_")
    return _store(tensor, B.random_uniform(tensor.shape, "float32", a, b, holder=key))


@op
def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    _check_tensor(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    key = _key_holder(generator, "normal_")
    return _store(tensor, B.random_normal(tensor.shape, "float32", mean, std, holder=key))


@op
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _check_tensor(tensor, "constant_", floating=False)
    return _store(tensor, B.full(tensor.shape, val, dtype=tensor.data.dtype))


@op
def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0)


@op
def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1)


@op
def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Glorot uniform: U(-r, r) with r = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_uniform_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


@op
def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_normal_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


@op
def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He uniform: U(-r, r) with r = gain * sqrt(3 / fan), gain from ``calculate_gain``
    (``a`` is the leaky_relu slope)."""
    _check_tensor(tensor, "kaiming_uniform_")
    fan = _fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan) if fan else 0.0
    return uniform_(tensor, -bound, bound, generator)


@op
def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Generator | None = None,
) -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    _check_tensor(tensor, "kaiming_normal_")
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    return normal_(tensor, 0.0, std, generator)


def _normal_cdf(v: float) -> float:
    return 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))


@op
def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Generator | None = None,
) -> Tensor:
    """Fill with N(mean, std^2) restricted to [a, b] (absolute bounds), by the inverse CDF."""
    _check_tensor(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    lo, hi = _normal_cdf((a - mean) / std), _normal_cdf((b - mean) / std)
    key = _key_holder(generator, "trunc_normal_")
    u = B.random_uniform(tensor.shape, "float32", 2 * lo - 1, 2 * hi - 1, holder=key)
    values = B.erfinv(u) * (std * math.sqrt(2.0)) + mean
    return _store(tensor, B.clip(values, a, b))  # clip: erfinv(+-1) is infinite


@op
def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix: the tensor viewed as ``(shape[0], rest)`` has
    orthonormal rows or columns, times ``gain``. The QR runs in numpy float64 on a Gaussian draw
    from Lucid's generator, sign-corrected so the result is uniformly distributed."""
    _check_tensor(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows if rows else 0
    if rows == 0 or cols == 0:
        return tensor
    key = _key_holder(generator, "orthogonal_")
    flat = B.to_numpy(B.random_normal((rows, cols), "float32", holder=key)).astype(np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.where(np.diag(r) == 0, 1.0, np.diag(r)))
    if rows < cols:
        q = q.T
    return _store(tensor, B.asarray(gain * q.reshape(tensor.shape), "float32"))


@op
def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the main diagonal of a possibly rectangular
    matrix), preserving the identity of the inputs in Linear layers."""
    _check_tensor(tensor, "eye_", floating=False)
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    rows, cols = tensor.shape
    return _store(tensor, B.asarray(np.eye(rows, cols), "float32"))


@op
def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D conv weight (out, in, *kernel) with the Dirac delta: output channel
    d of each of ``groups`` groups copies input channel d through the kernel's centre (index
    k // 2 per dim), so the convolution preserves its input's channels."""
    _check_tensor(tensor, "dirac_", floating=False)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-, 4- or 5-D tensor, got shape {tensor.shape}")
    out = tensor.shape[0]
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or out % groups:
        raise ValueError(
            f"dirac_: groups={groups!r} must be a positive int dividing dim 0 (size {out})"
        )
    per_group = out // groups
    values = np.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            values[(g * per_group + d, d) + centre] = 1.0
    return _store(tensor, B.asarray(values, "float32"))


@op
def sparse_(
    tensor: Tensor, sparsity: float, std: float = 0.01, generator: Generator | None = None
) -> Tensor:
    """Fill a 2-D tensor from N(0, std^2), then zero ceil(sparsity * rows) randomly chosen rows
    in every column (Martens 2010)."""
    _check_tensor(tensor, "sparse_")
    if tensor.ndim != 2:
        raise ValueError(f"sparse_ needs a 2-D tensor, got shape {tensor.shape}")
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparse_: sparsity must be in [0, 1], got {sparsity!r}")
    key = _key_holder(generator, "sparse_")
    rows, cols = tensor.shape
    zeros_per_col = int(math.ceil(sparsity * rows))
    values = B.to_numpy(B.random_normal((rows, cols), "float32", 0.0, std, holder=key)).copy()
    for col in range(cols):
        order = B.to_numpy(B.random_permutation(rows, holder=key))
        values[order[:zeros_per_col], col] = 0.0
    return _store(tensor, B.asarray(values, "float32"))
