"""Random numbers: ``lucid.Generator``, the default generator, and the random creation functions.

Every draw splits a generator's key (MLX's counter-based threefry keys): the default generator
(``lucid.default_generator``, seeded by ``lucid.manual_seed``) unless a function is given
``generator=``. A Generator's whole state is its 2-word key plus its initial seed, so it is
saved with ``get_state()`` and put back with ``set_state()``. See docs/random.md.
"""

from __future__ import annotations

import contextlib
import operator
import os
from collections.abc import Iterator

import numpy as np

from lucid import _backend as B
from lucid._backend import runtime
from lucid._typing import DTypeLike, IntOrSeq
from lucid.creation import _make, _shape
from lucid.dtypes import as_dtype_name
from lucid.tensor import Tensor

__all__ = [
    "Generator",
    "default_generator",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "fork_rng",
    "rand",
    "randn",
    "randint",
    "randperm",
    "normal",
    "uniform",
    "bernoulli",
    "multinomial",
    "permutation",
    "rand_like",
    "randn_like",
    "randint_like",
]

DEFAULT_SEED = 67280421310721  # the seed a new Generator starts from (PyTorch's default seed)
STATE_SIZE = 16  # bytes of get_state(): the key's 2 uint32 words, then the initial seed (uint64)
_SEED_RANGE = (-(2**63), 2**64)


def _check_seed(seed) -> int:
    if isinstance(seed, bool):
        raise TypeError("seed must be an int, got bool")
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int, got {type(seed).__name__}") from None
    if not _SEED_RANGE[0] <= value < _SEED_RANGE[1]:
        raise ValueError(f"seed must be in [-2**63, 2**64), got {value}")
    return value % 2**64  # negative seeds wrap to uint64, as PyTorch's


def _nondeterministic_seed() -> int:
    """A fresh seed from the OS's entropy source (53 bits: exact as a float too)."""
    return int.from_bytes(os.urandom(8), "little") & (2**53 - 1)


