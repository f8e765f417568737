"""Hostile and foreign safetensors files: every malformed header gives one ValueError naming the
file and the problem, and every standard dtype written by another program loads as itself or is
refused by name. Files are built byte by byte here, independently of Lucid's writer."""

import json
import re

import numpy as np
import pytest

import lucid


def raw_file(path, header, data=b"", length=None):
    """Write a safetensors file from a header (object, or raw bytes) and a data area."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(text) if length is None else length
    path.write_bytes(n.to_bytes(8, "little") + text + data)
    return path


def entry(dtype="F32", shape=(1,), offsets=(0, 4)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def lucid_meta(structure):
    return {"format": "lucid.checkpoint", "version": "1", "structure": structure}


F4 = np.float32(1.5).tobytes()
MALFORMED = {  # name: (header, data, header length override, what the error must say)
    "offsets_not_numbers": ({"w": entry(offsets=("0", "4"))}, F4, None, "data_offsets"),
    "offsets_one_number": ({"w": entry(offsets=(4,))}, F4, None, "data_offsets"),
    "offsets_decreasing": ({"w": entry(offsets=(4, 0))}, F4, None, "data_offsets"),
    "list_for_entry": ({"w": [0, 4]}, F4, None, "expected an object"),
    "extra_field": ({"w": {**entry(), "x": 1}}, F4, None, "exactly"),
    "header_is_list": ([entry()], F4, None, "JSON list"),
    "deep_nesting": (b"[" * 100_000 + b"]" * 100_000, b"", None, "nested too deeply"),
    "deep_object": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"", None, "nested too deeply"),
    "dim_wraps_2_32": ({"w": entry(shape=(2**32 + 1,))}, F4, None, "dim above"),
    "dims_product_wraps": (
        {"w": entry(shape=(2**16, 2**16, 2**16, 2**16))},
        F4,
        None,
        "needs 73786976294838206464 bytes",
    ),
    "negative_dim": ({"w": entry(shape=(-1,))}, F4, None, "non-negative"),
    "bool_dim": ({"w": entry(shape=(True,))}, F4, None, "non-negative integers"),
    "float_dim": ({"w": entry(shape=(1.0,))}, F4, None, "non-negative integers"),
    "shape_not_list": ({"w": {**entry(), "shape": 1}}, F4, None, "shape"),
    "offsets_beyond_file": (
        {"w": entry(shape=(100,), offsets=(0, 400))},
        F4,
        None,
        "cover 400 data bytes, the file holds 4",
    ),
    "overlap": ({"a": entry(), "b": entry()}, F4, None, "overlaps"),
    "gap": ({"w": entry(offsets=(4, 8))}, F4 * 2, None, "gap"),
    "short_data": ({"w": entry(shape=(2,), offsets=(0, 8))}, F4, None, "cover 8"),
    "trailing_bytes": ({"w": entry()}, F4 * 2, None, "trailing bytes"),
    "size_mismatch": ({"w": entry(shape=(2,))}, F4, None, "needs 8 bytes"),
    "header_length_beyond_file": ({"w": entry()}, F4, 10**6, "header claims 1000000"),
    "header_length_huge": ({"w": entry()}, F4, 2**64 - 1, "header claims"),
    "rank_1000": ({"w": entry(shape=(1,) * 1000)}, F4, None, "1000 dims"),
    "non_utf8": (b'{"\xff\xfe": 1}', b"", None, "not valid JSON"),
    "not_json": (b"{'w': 1}", b"", None, "not valid JSON"),
    "json_cut": (json.dumps({"w": entry()}).encode()[:-3], b"", None, "not valid JSON"),
    "duplicate_key": (b'{"w": 1, "w": 2}', b"", None, "duplicate key 'w'"),
    "unknown_dtype": ({"w": entry(dtype="F7")}, F4, None, "unknown dtype 'F7'"),
    "dtype_not_string": ({"w": entry(dtype=["F32"])}, F4, None, "unknown dtype"),
    "metadata_list": ({"__metadata__": [1]}, b"", None, "'__metadata__' must map strings"),
    "metadata_number": ({"__metadata__": {"a": 1}}, b"", None, "'__metadata__' must map"),
    "bool_byte_2": ({"w": entry(dtype="BOOL", shape=(1,), offsets=(0, 1))}, b"\x02", None, "0/1"),
    "structure_not_json": ({"__metadata__": lucid_meta("[1")}, b"", None, "damaged structure"),
    "structure_list_for_node": (
        {"__metadata__": lucid_meta("[[1]]")},
        b"",
        None,
        "damaged structure",
    ),
    "structure_missing_tensor": (
        {"__metadata__": lucid_meta('{"tensor": "nope", "dtype": "float32"}')},
        b"",
        None,
        "does not hold",
    ),
    "structure_wrong_dtype": (
        {"__metadata__": lucid_meta('{"tensor": "w", "dtype": "int32"}'), "w": entry()},
        F4,
        None,
        "recorded as 'int32'",
    ),
    "structure_grad_on_ints": (
        {
            "__metadata__": lucid_meta('{"tensor": "w", "dtype": "int32", "requires_grad": true}'),
            "w": entry(dtype="I32"),
        },
        F4,
        None,
        "requires_grad=True",
    ),
    "structure_unknown_device": (
        {
            "__metadata__": lucid_meta('{"tensor": "w", "dtype": "float32", "device": "tpu"}'),
            "w": entry(),
        },
        F4,
        None,
        "unknown device 'tpu'",
    ),
    "structure_bad_pairs": ({"__metadata__": lucid_meta('{"dict": [[1]]}')}, b"", None, "pairs"),
    "structure_list_key": (
        {"__metadata__": lucid_meta('{"dict": [[[1], {"value": 1}]]}')},
        b"",
        None,
        "pairs",
    ),
    "structure_deep": (
        {"__metadata__": lucid_meta('{"list": [' * 5000 + '{"value": 1}' + "]}" * 5000)},
        b"",
        None,
        "damaged structure",
    ),
    "bad_version": (
        {"__metadata__": {**lucid_meta("{}"), "version": "9"}},
        b"",
        None,
        "version '9'",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_header_gives_one_clear_value_error(case, tmp_path):
    header, data, length, problem = MALFORMED[case]
    path = raw_file(tmp_path / f"{case}.safetensors", header, data, length)
    with pytest.raises(
        ValueError, match=re.escape(f"{case}.safetensors") + ".*" + re.escape(problem)
    ):
        lucid.load(path)


STANDARD = {  # safetensors code: (numpy dtype written, Lucid dtype expected)
    "F64": ("<f8", lucid.float64),
    "F32": ("<f4", lucid.float32),
    "F16": ("<f2", lucid.float16),
    "I8": ("i1", lucid.int8),
    "I16": ("<i2", lucid.int16),
    "I32": ("<i4", lucid.int32),
    "I64": ("<i8", lucid.int64),
    "U8": ("u1", lucid.uint8),
    "U32": ("<u4", lucid.uint32),
    "BOOL": ("?", lucid.bool_),
}


@pytest.mark.parametrize("code", sorted(STANDARD))
def test_standard_dtypes_from_other_programs_load_as_themselves(code, tmp_path):
    np_dtype, expected = STANDARD[code]
    values = np.array([[0, 1, 1], [1, 0, 1]]).astype(np_dtype)
    if values.dtype.kind in "iuf":
        values = (np.arange(6).reshape(2, 3) - (2 if values.dtype.kind != "u" else 0)).astype(
            np_dtype
        ) * np.array(3, np_dtype)
    path = raw_file(
        tmp_path / f"{code}.safetensors",
        {"w": entry(code, (2, 3), (0, values.nbytes))},
        values.tobytes(),
    )
    got = lucid.load(path)["w"]
    assert got.dtype == expected and got.shape == (2, 3)
    np.testing.assert_array_equal(got.numpy(), values)


def test_null_metadata_reads_as_empty(tmp_path):
    # MLX's writer (mx.save_safetensors) puts "__metadata__": null when given no metadata
    path = raw_file(tmp_path / "null.safetensors", {"__metadata__": None, "w": entry()}, F4)
    assert lucid.load(path)["w"].numpy().tolist() == [1.5]


def test_files_written_by_mlx_load(tmp_path):
    mx = pytest.importorskip("mlx.core")
    path = str(tmp_path / "mlx.safetensors")
    mx.save_safetensors(path, {"w": mx.array([1.0, -2.5])})
    np.testing.assert_array_equal(lucid.load(path)["w"].numpy(), [1.0, -2.5])


def test_bf16_from_other_programs_is_bit_exact(tmp_path):
    bits = np.array([0x3FC0, 0xC010, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0x8000], np.uint16)
    path = raw_file(
        tmp_path / "bf16.safetensors", {"w": entry("BF16", (7,), (0, 14))}, bits.tobytes()
    )
    got = lucid.load(path)["w"]
    assert got.dtype == lucid.bfloat16
    assert got.astype("float32").numpy()[:2].tolist() == [1.5, -2.25]
    lucid.save({"w": got}, tmp_path / "again.safetensors")
    raw = (tmp_path / "again.safetensors").read_bytes()
    assert raw[-14:] == bits.tobytes()  # NaN payload 0x7FC1 included


@pytest.mark.parametrize(
    "code,name", [("U16", "uint16"), ("U64", "uint64"), ("F8_E4M3", "float8_e4m3")]
)
def test_dtypes_lucid_lacks_are_refused_by_name(code, name, tmp_path):
    path = raw_file(tmp_path / "u.safetensors", {"w": entry(code, (1,), (0, 8))}, b"\0" * 8)
    with pytest.raises(ValueError, match=f"u.safetensors.*dtype {code} \\({name}\\).*not support"):
        lucid.load(path)


def test_the_reader_loads_u16_u64_once_lucid_has_those_dtypes(tmp_path):
    from lucid import _safetensors

    values = np.array([1, 65535], np.uint16)
    path = raw_file(
        tmp_path / "u16.safetensors", {"w": entry("U16", (2,), (0, 4))}, values.tobytes()
    )
    ((dtype, bits),) = _safetensors.read(str(path))[0].values()  # every standard code allowed
    assert dtype == "uint16" and bits.dtype == np.uint16 and bits.tolist() == [1, 65535]
    with pytest.raises(ValueError, match=r"dtype U16 \(uint16\)"):
        _safetensors.read(str(path), dtypes={"float32"})
