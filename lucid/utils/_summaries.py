"""``Summary`` protos for TensorBoard from numbers, numpy arrays and lucid Tensors.

The messages are TensorBoard's own generated protobuf classes (``tensorboard.compat.proto``,
the optional ``tensorboard`` extra), so the bytes are what TensorBoard parses; the pixel
handling, PNG encoding and histogram bucketing are here.
"""

from __future__ import annotations

import math
import struct
import zlib
from types import SimpleNamespace
from typing import Any

import numpy as np

_EXTRA = "pip install lucid[tensorboard] (or pip install tensorboard)"


def protos() -> SimpleNamespace:
    """TensorBoard's protobuf modules, or an ImportError that names the extra to install."""
    try:
        from tensorboard.compat.proto import (
            event_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
        )
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2 as hparams_pb2
        from tensorboard.plugins.text import plugin_data_pb2 as text_pb2
    except ImportError as e:
        raise ImportError(
            f"lucid.utils.tensorboard.SummaryWriter needs the tensorboard package: {_EXTRA}"
        ) from e
    return SimpleNamespace(
        event=event_pb2,
        summary=summary_pb2,
        tensor=tensor_pb2,
        shape=tensor_shape_pb2,
        types=types_pb2,
        hp_api=api_pb2,
        hp_data=hparams_pb2,
        text=text_pb2,
    )


def as_scalar(value: Any, what: str) -> float:
    """One number (Python, numpy or a one-element Tensor) as a float."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a number, got {type(value).__name__} ({arr.dtype})")
    if arr.size != 1:
        raise ValueError(f"{what}: expected a single value, got shape {tuple(arr.shape)}")
    return float(arr.reshape(-1)[0])


def _metadata(P: SimpleNamespace, plugin: str, content: bytes = b"") -> Any:
    Meta = P.summary.SummaryMetadata
    return Meta(plugin_data=Meta.PluginData(plugin_name=plugin, content=content))


def scalar(P: SimpleNamespace, tag: str, value: Any, new_style=False, double_precision=False):
    """A scalar: ``simple_value`` (float32), or with ``new_style`` a 0-d tensor of the scalars
    plugin (float64 with ``double_precision``)."""
    v = as_scalar(value, f"add_scalar({tag!r})")
    S = P.summary.Summary
    if not new_style:
        return S(value=[S.Value(tag=tag, simple_value=v)])
    if double_precision:
        t = P.tensor.TensorProto(dtype=P.types.DT_DOUBLE, double_val=[v])
    else:
        t = P.tensor.TensorProto(dtype=P.types.DT_FLOAT, float_val=[v])
    t.tensor_shape.CopyFrom(P.shape.TensorShapeProto())
    return S(value=[S.Value(tag=tag, tensor=t, metadata=_metadata(P, "scalars"))])


# --- images ------------------------------------------------------------------------------------
def encode_png(hwc: np.ndarray) -> bytes:
    """A uint8 (H, W, C) array, C in 1/3/4 (gray, RGB, RGBA), as PNG bytes (8-bit, no filter)."""
    h, w, c = hwc.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    rows = np.zeros((h, 1 + w * c), dtype=np.uint8)  # each row starts with filter type 0
    rows[:, 1:] = hwc.reshape(h, w * c)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def _to_uint8(arr: np.ndarray, what: str) -> np.ndarray:
    """uint8 stays; bool is 0/255; floats are taken in [0, 1] (clipped, rounded to 0..255)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8) * 255
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{what}: expected uint8 pixels (0..255) or floats in [0, 1], got dtype {arr.dtype}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: the image contains NaN or inf")
    return np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


def _permutation(fmt: str, target: str, allowed: tuple[str, ...], what: str) -> list[int]:
    fmt = fmt.upper()
    if sorted(fmt) not in [sorted(a) for a in allowed] or len(set(fmt)) != len(fmt):
        raise ValueError(f"{what}: dataformats must be a permutation of {allowed}, got {fmt!r}")
    return [fmt.index(ch) for ch in target if ch in fmt]


def _check_channels(c: int, what: str) -> None:
    if c not in (1, 3, 4):
        raise ValueError(f"{what}: expected 1, 3 or 4 channels (gray, RGB, RGBA), got {c}")