class Generator:
    """A random number generator with its own state, PyTorch's ``torch.Generator``:
    ``g = lucid.Generator().manual_seed(0)``, then ``lucid.randn(3, generator=g)``.

    Its state is an MLX key (two uint32 words, held in a Tensor so ``lucid.compile`` captures it
    as state of a step that reaches the generator) and the seed it was last seeded with. A new
    Generator starts from seed 67280421310721, as PyTorch's. Draws from one generator never
    touch another's state or the default generator's. ``device`` is recorded; the key works
    for tensors on any device (MLX memory is unified).
    """

    def __init__(self, device: str = "cpu") -> None:
        self._device = B.resolve_device(device)
        self._seed = DEFAULT_SEED
        self._key = Tensor._wrap(B.seed_key(DEFAULT_SEED), "cpu")

    @property
    def device(self) -> str:
        """The device the generator was made for (``"cpu"`` or ``"gpu"``)."""
        return self._device

    def manual_seed(self, seed: int) -> Generator:
        """Seed the generator (an int in [-2**63, 2**64); negatives wrap); returns it."""
        value = _check_seed(seed)
        if self._key is runtime._default_key[0]:
            B.random_seed(value)  # the default one seeds MLX's own generator too
        else:
            self._key.data = B.seed_key(value)
        self._seed = value
        return self

    def seed(self) -> int:
        """Seed the generator from the OS's entropy source; returns the seed."""
        value = _nondeterministic_seed()
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        """The seed the generator was last seeded with (by ``manual_seed``, ``seed`` or
        ``set_state``)."""
        return self._seed

    def get_state(self) -> Tensor:
        """The generator's state as a uint8 Tensor of 16 bytes: the key's two uint32 words
        (little-endian), then the initial seed (uint64, little-endian). Reads the key back to
        the host."""
        words = np.asarray(B.to_numpy(self._key.data), dtype="<u4")
        raw = words.tobytes() + int(self._seed).to_bytes(8, "little")
        return Tensor(np.frombuffer(raw, dtype=np.uint8).copy(), dtype="uint8")

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state returned by ``get_state`` (a uint8 Tensor of 16 bytes); returns the
        generator. A wrong type or dtype raises TypeError, a wrong size ValueError."""
        if not isinstance(new_state, Tensor):
            raise TypeError(
                f"set_state expects a uint8 Tensor (from get_state), got {type(new_state).__name__}"
            )
        if new_state.dtype.name != "uint8":
            raise TypeError(
                f"set_state expects a uint8 Tensor (from get_state), got dtype {new_state.dtype}"
            )
        if tuple(new_state.shape) != (STATE_SIZE,):
            raise ValueError(
                f"set_state expects a state of {STATE_SIZE} bytes (from get_state), got shape "
                f"{tuple(new_state.shape)}"
            )
        raw = np.ascontiguousarray(new_state.numpy()).tobytes()
        words = np.frombuffer(raw[:8], dtype="<u4").astype(np.uint32)
        self._key.data = B.asarray(words, "uint32")
        self._seed = int.from_bytes(raw[8:], "little")
        return self

    def __repr__(self) -> str:
        return f"<lucid.Generator device={self._device!r} initial_seed={self._seed}>"


def _key_holder(generator: Generator | None, what: str):
    """The key holder the backend advances for ``generator`` (None: the default one)."""
    if generator is None:
        return None
    if not isinstance(generator, Generator):
        raise TypeError(
            f"{what}: generator must be a lucid.Generator or None, got {type(generator).__name__}"
        )
    return generator._key


def _make_default() -> Generator:
    g = Generator()
    g._seed = _nondeterministic_seed()  # as PyTorch's, unseeded runs differ
    g._key.data = B.seed_key(g._seed)
    runtime.set_default_key_holder(g._key)
    return g


default_generator = _make_default()
"""The generator every draw uses when given no ``generator=`` (PyTorch's
``torch.default_generator``); ``lucid.manual_seed`` seeds it."""


# --- module-level state functions (PyTorch's torch.* / torch.random.*) ------------------------
def manual_seed(seed: int) -> Generator:
    """Seed the default generator (every draw Lucid makes without ``generator=``: tensors,
    initialisers, dropout, shuffling); returns ``lucid.default_generator``."""
    return default_generator.manual_seed(seed)


def seed(value: int | None = None) -> int:
    """Seed the default generator from the OS's entropy source and return the seed (PyTorch's
    ``torch.seed()``). Lucid's older form ``seed(value)`` seeds it with ``value`` (as
    ``manual_seed``) and returns ``value``."""
    if value is None:
        return default_generator.seed()
    default_generator.manual_seed(value)
    return default_generator.initial_seed()


def initial_seed() -> int:
    """The seed the default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state (a uint8 Tensor; see ``Generator.get_state``)."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state from ``get_rng_state()``."""
    default_generator.set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True) -> Iterator[None]:
    """Inside, draw freely from the default generator: its state is put back on exit
    (PyTorch's ``torch.random.fork_rng``). ``devices`` is accepted and ignored: Lucid has one
    default generator for every device. ``enabled=False`` makes it a no-op."""
    if not enabled:
        yield
        return
    key, initial = default_generator._key.data, default_generator._seed  # arrays are values
    try:
        yield
    finally:
        default_generator._key.data = key
        default_generator._seed = initial


# --- drawing ------------------------------------------------------------------------------------
def _size(size):
    return _shape((size,) if isinstance(size, int) else (tuple(size),))


