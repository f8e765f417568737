"""lucid.models.convert: a safetensors state dict written outside Lucid (as PyTorch's
safetensors.torch.save_file writes it: flat names, no Lucid metadata) converts, loads and gives
the same outputs; every kind of problem is listed in one error; the command line works."""

import mlx.core as mx
import numpy as np
import pytest

import lucid
from lucid import models
from lucid.models.convert import (
    ConversionError,
    convert_file,
    convert_state_dict,
    load_pytorch_weights,
    main,
)

KW = dict(in_channels=1, num_classes=3, widths=(2, 4, 4, 4))


def small(seed):
    lucid.random.seed(seed)
    m = models.resnet3d_10(**KW)
    m.train()
    m(lucid.randn(2, 1, 8, 8, 8))  # move the BatchNorm running statistics off their init
    return m.eval()


def write_foreign(path, state):
    """A plain safetensors file (no Lucid metadata), like safetensors.torch.save_file's."""
    mx.save_safetensors(str(path), {k: mx.array(v) for k, v in state.items()}, {"format": "pt"})


def numpy_state(model, drop=(), rename=lambda k: k, dtype=None):
    out = {}
    for k, v in model.state_dict().items():
        if k in drop:
            continue
        a = v.numpy()
        out[rename(k)] = a.astype(dtype) if dtype and a.dtype.kind == "f" else a
    return out


def test_foreign_file_converts_and_gives_the_same_outputs(tmp_path):
    src_model = small(0)
    state = numpy_state(
        src_model, drop={"bn1.num_batches_tracked"}, rename=lambda k: "module." + k
    )  # a DataParallel-style prefix
    write_foreign(tmp_path / "w.safetensors", state)
    target = small(1)
    report = convert_file(tmp_path / "w.safetensors", tmp_path / "out.safetensors", target)
    assert report["filled"] == ["bn1.num_batches_tracked"] and not report["missing"]
    fresh = small(2)
    fresh.load_state_dict(lucid.load(tmp_path / "out.safetensors"))
    x = lucid.randn(1, 1, 8, 8, 8)
    with lucid.no_grad():
        np.testing.assert_array_equal(fresh(x).numpy(), src_model(x).numpy())


def test_half_precision_weights_are_cast_to_the_models_dtype(tmp_path):
    write_foreign(tmp_path / "w.safetensors", numpy_state(small(0), dtype=np.float16))
    model = small(1)
    load_pytorch_weights(model, tmp_path / "w.safetensors")
    assert model.fc.weight.dtype == lucid.float32
    np.testing.assert_allclose(
        model.fc.weight.numpy(), small(0).fc.weight.numpy().astype(np.float16), rtol=0
    )


def test_every_problem_is_listed_in_one_error(tmp_path):
    state = numpy_state(small(0), drop={"conv1.weight"})
    state["fc.weight"] = np.zeros((5, 4), np.float32)  # a different classifier size
    state["bn1.weight"] = np.ones(2, np.int32)  # integers where floats belong
    state["aux.head.weight"] = np.zeros(3, np.float32)
    write_foreign(tmp_path / "w.safetensors", state)
    with pytest.raises(ConversionError) as info:
        load_pytorch_weights(small(1), tmp_path / "w.safetensors")
    msg = str(info.value)
    assert "missing key(s) (1): conv1.weight" in msg
    assert "unexpected key(s) (1): aux.head.weight" in msg
    assert "fc.weight: shape (5, 4) in the file, (3, 4) in the model" in msg
    assert "bn1.weight: dtype int32" in msg and "4 problem(s)" in msg


def test_ignore_prefix_and_non_strict(tmp_path):
    source = {k: lucid.tensor(v) for k, v in numpy_state(small(0)).items()}
    source["fc.weight"] = lucid.zeros(10, 4)  # fine-tuning: the head is replaced anyway
    source["fc.bias"] = lucid.zeros(10)
    model = small(1)
    state, report = convert_state_dict(source, model, ignore=("fc.",))
    assert report["ignored"] == ["fc.weight", "fc.bias"]
    np.testing.assert_array_equal(state["fc.weight"].numpy(), model.fc.weight.numpy())
    del source["conv1.weight"]
    source["extra"] = lucid.zeros(1)
    _, report = convert_state_dict(source, model, ignore=("fc.",), strict=False)
    assert report["missing"] == ["conv1.weight"] and report["unexpected"] == ["extra"]
    numpy_source = numpy_state(small(0))
    state, _ = convert_state_dict(numpy_source, model)
    np.testing.assert_array_equal(state["conv1.weight"].numpy(), numpy_source["conv1.weight"])
    assert state["bn1.num_batches_tracked"].dtype == lucid.int64
    with pytest.raises(TypeError, match="dict of tensors"):
        convert_state_dict([1, 2], model)


def test_command_line(tmp_path, capsys):
    write_foreign(tmp_path / "w.safetensors", numpy_state(small(0)))
    args = [
        str(tmp_path / "w.safetensors"),
        str(tmp_path / "out.safetensors"),
        "--model",
        "resnet3d_10",
        "--num-classes",
        "3",
        "--kwargs",
        '{"widths": [2, 4, 4, 4]}',
    ]
    assert main(args) == 0
    assert "tensors converted for resnet3d_10" in capsys.readouterr().out
    assert main(args[:-4] + ["--num-classes", "7", "--kwargs", '{"widths": [2, 4, 4, 4]}']) == 1
    assert "fc.weight: shape (3, 4) in the file, (7, 4) in the model" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.safetensors"), "x", "--model", "r3d_18"]) == 1


def test_torch_written_file_converts(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    model = small(0)
    st.save_file(
        {k: torch.tensor(v) for k, v in numpy_state(model).items()}, str(tmp_path / "w.safetensors")
    )
    fresh = small(1)
    load_pytorch_weights(fresh, tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.conv1.weight.numpy(), model.conv1.weight.numpy())
