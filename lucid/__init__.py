"""Lucid: a small deep-learning framework on MLX for 3D convolutional networks.

>>> import lucid
>>> x = lucid.tensor([[1.0, 2.0]], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
Tensor([[2.0, 4.0]])
"""

# Tensor first, then its operators (bound from lucid.ops), then everything built on them.
from lucid.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from lucid.autograd import inference_mode  # noqa: F401
from lucid.dtypes import (
    bfloat16,
    bool,
    bool_,
    double,
    dtype,
    float16,
    float32,  # noqa: F401
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
    uint32,
)
from lucid.tensor import Size, Tensor  # noqa: F401
from lucid._device import device  # noqa: F401
from lucid.dtypes import float_ as float, int_ as int  # noqa: F401,E402  (PyTorch's dtype names)

from lucid import ops, tensor as _tensor_module  # noqa: E402

# Tensor's op methods call lucid.ops through this name: tensor.py cannot import the ops, which
# are built on the Tensor class
_tensor_module._ops = ops
del _tensor_module

from lucid import autograd, random  # noqa: E402,F401
from lucid.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,  # noqa: E402,F401
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from lucid.ops import *  # noqa: E402,F401,F403
from lucid.random import (  # noqa: E402,F401
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from lucid import data, nn, optim  # noqa: E402,F401

# the op table (sets each op's autocast policy): it lists nn.functional's own ops too
from lucid._methods import is_tensor, numel  # noqa: E402,F401
from lucid.serialization import load, save  # noqa: E402,F401
from lucid._backend.checks import check_indices, set_index_checks  # noqa: E402,F401
from lucid import memory  # noqa: E402,F401
from lucid import amp, utils, viz  # noqa: E402,F401
from lucid.amp import autocast  # noqa: E402,F401
from lucid import backends, cuda, linalg, mps  # noqa: E402,F401
from lucid.compile import compile  # noqa: E402,F401
from lucid import inference  # noqa: E402,F401
from lucid import metrics  # noqa: E402,F401  (numpy only at import; scipy when used)
from lucid import profiler  # noqa: E402,F401
from lucid import export  # noqa: E402,F401  (lucid.export.onnx / .mlx / .coreml)

__version__ = "0.2.0"


def device_info() -> dict:
    """What Lucid can run on here: ``{"gpu": "metal"|"cuda"|None, "default": "cpu"}``."""
    from lucid import _backend as B

    return {"gpu": B.gpu_kind(), "default": "cpu"}