def randn(
    *shape: IntOrSeq,
    generator: Generator | None = None,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Standard normal samples."""
    shape, name = _shape(shape), as_dtype_name(dtype)
    key = _key_holder(generator, "randn")
    return _make(lambda: B.random_normal(shape, name, holder=key), device, requires_grad)


def rand(
    *shape: IntOrSeq,
    generator: Generator | None = None,
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples in [0, 1)."""
    shape, name = _shape(shape), as_dtype_name(dtype)
    key = _key_holder(generator, "rand")
    return _make(lambda: B.random_uniform(shape, name, holder=key), device, requires_grad)


def uniform(
    low: float = 0.0,
    high: float = 1.0,
    size: IntOrSeq = (),
    dtype: DTypeLike = "float32",
    device: str | None = None,
    requires_grad: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Uniform samples in [low, high) (Lucid's; PyTorch has ``Tensor.uniform_``)."""
    shape, name = _size(size), as_dtype_name(dtype)
    key = _key_holder(generator, "uniform")
    return _make(
        lambda: B.random_uniform(shape, name, low, high, holder=key), device, requires_grad
    )


def normal(
    mean: float | Tensor = 0.0,
    std: float | Tensor = 1.0,
    size: IntOrSeq | None = None,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Normal samples, PyTorch's ``normal``: ``normal(mean, std, size)`` with numbers, or
    ``normal(mean, std)`` with a Tensor mean and/or std (elementwise, broadcast; the result
    does not require grad). ``std`` must be non-negative."""
    key = _key_holder(generator, "normal")
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise TypeError("normal: size is only taken with a number mean and std")
        return _normal_tensors(mean, std, key, dtype)
    if std < 0:
        raise ValueError(f"normal expects std >= 0.0, but found std {std}")
    shape = _size(() if size is None else size)
    name = as_dtype_name(dtype or "float32")
    return _make(lambda: B.random_normal(shape, name, mean, std, holder=key), device, requires_grad)


def _normal_tensors(mean, std, key, dtype) -> Tensor:
    ref = mean if isinstance(mean, Tensor) else std
    m = mean.data if isinstance(mean, Tensor) else mean
    s = std.data if isinstance(std, Tensor) else std
    name = as_dtype_name(dtype) if dtype is not None else ref.dtype.name
    if not B.is_floating(B.DTYPES[name]):
        raise TypeError(f"normal: mean and std must be floating point, got {name}")
    if not isinstance(std, Tensor) and std < 0:
        raise ValueError(f"normal expects std >= 0.0, but found std {std}")
    shape = np.broadcast_shapes(
        tuple(mean.shape) if isinstance(mean, Tensor) else (),
        tuple(std.shape) if isinstance(std, Tensor) else (),
    )
    with B.device_scope(ref._device):
        if isinstance(std, Tensor):  # checked at the next evaluation, as a device assertion
            B.defer_check(B.any(B.less(s, 0)), _negative_std)
        out = B.cast(B.random_normal(shape, name, holder=key) * s + m, name)
    return Tensor._wrap(out, ref._device)


def _negative_std():
    raise ValueError("normal expects all elements of std >= 0.0")


def randint(
    low: int,
    high: int | IntOrSeq | None = None,
    size: IntOrSeq = (),
    *,
    generator: Generator | None = None,
    dtype: DTypeLike = "int64",
    device: str | None = None,
) -> Tensor:
    """Integers uniformly drawn from [low, high): PyTorch's ``randint(low, high, size)`` and
    ``randint(high, size)`` (from [0, high))."""
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    low, high = int(low), int(high)  # type: ignore[arg-type]
    if high <= low:
        raise ValueError(f"randint: empty range [{low}, {high})")
    shape, name = _size(size), as_dtype_name(dtype)
    key = _key_holder(generator, "randint")
    return _make(lambda: B.random_randint(low, high, shape, name, holder=key), device, False)


def permutation(n: int, device: str | None = None, *, generator: Generator | None = None) -> Tensor:
    """A random permutation of 0..n-1 (int64); Lucid's name for ``randperm``."""
    return randperm(n, generator=generator, device=device)


def randperm(
    n: int,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike = "int64",
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of 0..n-1, drawn from ``generator`` (the default one if None)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    n, name = int(n), as_dtype_name(dtype)
    key = _key_holder(generator, "randperm")
    return _make(
        lambda: (
            B.cast(B.random_permutation(n, holder=key), name)
            if n
            else B.zeros((0,), dtype=B.DTYPES[name])
        ),
        device,
        requires_grad,
    )


def bernoulli(
    input: Tensor, p: float | None = None, *, generator: Generator | None = None
) -> Tensor:
    """0/1 samples, each 1 with the probability in ``input`` (PyTorch's ``bernoulli``), or
    with probability ``p`` in ``input``'s shape when ``p`` is given; ``input``'s dtype."""
    if not isinstance(input, Tensor):
        raise TypeError(f"bernoulli expects a Tensor, got {type(input).__name__}")
    key = _key_holder(generator, "bernoulli")
    if p is None:
        if not input.is_floating_point():
            raise TypeError(f"bernoulli: probabilities must be floating point, got {input.dtype}")
        prob = input.data
    elif not 0 <= p <= 1:
        raise ValueError(f"bernoulli expects p to be in [0, 1], but got p={p}")
    else:
        prob = p
    with B.device_scope(input._device):
        if p is None:  # checked at the next evaluation, as a device assertion
            bad = B.logical_or(B.less(prob, 0), B.greater(prob, 1))
            B.defer_check(B.any(B.logical_or(bad, B.isnan(prob))), _bad_probability)
        out = B.cast(B.random_bernoulli(prob, input.shape, holder=key), input.dtype.name)
    return Tensor._wrap(out, input._device)


def _bad_probability():
    raise ValueError("bernoulli: every probability must be in [0, 1]")


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Generator | None = None,
) -> Tensor:
    """Category indices (int64) drawn with probabilities proportional to the non-negative
    weights in ``input`` (1-D, or 2-D: one draw per row), PyTorch's ``multinomial``. Without
    ``replacement`` each category is drawn at most once per row (``num_samples`` must not
    exceed the number of categories); once the categories of non-zero weight are used up, the
    remaining samples are categories of weight zero, as PyTorch's CPU kernel gives."""
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial expects a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {input.shape}")
    if not input.is_floating_point():
        raise TypeError(
            f"multinomial only supports floating-point dtypes for input, got {input.dtype}"
        )
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial: num_samples must be an int, got {num_samples!r}")
    if num_samples <= 0:
        raise ValueError(f"multinomial: cannot sample n_sample <= 0 samples, got {num_samples}")
    weights = np.asarray(B.to_numpy(input.data), dtype=np.float64).reshape(-1, input.shape[-1])
    if weights.shape[1] == 0:
        raise ValueError("multinomial: the input has no categories")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("multinomial: probability tensor contains either inf, nan or element < 0")
    if (weights.sum(axis=1) <= 0).any():
        raise ValueError(
            "multinomial: invalid multinomial distribution (sum of probabilities <= 0)"
        )
    if not replacement and num_samples > weights.shape[1]:
        raise ValueError(
            "multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
            f"replacement (num_samples={num_samples}, categories: {weights.shape[1]})"
        )
    key = _key_holder(generator, "multinomial")
    shape = (*input.shape[:-1], int(num_samples))
    if weights.shape[0] == 0:  # no rows (a batch of 0): nothing to draw, as PyTorch
        return Tensor._wrap(B.zeros(shape, dtype=B.DTYPES["int64"]), input._device)
    with B.device_scope(input._device):
        logits = B.log(B.cast(input.data, "float32"))
        if replacement:
            out = B.random_categorical(logits, int(num_samples), holder=key)
        else:  # Gumbel top-k: the k largest perturbed log-weights, drawn without replacement
            out = B.random_top_k(logits, int(num_samples), holder=key)
        out = B.cast(out, "int64")
    return Tensor._wrap(out, input._device)


def _like(t: Tensor, generator, dtype, device, requires_grad) -> dict:
    """The keywords of a ``*_like`` draw: ``t``'s dtype and device unless given."""
    return {
        "generator": generator,
        "dtype": dtype or t.dtype,
        "device": device or t.device,
        "requires_grad": requires_grad,
    }


def rand_like(
    t: Tensor,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Uniform samples with ``t``'s shape."""
    return rand(t.shape, **_like(t, generator, dtype, device, requires_grad))


def randn_like(
    t: Tensor,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike = None,
    device: str | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """Normal samples with ``t``'s shape."""
    return randn(t.shape, **_like(t, generator, dtype, device, requires_grad))


def randint_like(
    t: Tensor,
    low: int = 0,
    high: int | None = None,
    *,
    generator: Generator | None = None,
    dtype: DTypeLike = None,
    device: str | None = None,
) -> Tensor:
    """Integers from [low, high) with ``t``'s shape (``randint_like(t, high)`` draws from
    [0, high)), in ``t``'s dtype unless ``dtype`` is given."""
    if high is None:
        low, high = 0, low
    return randint(
        low,
        high,
        tuple(t.shape),
        generator=generator,
        dtype=dtype or t.dtype,
        device=device or t.device,
    )
