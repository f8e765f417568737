"""lucid.export without its optional extras: the tracer (what it records, what it refuses), the
op coverage of the Core ML writer, the ImportErrors naming the extras, and the command
``python -m lucid.export``."""

import subprocess
import sys

import numpy as np
import pytest

import lucid
import lucid.export
import lucid.nn as nn
from lucid.export import ExportError, __main__ as cli
from lucid.export._coreml import MIL_TABLE
from lucid.export._onnx_ops import TABLE
from lucid.export._trace import trace
from lucid.ops import _util
from tests.export_cases import MODELS, build


def test_the_trace_records_ops_with_their_parameters():
    conv = nn.Conv3d(2, 4, 3, stride=(1, 2, 2), padding=(0, 1, 1), dilation=(2, 1, 1), groups=2)
    model = nn.Sequential(conv, nn.BatchNorm3d(4, eps=1e-3), nn.ReLU(), nn.Flatten())
    graph = trace(model, lucid.zeros(3, 2, 6, 8, 8), {0: [0]})
    assert [n.op for n in graph.nodes] == ["conv", "batch_norm", "relu", "reshape"]
    c = graph.nodes[0].args
    assert (c["stride"], c["padding"], c["dilation"], c["groups"]) == (
        (1, 2, 2),
        ((0, 0), (1, 1), (1, 1)),
        (2, 1, 1),
        2,
    )
    assert c["weight"].is_const and c["weight"].name == "0.weight"
    assert np.array_equal(c["weight"].array, conv.weight.numpy())
    assert graph.nodes[1].args["eps"] == 1e-3 and graph.nodes[1].args["training"] is False
    # the batch axis (doubled in the second trace) is marked on every value that follows it
    assert graph.inputs[0].dynamic_axes() == (0,)
    assert graph.outputs[0].shape == (3, 4 * 2 * 4 * 4) and graph.outputs[0].dynamic_axes() == (0,)
    assert graph.nodes[3].varying == {"shape": (((3, 128),), ((6, 128),))}
    assert _util._trace_hook is None  # removed after tracing


def test_constants_are_folded_and_nothing_is_computed():
    w = nn.Parameter(lucid.ones(3))

    def model(x):
        scale = (w * 2.0 + 1.0).exp()  # parameters only: one constant
        return x * scale

    graph = trace(model, lucid.zeros(2, 3))
    assert [n.op for n in graph.nodes] == ["mul"]
    assert np.allclose(graph.nodes[0].args["b"].array, np.exp(3.0))


def test_composite_ops_keep_their_parts():
    up = nn.Upsample(scale_factor=2, mode="trilinear")
    graph = trace(up, lucid.zeros(1, 2, 3, 3, 3))
    (node,) = graph.nodes
    assert node.op == "interpolate" and node.args["mode"] == "trilinear"
    assert node.parts and {p.op for p in node.parts} <= set(TABLE)
    assert node.outputs[0] is node.parts[-1].outputs[0]


@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda x: x.argmax(1).float(), "computed from the model's input outside"),
        (lambda x: lucid.where(x > 0, x, 0.0), "computed from the model's input outside"),
        (lambda x: x * float(x.sum().item()), "needs the values of the input"),
        (lambda x: x[(x[0] * 0.0).long()], "needs the values of the input"),
    ],
    ids=["argmax", "comparison", "item", "tensor index"],
)
def test_values_from_outside_the_recording_are_refused(fn, match):
    with pytest.raises(ExportError, match=match):
        trace(fn, lucid.randn(2, 3))


def test_model_errors_pass_through_unchanged():
    model, shape = build("UNet3d")
    with pytest.raises(ValueError, match="must be divisible"):
        trace(model, lucid.zeros(1, 1, 7, 8, 8))
    with pytest.raises(TypeError, match="example input 0 must be a lucid.Tensor"):
        trace(model, [[1.0]])


def test_other_threads_run_their_ops_untraced():
    import threading

    seen = []

    def model(x):
        t = threading.Thread(target=lambda: seen.append((lucid.ones(2) * 3.0).numpy()))
        t.start()
        t.join()
        return x + 1.0

    graph = trace(model, lucid.zeros(2))
    assert [n.op for n in graph.nodes] == ["add"] and seen[0].tolist() == [3.0, 3.0]


