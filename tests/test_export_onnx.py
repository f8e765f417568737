"""lucid.export.onnx, proven by running the files: every lucid.models architecture, the
examples' models and every op family the exporter translates are exported with a dynamic batch
axis, checked by onnx.checker and run in onnxruntime, whose output must match Lucid's eval
output within 1e-5 (relative to the largest value) at two batch sizes. What ONNX cannot
express must raise ExportError naming it. Skipped without the export extra (onnx,
onnxruntime)."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lucid  # noqa: E402
import lucid.export  # noqa: E402
import lucid.nn as nn  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from lucid.export import ExportError  # noqa: E402
from tests.export_cases import MODELS, build, lucid_eval, randomize, rel_err  # noqa: E402

RTOL = 1e-5
DYNAMIC = {"input": {0: "batch"}, "output": {0: "batch"}}


def run_onnx(path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def check(model, shape, tmp_path, batches=(1, 3), opset=None, tol=RTOL, seed=1):
    """Export ``model`` for inputs of ``shape`` (its batch axis free), then compare
    onnxruntime with Lucid at each batch size; returns the errors."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batches[0],) + tuple(shape[1:])).astype(np.float32)
    path = tmp_path / "model.onnx"
    lucid.export.onnx(model, lucid.tensor(x), path, opset=opset, dynamic_axes=DYNAMIC)
    onnx.checker.check_model(str(path), full_check=True)
    errors = []
    for b in batches:
        xb = rng.standard_normal((b,) + tuple(shape[1:])).astype(np.float32)
        ref = lucid_eval(model, xb)
        got = run_onnx(path, xb)
        assert got.shape == ref.shape
        errors.append(rel_err(got, ref))
    assert max(errors) <= tol, errors
    return errors


@pytest.mark.parametrize("name", list(MODELS))
def test_models_match_lucid_in_onnxruntime(name, tmp_path):
    model, shape = build(name)
    check(model, shape, tmp_path)


def test_the_file_declares_the_batch_axis_and_keeps_parameter_names(tmp_path):
    model, shape = build("resnet3d_10")
    path = tmp_path / "m.onnx"
    lucid.export.onnx(model, lucid.zeros(*shape), path, dynamic_axes=DYNAMIC)
    m = onnx.load(str(path))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == list(shape[1:])
    assert m.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    names = {t.name for t in m.graph.initializer}
    assert {"conv1.weight", "bn1.running_mean", "fc.weight"} <= names or "fc.bias" in names
    assert m.opset_import[0].version == 17
    # without dynamic axes every size is fixed
    lucid.export.onnx(model, lucid.zeros(*shape), path)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == list(shape)


def test_the_export_leaves_training_mode_and_weights_alone(tmp_path):
    model, shape = build("UNet3d")
    model.train()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    lucid.export.onnx(model, lucid.randn(*shape), tmp_path / "m.onnx")
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before)


def _conv_relu():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())


class Fn(nn.Module):
    """A function as a module (its parameters, if any, in ``mods``)."""

    def __init__(self, fn, *mods):
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleList(list(mods))

    def forward(self, x):
        return self.fn(x, *self.mods)