def image_from_hwc(P: SimpleNamespace, tag: str, hwc: np.ndarray, what: str):
    """A Summary holding one image given as (H, W, C) pixels."""
    h, w, c = hwc.shape
    if h == 0 or w == 0:
        raise ValueError(f"{what}: the image is empty (height {h}, width {w})")
    _check_channels(c, what)
    pixels = _to_uint8(hwc, what)
    S = P.summary.Summary
    img = S.Image(height=h, width=w, colorspace=c, encoded_image_string=encode_png(pixels))
    return S(value=[S.Value(tag=tag, image=img)])


def image(P: SimpleNamespace, tag: str, img: Any, dataformats: str = "CHW"):
    """One image in ``dataformats`` (a permutation of "CHW" or "HW")."""
    what = f"add_image({tag!r})"
    arr = np.asarray(img)
    perm = _permutation(dataformats, "HWC", ("CHW", "HW"), what)
    if arr.ndim != len(perm):
        raise ValueError(
            f"{what}: dataformats {dataformats!r} expects a {len(perm)}D image, "
            f"got shape {tuple(arr.shape)}"
        )
    hwc = arr.transpose(perm)
    return image_from_hwc(P, tag, hwc if hwc.ndim == 3 else hwc[..., None], what)


def images(P: SimpleNamespace, tag: str, imgs: Any, dataformats: str = "NCHW"):
    """A batch of images (a permutation of "NCHW") tiled into one image: 8 per row (fewer if
    there are fewer), row by row."""
    what = f"add_images({tag!r})"
    arr = np.asarray(imgs)
    perm = _permutation(dataformats, "NHWC", ("NCHW",), what)
    if arr.ndim != 4:
        raise ValueError(
            f"{what}: dataformats {dataformats!r} expects a 4D batch, got shape {tuple(arr.shape)}"
        )
    nhwc = arr.transpose(perm)
    n, h, w, c = nhwc.shape
    if n == 0:
        raise ValueError(f"{what}: the batch holds no images")
    _check_channels(c, what)
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h, cols * w, c), dtype=nhwc.dtype)
    for k in range(n):
        r, q = divmod(k, cols)
        grid[r * h : (r + 1) * h, q * w : (q + 1) * w] = nhwc[k]
    return image_from_hwc(P, tag, grid, what)


# --- histograms --------------------------------------------------------------------------------
def tensorflow_bins() -> np.ndarray:
    """TensorFlow's default histogram edges: ±1e-12 growing by 10% up to ±1e20, and 0."""
    pos = [1e-12]
    while pos[-1] * 1.1 < 1e20:
        pos.append(pos[-1] * 1.1)
    p = np.array(pos)
    return np.concatenate([-p[::-1], [0.0], p])