@pytest.mark.parametrize("name", list(MODELS))
def test_every_op_of_the_models_has_a_core_ml_translation(name):
    model, shape = build(name)
    graph = trace(model, lucid.zeros(*shape), {0: [0]})
    ops = {n.op for n in graph.nodes}
    assert ops <= set(MIL_TABLE) and ops <= set(TABLE) | {"interpolate"}


def test_missing_extras_name_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    monkeypatch.setitem(sys.modules, "coremltools", None)
    x = lucid.zeros(1, 2)
    with pytest.raises(ImportError, match=r"pip install lucid\[export\]"):
        lucid.export.onnx(lambda t: t + 1.0, x, tmp_path / "m.onnx")
    with pytest.raises(ImportError, match=r"pip install lucid\[coreml\]"):
        lucid.export.coreml(lambda t: t + 1.0, x, tmp_path / "m.mlpackage")


# --- the command ------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path):
    model = lucid.models.UNet3d(in_channels=2, out_channels=3, features=(4, 8), norm="instance")
    path = tmp_path / "unet.safetensors"
    lucid.save(model.state_dict(), path)
    return model, path


def run_cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_exports_with_arguments_from_the_checkpoint(checkpoint, tmp_path, capsys):
    import mlx.core as mx

    model, path = checkpoint
    out = tmp_path / "unet.mlxfn"
    code, stdout, err = run_cli(
        capsys, path, "--model", "unet3d", "--format", "mlx", "--input-shape", "1,2,8,8,8",
        "--output", out, "--batch-sizes", "1,2",
    )  # fmt: skip
    assert code == 0 and err == "" and stdout.startswith(f"wrote {out}")
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 8, 8)).astype(np.float32)
    model.eval()
    ref = model(lucid.tensor(x)).numpy()
    got = np.array(mx.import_function(str(out))(mx.array(x))[0])
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    assert cli.infer_kwargs("UNet3d", model.state_dict()) == {
        "features": (4, 8),
        "in_channels": 2,
        "out_channels": 3,
        "norm": "instance",
        "upsample": "transpose",
    }


def test_the_command_writes_onnx(checkpoint, tmp_path, capsys):
    pytest.importorskip("onnx")
    _, path = checkpoint
    out = tmp_path / "unet.onnx"
    code, stdout, _ = run_cli(
        capsys, path, "--model", "UNet3d", "--format", "onnx", "--input-shape", "1,2,8,8,8",
        "--output", out, "--dynamic-batch", "--opset", "18",
    )  # fmt: skip
    assert code == 0 and out.is_file()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (
            ["missing.safetensors", "--model", "UNet3d"],
            2,
            "checkpoint 'missing.safetensors' not found",
        ),
        (["CKPT", "--model", "unet4d"], 2, "unknown model 'unet4d'"),
        (["CKPT", "--model", "UNet3d", "--input-shape", "1,2,x,8"], 2, "--input-shape must be"),
        (["CKPT", "--model", "UNet3d", "--input-shape", "1,2,0,8,8"], 2, "must be positive"),
        (["CKPT", "--model", "UNet3d", "--format", "tflite"], 2, "invalid choice: 'tflite'"),
        (["CKPT", "--model", "UNet3d", "--input-shape", "1,2,7,8,8"], 1, "must be divisible"),
        (["CKPT", "--model", "UNet3d", "--input-shape", "1,3,8,8,8"], 1, "expected input of shape"),
        (["CKPT", "--model", "r3d_18"], 1, "does not fit r3d_18"),
        (
            ["CKPT", "--model", "UNet3d", "--model-args", "features=(4,16)"],
            1,
            "does not fit UNet3d",
        ),
        (["CKPT", "--model", "UNet3d", "--model-args", "oops"], 2, "key=value"),
    ],
)
def test_bad_input_is_one_error_line(checkpoint, tmp_path, capsys, args, code, message):
    _, path = checkpoint
    args = [str(path) if a == "CKPT" else a for a in args]
    defaults = {"--format": "mlx", "--input-shape": "1,2,8,8,8", "--output": tmp_path / "o.mlxfn"}
    for flag, value in defaults.items():
        if flag not in args:
            args += [flag, value]
    got, stdout, err = run_cli(capsys, *args)
    assert got == code and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_python_dash_m(checkpoint, tmp_path):
    _, path = checkpoint
    done = subprocess.run(
        [sys.executable, "-m", "lucid.export", str(path), "--model", "nope", "--format", "onnx",
         "--input-shape", "1,2,8,8,8", "--output", str(tmp_path / "o.onnx")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: unknown model 'nope'") and done.stderr.count("\n") == 1