# name -> (module builder, input shape, opset)
OPS = {
    # convolutions: groups, dilation, stride, padding forms and modes
    "conv1d groups dilation": (
        lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
        (1, 4, 17),
        None,
    ),
    "conv2d same even kernel": (lambda: nn.Conv2d(3, 4, 4, padding="same"), (1, 3, 9, 8), None),
    "conv2d reflect": (
        lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        (1, 3, 7, 6),
        None,
    ),
    "conv3d replicate": (
        lambda: nn.Conv3d(2, 3, 3, padding=(1, 2, 0), padding_mode="replicate"),
        (1, 2, 5, 6, 7),
        None,
    ),
    "conv3d circular": (
        lambda: nn.Conv3d(2, 2, 3, padding=1, padding_mode="circular"),
        (1, 2, 4, 5, 6),
        19,
    ),
    "conv3d depthwise strided": (
        lambda: nn.Conv3d(4, 8, 3, stride=2, padding=1, groups=4),
        (1, 4, 7, 8, 9),
        None,
    ),
    "conv_transpose1d groups output_padding": (
        lambda: nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        (1, 4, 9),
        None,
    ),
    "conv_transpose2d dilation": (
        lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=2, dilation=2, output_padding=1),
        (1, 3, 5, 6),
        None,
    ),
    "conv_transpose3d": (
        lambda: nn.ConvTranspose3d(2, 3, (2, 3, 3), stride=(2, 1, 2), padding=(0, 1, 1)),
        (1, 2, 3, 4, 5),
        None,
    ),
    # normalisation in eval mode
    "batch_norm2d": (
        lambda: nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)),
        (1, 2, 5, 5),
        None,
    ),
    "batch_norm1d (N, C)": (
        lambda: nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)),
        (1, 4),
        None,
    ),
    "batch_norm3d batch statistics": (
        lambda: nn.BatchNorm3d(3, track_running_stats=False),
        (2, 3, 3, 4, 5),
        None,
    ),
    "group_norm": (lambda: nn.GroupNorm(2, 6), (1, 6, 4, 5, 3), None),
    "instance_norm3d affine": (lambda: nn.InstanceNorm3d(4, affine=True), (1, 4, 4, 5, 3), None),
    "instance_norm2d": (lambda: nn.InstanceNorm2d(3), (1, 3, 6, 5), None),
    "instance_norm running stats": (
        lambda: nn.InstanceNorm3d(2, track_running_stats=True),
        (1, 2, 3, 4, 5),
        None,
    ),
    "layer_norm": (lambda: nn.LayerNorm((5, 6)), (1, 3, 5, 6), None),
    "layer_norm no affine": (lambda: nn.LayerNorm(6, elementwise_affine=False), (1, 4, 6), None),
    # pooling
    "max_pool3d padding": (lambda: nn.MaxPool3d(3, stride=2, padding=1), (1, 2, 7, 8, 9), None),
    "max_pool2d ceil_mode": (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 2, 8, 9), None),
    "max_pool1d dilation": (
        lambda: nn.MaxPool1d(3, stride=2, padding=1, dilation=2),
        (1, 2, 11),
        None,
    ),
    "avg_pool2d exclude padding": (
        lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
        (1, 2, 7, 8),
        None,
    ),
    "avg_pool3d ceil_mode": (lambda: nn.AvgPool3d(2, ceil_mode=True), (1, 2, 5, 6, 7), None),
    "avg_pool2d ceil padding": (
        lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
        (1, 2, 8, 8),
        None,
    ),
    "avg_pool2d divisor_override": (
        lambda: nn.AvgPool2d(3, stride=2, divisor_override=5),
        (1, 2, 7, 7),
        None,
    ),
    "adaptive_avg_pool3d uneven": (
        lambda: nn.AdaptiveAvgPool3d((2, 3, None)),
        (1, 2, 5, 7, 4),
        None,
    ),
    "adaptive_avg_pool2d divisible": (lambda: nn.AdaptiveAvgPool2d(2), (1, 2, 8, 6), None),
    "adaptive_max_pool2d uneven": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (1, 2, 7, 5), None),
    "adaptive_max_pool3d global": (lambda: nn.AdaptiveMaxPool3d(1), (1, 2, 3, 4, 5), None),
    # upsampling / interpolation
    "upsample nearest x2 3d": (
        lambda: nn.Upsample(scale_factor=2, mode="nearest"),
        (1, 2, 3, 4, 5),
        None,
    ),
    "upsample nearest to size 2d": (
        lambda: nn.Upsample(size=(5, 7), mode="nearest"),
        (1, 2, 3, 4),
        None,
    ),
    "upsample nearest-exact 1.5": (
        lambda: nn.Upsample(scale_factor=1.5, mode="nearest-exact"),
        (1, 2, 4, 6),
        None,
    ),
    "upsample trilinear x2": (
        lambda: nn.Upsample(scale_factor=2, mode="trilinear"),
        (1, 2, 3, 4, 5),
        None,
    ),
    "upsample trilinear align_corners": (
        lambda: nn.Upsample(size=(5, 6, 7), mode="trilinear", align_corners=True),
        (1, 2, 3, 4, 5),
        None,
    ),
    "upsample bilinear 1.7": (
        lambda: nn.Upsample(scale_factor=1.7, mode="bilinear"),
        (1, 2, 4, 5),
        None,
    ),
    "upsample linear down": (lambda: nn.Upsample(size=5, mode="linear"), (1, 2, 9), None),
    "upsample bicubic": (
        lambda: nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False),
        (1, 2, 4, 5),
        None,
    ),
    "interpolate area": (
        lambda: Fn(lambda x: F.interpolate(x, size=(3, 4), mode="area")),
        (1, 2, 7, 9),
        None,
    ),
    # linear, shapes, arithmetic
    "linear on (N, L, C)": (lambda: nn.Linear(7, 3), (1, 5, 7), None),
    "flatten reshape permute cat add mul softmax": (
        lambda: Fn(
            lambda x: (
                lucid.cat([x.permute(0, 2, 1, 3), x.permute(0, 2, 1, 3) * 2.0 + 1.0], 1)
                .reshape(x.shape[0], -1)
                .softmax(-1)
            )
        ),
        (1, 3, 4, 5),
        None,
    ),
    "nn.Flatten Unflatten-like reshape": (
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(24, 6)),
        (1, 2, 3, 4),
        None,
    ),
    "indexing": (
        lambda: Fn(
            lambda x: x[:, 1:, ::2, None, -1] + x[:, :2, [0, 2, 4]][..., 1:2] * x[0, 0, 0, 0]
        ),
        (1, 3, 5, 4),
        None,
    ),
    "stack repeat_interleave tile flip roll": (
        lambda: Fn(
            lambda x: (
                lucid.stack([x, x.flip(2)], 1).reshape(x.shape[0], -1, 4)
                + lucid.repeat_interleave(x, 2, 1).reshape(x.shape[0], -1, 4).roll(1, 1)
                + x.repeat(1, 2, 1).reshape(x.shape[0], -1, 4)
            )
        ),
        (1, 3, 4),
        None,
    ),
    "pad constant crop": (
        lambda: Fn(lambda x: F.pad(x, (1, -1, 2, 0), value=0.5)),
        (1, 2, 4, 5),
        None,
    ),
    "reductions": (
        lambda: Fn(
            lambda x: lucid.stack(
                [
                    x.sum(1),
                    x.mean(1),
                    x.amax(1),
                    x.var(1),
                    x.std(1, unbiased=False),
                    x.max(1).values,
                    x.min(1)[0],
                    x.logsumexp(1),
                ],
                1,
            )
        ),
        (1, 4, 5),
        None,
    ),
    "elementwise": (
        lambda: Fn(
            lambda x: (
                lucid.maximum(x, 0.1) * x.abs().sqrt()
                + lucid.exp(-x.square())
                + lucid.log1p(x.abs())
                - x.clamp(-0.5, 0.5) / 3.0
                + x.pow(2)
                + lucid.minimum(x.sin(), x.cos())
                + x.tanh() * x.sigmoid()
                + (-x).floor()
                + x.erf()
            )
        ),
        (1, 3, 4),
        None,
    ),
    "matmul with a parameter, einsum": (
        lambda: Fn(
            lambda x, lin: lucid.einsum("nij,kj->nik", x, lin.weight) + x @ lin.weight.t(),
            nn.Linear(4, 4),
        ),
        (1, 3, 4),
        None,
    ),
    "detach and in-place add": (lambda: Fn(_detach_inplace), (1, 3, 4), None),
}

