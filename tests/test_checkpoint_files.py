"""Checkpoint files on disk: loaded tensors own their data, no descriptor stays open, killed
saves leave nothing the next save does not remove, symlinks and permissions are respected,
reserved keys are refused, and map_location works like PyTorch's string form."""

import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".lucid-tmp"))


def test_loaded_weights_do_not_alias_the_file(tmp_path):
    path = tmp_path / "m.safetensors"
    model = nn.Linear(4, 3)
    lucid.save(model.state_dict(), path)
    before = model.weight.numpy().copy()
    fresh = nn.Linear(4, 3)
    fresh.load_state_dict(lucid.load(path))
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    raw[8 + n :] = b"\x7f" * (len(raw) - 8 - n)  # every data byte changes, in place
    with open(path, "r+b") as f:
        f.write(raw)
    np.testing.assert_array_equal(fresh.weight.numpy(), before)
    os.remove(path)  # and the weights live on without the file
    np.testing.assert_array_equal(fresh.weight.numpy(), before)


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
def test_loads_close_their_files(tmp_path):
    path = tmp_path / "m.safetensors"
    lucid.save({"w": lucid.ones(3), "b": lucid.zeros(2), "arr": np.arange(3)}, path)
    lucid.load(path)  # warm up whatever the first load opens for good
    before = open_descriptors()
    kept = [lucid.load(path) for _ in range(300)]  # tensors kept alive: they must not pin fds
    assert open_descriptors() == before
    assert all(k["w"].tolist() == [1.0, 1.0, 1.0] for k in kept)


KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import lucid
    from lucid import serialization

    def stall(f, buffer):  # write the header, then hang until killed
        f.write(buffer)
        f.flush()
        print("writing", flush=True)
        time.sleep(120)

    serialization._write_bytes = stall
    lucid.save({"w": lucid.ones(1000)}, sys.argv[1])
""")


def kill_mid_save(path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stdout.close()
    return proc.pid


def test_a_killed_save_is_cleaned_up_by_the_next(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    lucid.save({"w": lucid.zeros(2)}, path)
    old = path.read_bytes()
    first = kill_mid_save(path)
    (stale,) = leftovers(tmp_path)  # what a kill leaves: named for the target and the pid
    assert stale.startswith(".ckpt.safetensors.") and f".{first}." in stale
    second = kill_mid_save(path)  # the second (killed) save still removed the first's
    (stale,) = leftovers(tmp_path)
    assert f".{second}." in stale
    assert path.read_bytes() == old  # the checkpoint itself is untouched
    other = tmp_path / "other.safetensors"
    lucid.save({"x": lucid.ones(1)}, other)  # a save to another file leaves it alone
    assert leftovers(tmp_path) == [stale]
    lucid.save({"w": lucid.ones(2)}, path)
    assert leftovers(tmp_path) == []
    assert lucid.load(path)["w"].tolist() == [1.0, 1.0]


def test_temp_files_of_live_processes_are_kept(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    live = f".ckpt.safetensors.{serialization._HOST}.{os.getppid()}.0123abcd.lucid-tmp"
    (tmp_path / live).write_bytes(b"a save in progress elsewhere")
    lucid.save({"w": lucid.ones(2)}, path)
    assert leftovers(tmp_path) == [live]


def test_saving_through_a_symlink_writes_the_target(tmp_path):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "epoch3.safetensors"
    lucid.save({"w": lucid.zeros(1)}, target)
    link = tmp_path / "latest.safetensors"
    link.symlink_to(target)
    lucid.save({"w": lucid.ones(1)}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert lucid.load(target)["w"].tolist() == [1.0]
    dangling = tmp_path / "next.safetensors"
    dangling.symlink_to(tmp_path / "runs" / "epoch4.safetensors")
    lucid.save({"w": lucid.ones(1)}, dangling)
    assert dangling.is_symlink() and lucid.load(tmp_path / "runs" / "epoch4.safetensors")
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "runs") == []


def test_permissions_kept_and_umask_read_at_save_time(tmp_path):
    path = tmp_path / "shared.safetensors"
    lucid.save({"w": lucid.zeros(1)}, path)
    os.chmod(path, 0o640)
    lucid.save({"w": lucid.ones(1)}, path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    for mask, mode in ((0o077, 0o600), (0o002, 0o664)):
        old = os.umask(mask)
        try:
            fresh = tmp_path / f"new{mask:o}.safetensors"
            lucid.save({"w": lucid.ones(1)}, fresh)
        finally:
            os.umask(old)
        assert os.stat(fresh).st_mode & 0o777 == mode


def test_saving_into_a_missing_folder_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder .*nope"):
        lucid.save({"w": lucid.ones(1)}, tmp_path / "nope" / "x.safetensors")


def test_reserved_key_is_refused_at_save(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(ValueError, match="'__metadata__' is reserved"):
        lucid.save({"__metadata__": lucid.ones(1)}, path)
    assert os.listdir(tmp_path) == []
    lucid.save({"a": {"__metadata__": lucid.ones(1)}}, path)  # nested: an ordinary name
    assert lucid.load(path)["a"]["__metadata__"].tolist() == [1.0]


def test_map_location(tmp_path):
    path = tmp_path / "x.safetensors"
    lucid.save({"w": lucid.ones(2), "n": 3}, path)
    for where in (None, "cpu", lucid.load(path)["w"].device):
        assert lucid.load(path, map_location=where)["w"].device == "cpu"
    kind = lucid.device_info()["gpu"]
    named = {"cuda": ("cuda", "cuda:0"), "metal": ("mps",)}.get(kind, ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no GPU here" on a CPU-only machine
        for where in ("gpu", "gpu:0", lucid.device("gpu"), *named):
            got = lucid.load(path, map_location=where)["w"]
            assert got.device == lucid.tensor([1.0], device="gpu").device
            assert got.tolist() == [1.0, 1.0]
    for where in {"cuda", "cuda:0", "mps"} - set(named):  # another kind of GPU: an error
        with pytest.raises(RuntimeError, match="is not available"):
            lucid.load(path, map_location=where)
    assert lucid.load(path, device="cpu", weights_only=True)["n"] == 3
    with pytest.raises(TypeError, match="dict and function forms are not supported"):
        lucid.load(path, map_location={"cuda:0": "cpu"})
    with pytest.raises(TypeError, match="map_location"):
        lucid.load(path, map_location=lambda storage, loc: storage)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        lucid.load(path, map_location="tpu")
    with pytest.raises(ValueError, match="disagree"):
        lucid.load(path, map_location="cpu", device="gpu")


def test_file_objects_like_pytorch(tmp_path):
    import io

    buffer = io.BytesIO()
    state = {"w": lucid.tensor([1.5, 2.5]), "step": 7}
    lucid.save(state, buffer)
    buffer.seek(0)
    back = lucid.load(buffer)
    assert back["w"].tolist() == [1.5, 2.5] and back["step"] == 7
    with open(tmp_path / "f.safetensors", "wb") as f:
        lucid.save(state, f)
    with open(tmp_path / "f.safetensors", "rb") as f:
        assert lucid.load(f)["step"] == 7
    with pytest.raises(ValueError, match="<file object>.*header claims"):
        lucid.load(io.BytesIO(b"\xff" * 16))