def histogram(P: SimpleNamespace, tag: str, values: Any, bins: Any = "tensorflow", max_bins=None):
    """A HistogramProto of ``values`` (any shape, flattened). ``bins`` is "tensorflow"
    (exponential buckets), or what ``numpy.histogram`` takes (a count, edges or a rule such as
    "auto"). Empty buckets at both ends are dropped; one empty bucket is kept in front whose
    limit is the first occupied bucket's left edge, since TensorBoard reads each bucket as
    (previous limit, limit]."""
    what = f"add_histogram({tag!r})"
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected numbers, got dtype {arr.dtype}")
    x = arr.astype(np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError(f"{what}: the histogram is empty (no values)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: the values contain NaN or inf")
    edges_in = tensorflow_bins() if isinstance(bins, str) and bins == "tensorflow" else bins
    counts, edges = np.histogram(x, bins=edges_in)
    if max_bins is not None and len(counts) > max_bins:
        if int(max_bins) < 1:
            raise ValueError(f"{what}: max_bins must be >= 1, got {max_bins}")
        # merge runs of `step` neighbouring buckets; the last run may be shorter
        step = math.ceil(len(counts) / int(max_bins))
        pad = (-len(counts)) % step
        counts = np.concatenate([counts, np.zeros(pad, counts.dtype)]).reshape(-1, step).sum(1)
        edges = np.concatenate([edges[:-1:step], edges[-1:]])
    occupied = np.flatnonzero(counts)
    if occupied.size == 0:  # every value fell outside explicit edges
        raise ValueError(f"{what}: no value falls inside the bins {edges[0]}..{edges[-1]}")
    first, last = int(occupied[0]), int(occupied[-1])
    limits = np.concatenate([edges[first : first + 1], edges[first + 1 : last + 2]])
    buckets = np.concatenate([[0], counts[first : last + 1]])
    hist = P.summary.HistogramProto(
        min=float(x.min()),
        max=float(x.max()),
        num=float(x.size),
        sum=float(x.sum()),
        sum_squares=float(np.dot(x, x)),
        bucket_limit=limits.tolist(),
        bucket=buckets.astype(np.float64).tolist(),
    )
    S = P.summary.Summary
    return S(value=[S.Value(tag=tag, histo=hist)])


# --- text and hyperparameters ------------------------------------------------------------------
def text(P: SimpleNamespace, tag: str, text_string: str):
    """A text summary (markdown) for TensorBoard's text plugin, tagged ``tag/text_summary``."""
    if not isinstance(text_string, str):
        raise TypeError(f"add_text({tag!r}): expected a str, got {type(text_string).__name__}")
    content = P.text.TextPluginData(version=0).SerializeToString()
    t = P.tensor.TensorProto(dtype=P.types.DT_STRING, string_val=[text_string.encode("utf-8")])
    t.tensor_shape.dim.add(size=1)
    S = P.summary.Summary
    value = S.Value(tag=f"{tag}/text_summary", tensor=t, metadata=_metadata(P, "text", content))
    return S(value=[value])


def _hparam_kind(value: Any) -> str | None:
    """ "bool", "number", "string", or None for a value TensorBoard cannot show."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    arr = np.asarray(value) if hasattr(value, "__array__") else None
    if arr is not None and arr.size == 1 and arr.dtype.kind in "iuf":
        return "number"  # a one-element Tensor or array
    return None


_CASTS: dict[str, Any] = {
    "bool": bool,
    "number": lambda v: as_scalar(v, "add_hparams"),
    "string": str,
}


def hparams(P: SimpleNamespace, hparam_dict: dict, metric_dict: dict, domain_discrete=None):
    """The hparams plugin's three summaries: the experiment (hyperparameter and metric names),
    the session start (this run's values) and the session end (success)."""
    if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
        raise TypeError(
            "add_hparams: hparam_dict and metric_dict must be dicts, got "
            f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}"
        )
    domain_discrete = domain_discrete or {}
    if not isinstance(domain_discrete, dict):
        raise TypeError("add_hparams: hparam_domain_discrete must be a dict of lists")
    api, data = P.hp_api, P.hp_data
    types = {
        "bool": api.DATA_TYPE_BOOL,
        "number": api.DATA_TYPE_FLOAT64,
        "string": api.DATA_TYPE_STRING,
    }
    experiment = api.Experiment()
    start = data.SessionStartInfo()
    for name, value in hparam_dict.items():
        if value is None:
            continue
        kind = _hparam_kind(value)
        if kind is None:
            raise TypeError(
                f"add_hparams: hyperparameter {name!r} must be a bool, number, str or "
                f"one-element Tensor, got {type(value).__name__}"
            )
        field = f"{kind}_value"  # the google.protobuf.Value field of that kind
        cast = _CASTS[kind]
        setattr(start.hparams[name], field, cast(value))
        info = experiment.hparam_infos.add(name=name, type=types[kind])
        if name in domain_discrete:
            choices = domain_discrete[name]
            if not isinstance(choices, (list, tuple)) or any(
                _hparam_kind(c) != kind for c in choices
            ):
                raise TypeError(
                    f"add_hparams: hparam_domain_discrete[{name!r}] must be a list of "
                    f"{kind} values like hparam_dict[{name!r}], got {choices!r}"
                )
            for c in choices:
                setattr(info.domain_discrete.values.add(), field, cast(c))
    for name in metric_dict:
        experiment.metric_infos.add().name.tag = name
    end = data.SessionEndInfo(status=api.STATUS_SUCCESS)
    null = P.tensor.TensorProto(dtype=P.types.DT_FLOAT)
    null.tensor_shape.dim.add(size=0)  # TensorBoard's own hparams summaries carry an empty tensor
    S = P.summary.Summary
    out = []
    for tag, kw in (
        ("_hparams_/experiment", {"experiment": experiment}),
        ("_hparams_/session_start_info", {"session_start_info": start}),
        ("_hparams_/session_end_info", {"session_end_info": end}),
    ):
        content = data.HParamsPluginData(version=0, **kw).SerializeToString()
        meta = _metadata(P, "hparams", content)
        out.append(S(value=[S.Value(tag=tag, metadata=meta, tensor=null)]))
    return out