ACTIVATIONS = {
    "relu": nn.ReLU(),
    "leaky_relu": nn.LeakyReLU(0.2),
    "elu": nn.ELU(0.7),
    "gelu": nn.GELU(),
    "gelu tanh": nn.GELU(approximate="tanh"),
    "silu": nn.SiLU(),
    "softplus": nn.Softplus(beta=2.0, threshold=3.0),
    "hardtanh": nn.Hardtanh(-0.5, 1.5),
    "relu6": nn.ReLU6(),
    "selu": nn.SELU(),
    "celu": nn.CELU(0.5),
    "mish": nn.Mish(),
    "hardswish": nn.Hardswish(),
    "hardsigmoid": nn.Hardsigmoid(),
    "logsigmoid": nn.LogSigmoid(),
    "softsign": nn.Softsign(),
    "tanhshrink": nn.Tanhshrink(),
    "hardshrink": nn.Hardshrink(0.3),
    "softshrink": nn.Softshrink(0.3),
    "threshold": nn.Threshold(0.1, -2.0),
    "glu": nn.GLU(1),
    "prelu": nn.PReLU(4, init=0.3),
    "sigmoid": nn.Sigmoid(),
    "tanh": nn.Tanh(),
    "softmax": nn.Softmax(dim=1),
    "log_softmax": nn.LogSoftmax(dim=1),
}


