"""lucid.models.convert: a safetensors state dict written outside Lucid (as PyTorch's
safetensors.torch.save_file writes it: flat names, no Lucid metadata) converts, loads and gives
the same outputs; every kind of problem is listed in one error; the command line works, and
every user error ends it with one ``error:`` line on stderr and exit code 2, no traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
    assert main(args[:-4] + ["--num-classes", "7", "--kwargs", '{"widths": [2, 4, 4, 4]}']) == 2
    assert "fc.weight: shape (3, 4) in the file, (7, 4) in the model" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.safetensors"), "x", "--model", "r3d_18"]) == 2
    assert main(["--help"]) == 0 and "Exit status" in capsys.readouterr().out


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


ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args):
    """``python -m lucid.models.convert ARGS`` in a subprocess, on this checkout's lucid."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "lucid.models.convert", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_foreign(d / "w.safetensors", numpy_state(small(0)))
    (d / "text.safetensors").write_text("not a safetensors file")
    (d / "folder").mkdir()
    return d


SMALL = ["--model", "resnet3d_10", "--kwargs", json.dumps(KW)]
USER_ERRORS = {  # name: (SRC, DST, options, what stderr's error line says)
    "missing source": ("nope.safetensors", "o.safetensors", SMALL, "no such file"),
    "source is a directory": ("folder", "o.safetensors", SMALL, "is a directory"),
    "source not safetensors": ("text.safetensors", "o.safetensors", SMALL, "not a valid"),
    "bad JSON": ("w.safetensors", "o.safetensors", [*SMALL[:3], '{"in_channels": 1,'], "JSON"),
    "JSON not an object": ("w.safetensors", "o.safetensors", [*SMALL[:3], "[1, 2]"], "object"),
    "unknown builder argument": (
        "w.safetensors",
        "o.safetensors",
        [*SMALL[:3], '{"nope": 1}'],
        "cannot build resnet3d_10",
    ),
    "weights do not fit": ("w.safetensors", "o.safetensors", SMALL[:2], "do not fit"),
    "destination is a directory": ("w.safetensors", "folder", SMALL, "is a directory"),
    "destination folder missing": ("w.safetensors", "no/o.safetensors", SMALL, "no folder"),
}


@pytest.mark.parametrize("case", list(USER_ERRORS))
def test_command_line_user_errors_exit_2_with_one_error_line(case, cli_files):
    src, dst, options, says = USER_ERRORS[case]
    done = run_cli(cli_files / src, cli_files / dst, *options)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("error: ") and says in lines[0], done.stderr
    # only a ConversionError adds lines: its problems, one indented line each
    assert all(line.startswith("  ") for line in lines[1:]), done.stderr
    assert (len(lines) > 1) == (case == "weights do not fit")
    assert not (cli_files / "o.safetensors").exists()


def test_command_line_unknown_model_is_argparses_usage_error(cli_files):
    done = run_cli(cli_files / "w.safetensors", cli_files / "o.safetensors", "--model", "nope")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: argument --model: invalid choice: 'nope'" in done.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_command_line_unreadable_source(cli_files, tmp_path):
    src = tmp_path / "locked.safetensors"
    src.write_bytes((cli_files / "w.safetensors").read_bytes())
    src.chmod(0)
    done = run_cli(src, tmp_path / "o.safetensors", *SMALL)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "Permission denied" in done.stderr


def test_an_unreadable_source_is_a_user_error(cli_files, tmp_path, monkeypatch, capsys):
    # what the test above checks where it cannot run (as root): an OSError reading SRC
    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(lucid, "load", denied)
    assert main([str(cli_files / "w.safetensors"), str(tmp_path / "o.safetensors"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Permission denied" in err and len(err.splitlines()) == 1


def test_command_line_converts(cli_files, tmp_path):
    done = run_cli(cli_files / "w.safetensors", tmp_path / "o.safetensors", *SMALL)
    assert done.returncode == 0 and done.stderr == ""
    assert "tensors converted for resnet3d_10" in done.stdout
    assert set(lucid.load(tmp_path / "o.safetensors")) == set(small(1).state_dict())
