"""Property-based checks of lucid.save / lucid.load (hypothesis): random valid checkpoints
round-trip bit-exactly; random byte mutations load or raise ValueError (never another exception,
never a crash); every truncation or extension raises ValueError; random JSON headers too."""

import json
import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

import lucid  # noqa: E402
from lucid import _backend as B  # noqa: E402

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DTYPES = [
    "float32",
    "float16",
    "bfloat16",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint32",
    "bool",
]
BITS = {"bfloat16": np.uint16, "bool": np.uint8}


@st.composite
def tensors(draw):
    """A tensor of any Lucid dtype with arbitrary element bits (NaN payloads, -0.0, ...)."""
    name = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4)))
    bits_dtype = np.dtype(BITS.get(name, name))
    n = int(np.prod(shape, dtype=np.int64))
    raw = draw(st.binary(min_size=n * bits_dtype.itemsize, max_size=n * bits_dtype.itemsize))
    bits = np.frombuffer(raw, dtype=bits_dtype).reshape(shape).copy()
    if name == "bool":
        bits = (bits & 1).astype(np.bool_)
    return lucid.Tensor(
        B.from_element_bits(bits, name),
        requires_grad=draw(st.booleans()) and name.startswith(("float", "bf")),
    )


KEYS = st.text(min_size=0, max_size=8).filter(lambda k: k != "__metadata__")
LEAVES = (
    tensors()
    | st.integers(-(2**63), 2**63)
    | st.floats()
    | st.text(max_size=5)
    | st.booleans()
    | st.none()
)
STATES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(KEYS | st.integers(-5, 5), inner, max_size=3)
    ),
    max_leaves=12,
)


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, lucid.Tensor):
        assert (a.dtype, a.shape, a.requires_grad) == (b.dtype, b.shape, b.requires_grad)
        assert B.element_bits(a.data).tobytes() == B.element_bits(b.data).tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


@FUZZ
@given(STATES)
def test_random_checkpoints_round_trip_bit_exactly(state):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "c.safetensors")
        lucid.save(state, path)
        assert_same(state, lucid.load(path))
        assert os.listdir(folder) == ["c.safetensors"]


def valid_file():
    """A small real checkpoint holding several dtypes and nested structure."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "v.safetensors")
        lucid.save(
            {
                "model": {
                    "w": lucid.arange(6).reshape(2, 3).astype("float32"),
                    "b": lucid.tensor([1, 2], dtype="int32"),
                },
                "h": lucid.tensor([1.5], dtype="bfloat16"),
                "mask": lucid.tensor([True]),
                "epoch": 3,
                "betas": (0.9, 0.999),
            },
            path,
        )
        with open(path, "rb") as f:
            return f.read()


VALID = valid_file()


def load_bytes(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        return lucid.load(path)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_byte_mutations_load_or_raise_value_error(edits):
    data = bytearray(VALID)
    for position, value in edits:
        data[position] = value
    try:
        load_bytes(bytes(data))
    except ValueError as exc:
        assert "m.safetensors" in str(exc)


@FUZZ
@given(st.integers(0, len(VALID) - 1), st.binary(max_size=16))
def test_truncations_and_extensions_raise_value_error(cut, extra):
    with pytest.raises(ValueError, match="m.safetensors"):
        load_bytes(VALID[:cut])
    if extra:
        with pytest.raises(ValueError, match="m.safetensors"):
            load_bytes(VALID + extra)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["F32", "BF16", "U16", "__metadata__", "data_offsets"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["w", "dtype", "shape", "data_offsets", "__metadata__", "format", "structure"]
            )
            | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@FUZZ
@given(JSON, st.binary(max_size=24))
def test_random_json_headers_load_or_raise_value_error(header, data):
    text = json.dumps(header).encode()
    try:
        load_bytes(len(text).to_bytes(8, "little") + text + data)
    except ValueError as exc:
        assert "m.safetensors" in str(exc)