def _detach_inplace(x):
    y = x * 2.0
    y += 1.0
    return y.detach() * x


@pytest.mark.parametrize("name", list(OPS))
def test_ops_match_lucid_in_onnxruntime(name, tmp_path):
    builder, shape, opset = OPS[name]
    model = builder()
    if isinstance(model, nn.Module):
        randomize(model, seed=3)
    check(model, shape, tmp_path, opset=opset)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_match_lucid_in_onnxruntime(name, tmp_path):
    model = ACTIVATIONS[name]
    check(model, (1, 4, 3, 5), tmp_path, seed=4)


def test_opset_and_names(tmp_path):
    model = _conv_relu()
    x = lucid.randn(1, 3, 4, 4)
    path = tmp_path / "m.onnx"
    lucid.export.onnx(model, x, path, opset=19, input_names=["image"], output_names=["features"])
    m = onnx.load(str(path))
    assert m.opset_import[0].version == 19
    assert [i.name for i in m.graph.input] == ["image"] and m.graph.output[0].name == "features"
    with pytest.raises(ValueError, match="opset must be an int from 17"):
        lucid.export.onnx(model, x, path, opset=11)
    with pytest.raises(ValueError, match="input_names must be 1"):
        lucid.export.onnx(model, x, path, input_names=["a", "b"])
    with pytest.raises(ValueError, match="not an input or output name"):
        lucid.export.onnx(model, x, path, dynamic_axes={"x": [0]})
    with pytest.raises(ValueError, match="outside a 4-D tensor"):
        lucid.export.onnx(model, x, path, dynamic_axes={"input": [4]})
    circular = nn.Conv2d(3, 3, 3, padding=1, padding_mode="circular")
    with pytest.raises(ExportError, match="circular padding needs opset >= 19"):
        lucid.export.onnx(circular, x, path)


