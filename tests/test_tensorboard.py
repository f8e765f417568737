"""lucid.utils.tensorboard.SummaryWriter: event files that TensorBoard's own reader (which checks
every record's CRC-32C) reads back with the values, steps, tags and image sizes written, and
the same content as torch.utils.tensorboard writes for the same calls."""

import glob
import io
import os
import struct
import zlib

import numpy as np
import pytest

import lucid
from lucid.utils._event_file import crc32c, frame, masked_crc32c

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

from lucid.utils._summaries import encode_png, tensorflow_bins  # noqa: E402
from lucid.utils.tensorboard import SummaryWriter  # noqa: E402

ALL = {"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}


def read(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance=ALL)
    acc.Reload()
    return acc


def decode_png(data):
    """Pixels of an 8-bit, non-interlaced PNG (gray/RGB/RGBA), decoded independently of
    Lucid's encoder: all five PNG row filters undone by the spec's definitions."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0]
        if kind == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    c = {0: 1, 2: 3, 6: 4}[color]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * c)
    out = np.zeros((h, w * c), np.int64)
    for y in range(h):
        f, row = raw[y, 0], raw[y, 1:].astype(np.int64)
        up = out[y - 1] if y else np.zeros(w * c, np.int64)
        for x in range(w * c):
            left = out[y, x - c] if x >= c else 0
            ul = up[x - c] if x >= c else 0
            pred = {0: 0, 1: left, 2: up[x], 3: (left + up[x]) // 2}.get(int(f))
            if f == 4:
                p = left + up[x] - ul
                pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else (up[x] if pb <= pc else ul)
            out[y, x] = (row[x] + pred) % 256
    return out.reshape(h, w, c).astype(np.uint8)


# --- the record format -------------------------------------------------------------------------
def test_crc32c_known_values_and_tensorboards_masked_crc():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(b"") == 0 and crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4 vector
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as theirs

    data = np.random.default_rng(0).integers(0, 256, 777, dtype=np.uint8).tobytes()
    assert masked_crc32c(data) == theirs(data)
    rec = frame(data)
    assert struct.unpack("<Q", rec[:8])[0] == 777 and rec[12:-4] == data
    assert struct.unpack("<I", rec[-4:])[0] == theirs(data)


def test_png_encoder_round_trips():
    rng = np.random.default_rng(1)
    for c in (1, 3, 4):
        px = rng.integers(0, 256, (5, 7, c), dtype=np.uint8)
        np.testing.assert_array_equal(decode_png(encode_png(px)), px)


# --- what TensorBoard reads back ---------------------------------------------------------------
def test_scalars_images_histograms_text_read_back(tmp_path):
    rng = np.random.default_rng(0)
    img_chw = rng.random((3, 6, 10))
    img_hwc = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    batch = rng.random((10, 1, 3, 2)).astype(np.float32)
    values = rng.standard_normal(500)
    with SummaryWriter(tmp_path, max_queue=3) as w:
        assert w.get_logdir() == str(tmp_path)
        for step in range(7):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("t/lucid", lucid.tensor([2.5]), 10)  # a one-element Tensor
        w.add_scalar("t/np", np.float64(0.125), 11, walltime=123.0)
        w.add_scalar("new", lucid.tensor(3.25), 1, new_style=True, double_precision=True)
        w.add_image("chw", img_chw, 2)
        w.add_image("hwc", img_hwc, 3, dataformats="HWC")
        w.add_image("hw", lucid.tensor(img_chw[0].T), 4, dataformats="WH")
        w.add_images("batch", batch, 5)
        w.add_histogram("weights", lucid.tensor(values.astype(np.float32)), 6)
        w.add_histogram("ints", np.arange(10), 7, bins=5)
        w.add_text("notes", "lr **0.1**", 8)
    acc = read(tmp_path)
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == list(range(7))
    np.testing.assert_allclose([e.value for e in loss], 1.0 / np.arange(1, 8), rtol=1e-6)
    assert acc.Scalars("t/lucid")[0].step == 10 and acc.Scalars("t/lucid")[0].value == 2.5
    assert acc.Scalars("t/np")[0].wall_time == 123.0
    new = acc.Tensors("new")[0]
    assert new.step == 1 and list(new.tensor_proto.double_val) == [3.25]
    assert acc.SummaryMetadata("new").plugin_data.plugin_name == "scalars"

    chw = acc.Images("chw")[0]
    assert (chw.step, chw.width, chw.height) == (2, 10, 6)
    want = np.clip(np.rint(img_chw.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(chw.encoded_image_string), want)
    hwc = acc.Images("hwc")[0]
    assert (hwc.width, hwc.height) == (5, 4)
    np.testing.assert_array_equal(decode_png(hwc.encoded_image_string), img_hwc)
    hw = decode_png(acc.Images("hw")[0].encoded_image_string)
    np.testing.assert_array_equal(hw[..., 0], want[..., 0])  # "WH": transposed back
    grid = acc.Images("batch")[0]  # 10 images of 3x2, 8 per row: 2 rows, 8 columns
    assert (grid.width, grid.height) == (16, 6)
    px = decode_png(grid.encoded_image_string)[..., 0]
    np.testing.assert_array_equal(px[3:6, 2:4], np.rint(batch[9, 0] * 255).astype(np.uint8))
    assert not px[3:6, 4:].any()  # the rest of the second row stays black

    h = acc.Histograms("weights")[0].histogram_value
    v32 = values.astype(np.float32).astype(np.float64)
    assert (h.min, h.max, h.num) == (v32.min(), v32.max(), 500)
    assert h.sum == pytest.approx(v32.sum(), rel=1e-9)
    assert h.sum_squares == pytest.approx((v32**2).sum(), rel=1e-9)
    assert sum(h.bucket) == 500 and h.bucket[0] == 0
    edges = tensorflow_bins()
    counts, _ = np.histogram(v32, edges)
    nz = np.flatnonzero(counts)
    assert list(h.bucket[1:]) == counts[nz[0] : nz[-1] + 1].tolist()
    np.testing.assert_array_equal(h.bucket_limit, edges[nz[0] : nz[-1] + 2])
    ints = acc.Histograms("ints")[0].histogram_value
    assert list(ints.bucket_limit) == pytest.approx([0, 1.8, 3.6, 5.4, 7.2, 9])
    assert list(ints.bucket) == [0, 2, 2, 2, 2, 2]

    text = acc.Tensors("notes/text_summary")[0]
    assert text.step == 8 and text.tensor_proto.string_val == [b"lr **0.1**"]
    assert acc.SummaryMetadata("notes/text_summary").plugin_data.plugin_name == "text"


def test_add_scalars_writes_one_run_per_key(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("loss", {"train": step, "val/x": 10 + step}, step)
    assert sorted(os.listdir(tmp_path / "loss_train")) and (tmp_path / "loss_val_x").is_dir()
    assert [e.value for e in read(tmp_path / "loss_train").Scalars("loss")] == [0, 1, 2]
    assert [e.value for e in read(tmp_path / "loss_val_x").Scalars("loss")] == [10, 11, 12]


def hparams_content(acc):
    content = acc.PluginTagToContent("hparams")
    out = {}
    for tag, raw in content.items():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        out[tag] = data
    return out


def test_hparams_read_back(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_hparams(
            {"lr": 0.01, "opt": "adam", "bn": True, "depth": lucid.tensor(3), "skip": None},
            {"hparam/acc": 0.75},
            hparam_domain_discrete={"opt": ["adam", "sgd"]},
            run_name="trial",
        )
    acc = read(tmp_path / "trial")
    assert acc.Scalars("hparam/acc")[0].value == 0.75
    hp = hparams_content(acc)
    exp = hp["_hparams_/experiment"].experiment
    infos = {i.name: i for i in exp.hparam_infos}
    assert sorted(infos) == ["bn", "depth", "lr", "opt"]  # None is skipped, as in PyTorch
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["adam", "sgd"]
    assert [m.name.tag for m in exp.metric_infos] == ["hparam/acc"]
    start = hp["_hparams_/session_start_info"].session_start_info.hparams
    assert start["lr"].number_value == 0.01 and start["opt"].string_value == "adam"
    assert start["bn"].bool_value is True and start["depth"].number_value == 3
    assert hp["_hparams_/session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS


def test_purge_step_drops_the_steps_a_resumed_run_rewrites(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(10):
            w.add_scalar("x", step, step)
    with SummaryWriter(tmp_path, purge_step=5) as w:
        for step in range(5, 8):
            w.add_scalar("x", 100 + step, step)
    events = read(tmp_path).Scalars("x")
    assert [(e.step, e.value) for e in events] == [(s, s) for s in range(5)] + [
        (s, 100 + s) for s in range(5, 8)
    ]


def test_queue_flush_close_and_reopen(tmp_path):
    w = SummaryWriter(tmp_path, max_queue=4, filename_suffix=".lucid")
    (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*.lucid"))
    assert os.path.getsize(path) > 0  # the file-version header is written at once
    for step in range(3):
        w.add_scalar("x", step, step)
    assert read(tmp_path).Tags()["scalars"] == []  # queued, below max_queue
    w.add_scalar("x", 3, 3)  # the 4th: the queue is written
    assert len(read(tmp_path).Scalars("x")) == 4
    w.add_scalar("x", 4, 4)
    w.flush()
    assert len(read(tmp_path).Scalars("x")) == 5
    w.close()
    w.close()  # twice is harmless
    w.add_scalar("x", 5, 5)  # after close a new file is opened, as in PyTorch
    w.close()
    assert len(glob.glob(str(tmp_path / "events.out.tfevents.*"))) == 2
    assert [e.step for e in read(tmp_path).Scalars("x")] == list(range(6))


def test_flush_secs_thread_and_collection_write_the_queue(tmp_path):
    import gc
    import time

    w = SummaryWriter(tmp_path / "a", flush_secs=0.05)
    w.add_scalar("x", 1.0, 0)
    deadline = time.time() + 5
    while not read(tmp_path / "a").Tags()["scalars"] and time.time() < deadline:
        time.sleep(0.02)
    assert read(tmp_path / "a").Scalars("x")[0].value == 1.0
    w.close()
    w = SummaryWriter(tmp_path / "b")
    w.add_scalar("x", 2.0, 0)
    del w
    gc.collect()  # an unreferenced writer is collected and its queue written
    assert read(tmp_path / "b").Scalars("x")[0].value == 2.0


def test_default_log_dir_and_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1") as w:
        assert w.get_logdir().startswith("runs" + os.sep) and w.get_logdir().endswith("_lr0.1")
        assert os.path.isdir(w.get_logdir())


def test_add_figure(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1), dpi=50)
    fig.add_subplot().plot([0, 1], [1, 0])
    canvas = fig.canvas
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 0)
        w.add_figure("figs", [fig, fig], 1)
    assert fig.canvas is canvas  # its canvas is restored
    acc = read(tmp_path)
    one = acc.Images("fig")[0]
    assert (one.width, one.height) == (100, 50)
    assert decode_png(one.encoded_image_string).shape == (50, 100, 3)
    assert (acc.Images("figs")[0].width, acc.Images("figs")[0].height) == (200, 50)


# --- bad input ---------------------------------------------------------------------------------
def test_bad_input_is_refused_clearly(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=r"single value, got shape \(2,\)"):
            w.add_scalar("x", np.ones(2))
        with pytest.raises(TypeError, match="expected a number"):
            w.add_scalar("x", "abc")
        with pytest.raises(TypeError, match="global_step must be an integer"):
            w.add_scalar("x", 1.0, global_step=1.5)
        with pytest.raises(ValueError, match=r"expects a 3D image, got shape \(4, 4\)"):
            w.add_image("i", np.zeros((4, 4)))
        with pytest.raises(ValueError, match="1, 3 or 4 channels"):
            w.add_image("i", np.zeros((2, 4, 4)))
        with pytest.raises(ValueError, match="permutation"):
            w.add_image("i", np.zeros((3, 4, 4)), dataformats="CHX")
        with pytest.raises(TypeError, match="uint8"):
            w.add_image("i", np.zeros((3, 4, 4), np.int64))
        with pytest.raises(ValueError, match="NaN"):
            w.add_image("i", np.full((3, 4, 4), np.nan))
        with pytest.raises(ValueError, match="4D batch"):
            w.add_images("i", np.zeros((3, 4, 4)))
        with pytest.raises(ValueError, match="empty"):
            w.add_histogram("h", np.zeros(0))
        with pytest.raises(ValueError, match="NaN or inf"):
            w.add_histogram("h", np.array([1.0, np.inf]))
        with pytest.raises(TypeError, match="hyperparameter 'f' must be"):
            w.add_hparams({"f": [1, 2]}, {})
        with pytest.raises(TypeError, match="hparam_domain_discrete"):
            w.add_hparams({"lr": 0.1}, {}, hparam_domain_discrete={"lr": ["a"]})
        with pytest.raises(TypeError, match="expected a str"):
            w.add_text("t", 3)
        with pytest.raises(ValueError, match="single value"):  # nothing of the step written
            w.add_scalars("s", {"ok": 1.0, "bad": np.ones(3)})
        with pytest.raises(TypeError, match="expected a number"):
            w.add_hparams({"lr": 0.1}, {"acc": "high"}, run_name="bad")
    assert not (tmp_path / "s_ok").exists() and not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="max_queue"):
        SummaryWriter(tmp_path, max_queue=0)


def test_a_missing_tensorboard_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    with pytest.raises(ImportError, match=r"pip install lucid\[tensorboard\]"):
        SummaryWriter("unused")


# --- the same content as PyTorch's writer ------------------------------------------------------
def test_same_content_as_torch_summary_writer(tmp_path):
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (3, 5, 6), dtype=np.uint8)
    values = rng.standard_normal(300)
    # no bool: PyTorch logs bools as numbers (its int check comes first), Lucid as bools
    hp = ({"lr": 0.1, "opt": "sgd", "depth": 4}, {"m/acc": 0.5})

    def calls(w):
        for step in range(3):
            w.add_scalar("loss", 0.5**step, step)
        w.add_image("img", img, 1)
        w.add_images("imgs", np.stack([img] * 9), 2)
        w.add_histogram("h", values, 3)
        w.add_histogram("h5", values, 3, bins=7)
        w.add_hparams(*hp, run_name="hp")
        w.close()

    calls(SummaryWriter(tmp_path / "lucid"))
    calls(torch_tb.SummaryWriter(str(tmp_path / "torch")))
    ours, theirs = read(tmp_path / "lucid"), read(tmp_path / "torch")
    for a, b in zip(ours.Scalars("loss"), theirs.Scalars("loss"), strict=True):
        assert (a.step, a.value) == (b.step, b.value)
    for tag in ("img", "imgs"):
        a, b = ours.Images(tag)[0], theirs.Images(tag)[0]
        assert (a.step, a.width, a.height) == (b.step, b.width, b.height)
        np.testing.assert_array_equal(
            decode_png(a.encoded_image_string), decode_png(b.encoded_image_string)
        )
    for tag in ("h", "h5"):
        a, b = ours.Histograms(tag)[0], theirs.Histograms(tag)[0]
        a, b = a.histogram_value, b.histogram_value
        assert (a.min, a.max, a.num, list(a.bucket)) == (b.min, b.max, b.num, list(b.bucket))
        np.testing.assert_allclose(a.bucket_limit, b.bucket_limit, rtol=1e-12)
        assert a.sum == pytest.approx(b.sum) and a.sum_squares == pytest.approx(b.sum_squares)
    hp_ours, hp_theirs = read(tmp_path / "lucid" / "hp"), read(tmp_path / "torch" / "hp")
    assert hp_ours.Scalars("m/acc")[0].value == hp_theirs.Scalars("m/acc")[0].value
    a, b = hparams_content(hp_ours), hparams_content(hp_theirs)
    assert a.keys() == b.keys()
    for tag in a:
        if "start" in tag:
            a[tag].session_start_info.start_time_secs = 0  # wall times differ
            b[tag].session_start_info.start_time_secs = 0
        if "end" in tag:
            a[tag].session_end_info.end_time_secs = 0
            b[tag].session_end_info.end_time_secs = 0
        assert a[tag] == b[tag], tag


def test_png_opens_in_pil():
    # the PNG bytes written are a complete file: PIL (where installed) opens them too
    pil = pytest.importorskip("PIL.Image")
    px = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_array_equal(np.asarray(pil.open(io.BytesIO(encode_png(px)))), px)


def test_files_of_one_second_sort_in_creation_order(tmp_path, monkeypatch):
    # readers order a run's event files by name: the 10th file of a process must not sort
    # before the 9th (the purge test above failed that way late in the full suite)
    import itertools

    from lucid.utils import _event_file

    monkeypatch.setattr(_event_file, "_uid", itertools.count(9))
    monkeypatch.setattr(_event_file.time, "time", lambda: 1_800_000_000.0)
    first = _event_file.EventFile(str(tmp_path))
    second = _event_file.EventFile(str(tmp_path))
    first.close()
    second.close()
    assert sorted(os.listdir(tmp_path)) == [
        os.path.basename(first.path),
        os.path.basename(second.path),
    ]
