"""lucid.save / lucid.load: bit-exact round trips of nested checkpoints (every dtype, key types,
tuples, non-tensor values), atomic writes, and clear errors for missing, truncated and foreign
files. No pickle anywhere."""

import json
import os
import struct

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid import optim, serialization

RNG = np.random.default_rng(11)


def tensors_of_every_dtype():
    out = {
        "f32": lucid.tensor(RNG.normal(size=(2, 3)).astype(np.float32)),
        "f64": lucid.tensor(RNG.normal(size=(3,)), dtype="float64"),
        "f16": lucid.tensor(RNG.normal(size=(4,)).astype(np.float16)),
        "bf16": lucid.tensor([1.5, -2.25, 3.0e10], dtype="bfloat16"),
        "i64": lucid.tensor(np.array([2**62 + 1, -(2**62) - 3, 0], dtype=np.int64)),
        "i32": lucid.tensor(np.array([-5, 7], dtype=np.int32), dtype="int32"),
        "i8": lucid.tensor(np.array([-128, 127], dtype=np.int8), dtype="int8"),
        "u8": lucid.tensor(np.array([0, 255], dtype=np.uint8)),
        "bool": lucid.tensor([True, False, True]),
        "scalar": lucid.tensor(3.25),
        "empty": lucid.zeros(0, 4),
        "special": lucid.tensor(np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], np.float32)),
    }
    return out


def assert_bit_equal(a, b):
    assert isinstance(b, lucid.Tensor)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == lucid.bfloat16:  # compare the raw 16-bit patterns via float32 (exact)
        a, b = a.astype("float32"), b.astype("float32")
    x, y = a.numpy(), b.numpy()
    assert x.tobytes() == y.tobytes()


def test_round_trip_is_bit_exact_for_every_dtype(tmp_path):
    ts = tensors_of_every_dtype()
    lucid.save(ts, tmp_path / "all.safetensors")
    back = lucid.load(tmp_path / "all.safetensors")
    assert list(back) == list(ts)
    for k in ts:
        assert_bit_equal(ts[k], back[k])


def test_nested_training_state_round_trips(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    model(lucid.randn(5, 3)).sum().backward()
    opt.step()
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "best": 0.125,
        "nan": float("nan"),
        "name": "run-1",
        "done": False,
        "none": None,
        "history": [1.5, 2, [3, {"k": lucid.tensor([1, 2])}]],
        "shape": (2, 3),
        "int_keys": {0: "a", 10: "b"},
        "arr": np.arange(4, dtype=np.int16),
        "dotted": {"a.b": lucid.tensor(1.0), "a": {"b": lucid.tensor(2.0)}},
    }
    path = tmp_path / "ckpt.pt"  # any file name works
    lucid.save(state, path)
    back = lucid.load(path)
    for k, v in state["model"].items():
        assert_bit_equal(v, back["model"][k])
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)  # still a tuple
    assert set(back["optimizer"]["state"]) == set(state["optimizer"]["state"])  # int keys
    for i, s in state["optimizer"]["state"].items():
        for k, v in s.items():
            if isinstance(v, lucid.Tensor):
                assert_bit_equal(v, back["optimizer"]["state"][i][k])
            else:
                assert back["optimizer"]["state"][i][k] == v
    assert (back["epoch"], back["best"], back["name"], back["done"], back["none"]) == (
        3,
        0.125,
        "run-1",
        False,
        None,
    )
    assert type(back["epoch"]) is int and type(back["done"]) is bool
    assert np.isnan(back["nan"])
    assert back["history"][:2] == [1.5, 2] and back["history"][2][1]["k"].tolist() == [1, 2]
    assert back["shape"] == (2, 3) and back["int_keys"] == {0: "a", 10: "b"}
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == np.int16
    assert back["dotted"]["a.b"].item() == 1.0 and back["dotted"]["a"]["b"].item() == 2.0
    model2 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model2.load_state_dict(back["model"])
    x = lucid.randn(2, 3)
    np.testing.assert_array_equal(model2(x).numpy(), model(x).numpy())


def test_unsupported_values_raise_and_write_nothing(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match=r"cannot store a object \(at a.b\)"):
        lucid.save({"a": {"b": object()}}, path)
    with pytest.raises(TypeError, match="dict keys"):
        lucid.save({(1, 2): 3}, path)
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    lucid.save({"w": lucid.tensor([1.0, 2.0])}, path)
    old = path.read_bytes()

    def crash(f, buffer):
        f.write(bytes(buffer)[:5])  # half a checkpoint, then the disk fills up
        raise OSError("disk full")

    monkeypatch.setattr(serialization, "_write_bytes", crash)
    with pytest.raises(OSError, match="disk full"):
        lucid.save({"w": lucid.tensor([3.0, 4.0])}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    assert lucid.load(path)["w"].tolist() == [1.0, 2.0]

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lucid.save({"w": lucid.tensor([5.0])}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["ckpt.safetensors"]
    lucid.save({"w": lucid.tensor([5.0])}, path)  # and a normal save replaces it
    assert lucid.load(path)["w"].tolist() == [5.0]
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        lucid.load(tmp_path / "nope.safetensors")
    good = tmp_path / "good.safetensors"
    lucid.save({"w": lucid.randn(100)}, good)
    data = good.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 20, 4, 0):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.safetensors"):
            lucid.load(bad)
    foreign = tmp_path / "model.pkl"
    foreign.write_bytes(b"\x80\x04\x95" + os.urandom(64))  # a pickle-like blob
    with pytest.raises(ValueError, match="model.pkl"):
        lucid.load(foreign)
    text = tmp_path / "notes.txt"
    text.write_bytes(struct.pack("<Q", 5) + b"hello")
    with pytest.raises(ValueError, match="notes.txt"):
        lucid.load(text)
    with pytest.raises(IsADirectoryError):
        lucid.load(tmp_path)


def test_plain_safetensors_without_lucid_metadata_load_flat(tmp_path):
    path = tmp_path / "plain.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(
        struct.pack("<Q", len(header)) + header + np.array([1.0, 2.0], np.float32).tobytes()
    )
    back = lucid.load(path)
    assert list(back) == ["w"] and back["w"].tolist() == [1.0, 2.0]


def test_requires_grad_survives(tmp_path):
    p = nn.Parameter(lucid.tensor([1.0]))
    lucid.save({"p": p}, tmp_path / "p.safetensors")
    assert lucid.load(tmp_path / "p.safetensors")["p"].requires_grad