def test_a_model_with_two_inputs_and_outputs(tmp_path):
    lin = randomize(nn.Linear(3, 2))

    def model(a, b):
        return lin(a) * b.mean(-1, keepdim=True), a + 1.0

    a, b = np.ones((2, 3), np.float32), np.full((2, 5), 2.0, np.float32)
    path = tmp_path / "m.onnx"
    lucid.export.onnx(
        model,
        (lucid.tensor(a), lucid.tensor(b)),
        path,
        input_names=["a", "b"],
        output_names=["y", "z"],
        dynamic_axes={"a": [0], "b": [0]},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    a3, b3 = np.arange(9, dtype=np.float32).reshape(3, 3), np.ones((3, 5), np.float32)
    y, z = session.run(None, {"a": a3, "b": b3})
    ry, rz = model(lucid.tensor(a3), lucid.tensor(b3))
    assert rel_err(y, ry.numpy()) <= RTOL and rel_err(z, rz.numpy()) <= RTOL


# --- what cannot be expressed is refused, naming it -------------------------------------------
def test_an_op_without_translation_is_named(tmp_path):
    with pytest.raises(ExportError, match="op 'cumprod'.*no ONNX translation"):
        lucid.export.onnx(lambda x: x.cumprod(1), lucid.randn(2, 3), tmp_path / "m.onnx")


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.argmax(1).float(),  # argmax is not a recorded op
        lambda x: lucid.where(x > 0, x, 0.0),  # nor is a comparison
        lambda x: x * float(x.sum().item() > 0),  # a host read of the input
    ],
    ids=["argmax", "comparison", "item"],
)
def test_values_computed_outside_the_recording_are_refused(fn, tmp_path):
    with pytest.raises(ExportError, match="computed from the model's input|needs the values"):
        lucid.export.onnx(fn, lucid.randn(2, 3), tmp_path / "m.onnx")


def test_an_in_place_write_outside_the_ops_is_refused(tmp_path):
    def fn(x):
        y = x * 1.0
        y[0] = 0.0
        return y + 1.0

    with pytest.raises(ExportError, match="written in place"):
        lucid.export.onnx(fn, lucid.randn(2, 3), tmp_path / "m.onnx")


def test_return_indices_is_refused(tmp_path):
    pool = nn.MaxPool2d(2, return_indices=True)
    with pytest.raises(ExportError, match="return_indices"):
        lucid.export.onnx(lambda x: pool(x)[0], lucid.randn(1, 1, 4, 4), tmp_path / "m.onnx")


def test_shapes_that_do_not_follow_the_batch_are_refused(tmp_path):
    def fn(x):  # a constant the size of the batch: right for one batch size only
        return x + lucid.ones(x.shape[0], 1)

    lucid.export.onnx(fn, lucid.randn(2, 3), tmp_path / "m.onnx")  # static: fine
    with pytest.raises(ExportError, match="depends on the size of the dynamic axes"):
        lucid.export.onnx(fn, lucid.randn(2, 3), tmp_path / "m.onnx", dynamic_axes=DYNAMIC)

    def merged(x):  # two sizes that follow the batch in new places
        n = x.shape[0]
        return x.reshape(n, 2, 3).permute(1, 0, 2).reshape(2 * n, 3).reshape(n * 2, 3, 1)

    lucid.export.onnx(merged, lucid.randn(2, 6), tmp_path / "m.onnx", dynamic_axes=DYNAMIC)
    with pytest.raises(ExportError, match="more than one size"):
        lucid.export.onnx(
            lambda x: x.reshape(x.shape[0] * 2, x.shape[1] // 2),
            lucid.randn(2, 6),
            tmp_path / "m.onnx",
            dynamic_axes={"input": [0, 1]},
        )


def test_dynamic_spatial_axes(tmp_path):
    fcn = randomize(
        nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(), nn.Conv3d(4, 2, 1)
        )
    )
    path = tmp_path / "fcn.onnx"
    axes = {0: "batch", 2: "depth", 3: "height"}
    lucid.export.onnx(
        fcn, lucid.zeros(1, 1, 8, 8, 8), path, dynamic_axes={"input": axes, "output": axes}
    )
    for shape in [(2, 1, 5, 7, 8), (1, 1, 8, 8, 8)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        assert rel_err(run_onnx(path, x), lucid_eval(fcn, x)) <= RTOL
    # pooling windows are laid out for one size: refused, naming the op and the axis
    model, shape = build("UNet3d")
    with pytest.raises(ExportError, match=r"op 'max_pool'.*static size on axis \[2\]"):
        lucid.export.onnx(model, lucid.zeros(*shape), path, dynamic_axes={"input": [0, 2]})
