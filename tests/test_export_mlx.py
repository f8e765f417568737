"""lucid.export.mlx: the forward as an MLX function file, run by mx.import_function, must give
Lucid's eval output (within 1e-5 of the largest value) at every exported batch size, also in a
process where Lucid cannot be imported at all."""

import json
import subprocess
import sys

import mlx.core as mx
import numpy as np
import pytest

import lucid
import lucid.export
import lucid.nn as nn
from lucid.export import ExportError
from tests.export_cases import MODELS, build, lucid_eval, randomize, rel_err

RTOL = 1e-5
SMALL_VIDEO = (1, 3, 2, 16, 16)  # MLX's own 3D convolution is slow on a Linux CPU
# one video ResNet stands for the three (MLX traces whatever runs; ONNX tests all three)
NAMES = [n for n in MODELS if n not in ("r3d_18", "r2plus1d_18")]


@pytest.mark.parametrize("name", NAMES)
def test_models_match_lucid_through_import_function(name, tmp_path):
    model, shape = build(name)
    if shape[1] == 3:
        shape = SMALL_VIDEO
    path = tmp_path / "model.mlxfn"
    lucid.export.mlx(model, lucid.zeros(*shape), path, batch_sizes=[1, 3])
    fn = mx.import_function(str(path))
    rng = np.random.default_rng(0)
    for b in (1, 3):
        x = rng.standard_normal((b,) + shape[1:]).astype(np.float32)
        (y,) = fn(mx.array(x))
        assert rel_err(np.array(y), lucid_eval(model, x)) <= RTOL


def test_ops_and_metadata(tmp_path):
    model = randomize(
        nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"),
            nn.GroupNorm(2, 4),
            nn.GELU(),
            nn.ConvTranspose2d(4, 3, 2, stride=2),
            nn.Upsample(scale_factor=1.5, mode="bilinear"),
            nn.AdaptiveAvgPool2d((3, 2)),
            nn.Flatten(),
            nn.Linear(18, 5),
            nn.LogSoftmax(dim=1),
        )
    )
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 6)).astype(np.float32)
    path = tmp_path / "m.mlxfn"
    lucid.export.mlx(model, lucid.tensor(x), path)
    fn, metadata = mx.import_function(str(path), return_metadata=True)
    assert rel_err(np.array(fn(mx.array(x))[0]), lucid_eval(model, x)) <= RTOL
    meta = json.loads(metadata)
    assert meta["inputs"] == [{"shape": [2, 2, 5, 6], "dtype": "float32"}]
    assert meta["batch_sizes"] == [2]
    with pytest.raises(ValueError):  # only the exported shapes are there
        fn(mx.array(x[:1]))


def test_training_mode_and_errors(tmp_path):
    model, shape = build("UNet3d")
    model.train()
    lucid.export.mlx(model, lucid.zeros(*shape), tmp_path / "m.mlxfn")
    assert model.training  # restored; the export itself ran in eval mode
    with pytest.raises(ValueError, match="batch sizes must be positive"):
        lucid.export.mlx(model, lucid.zeros(*shape), tmp_path / "m.mlxfn", batch_sizes=[0])
    with pytest.raises(ExportError, match="needs the values"):
        lucid.export.mlx(lambda x: x * x.sum().item(), lucid.zeros(2, 3), tmp_path / "m.mlxfn")


BLOCKED = r"""
import importlib.abc, sys

class NoLucid(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "lucid" or name.startswith("lucid."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
        return None

sys.meta_path.insert(0, NoLucid())
try:
    import lucid  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("lucid could be imported")

import mlx.core as mx
import numpy as np

fn = mx.import_function(sys.argv[1])
(y,) = fn(mx.array(np.load(sys.argv[2])))
np.save(sys.argv[3], np.array(y))
assert not any(m == "lucid" or m.startswith("lucid.") for m in sys.modules)
print("ran without lucid")
"""


def test_the_function_runs_without_lucid(tmp_path):
    model, shape = build("UNet3d-instance-trilinear")
    path = tmp_path / "unet.mlxfn"
    lucid.export.mlx(model, lucid.zeros(*shape), path)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    # -I: no PYTHONPATH, no user site, no current directory; the blocker stops the editable
    # install's path to Lucid too
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            BLOCKED,
            str(path),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "ran without lucid" in done.stdout
    assert rel_err(np.load(tmp_path / "y.npy"), lucid_eval(model, x)) <= RTOL
