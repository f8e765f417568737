"""lucid.export.coreml: the MIL program built from the trace has the model's structure (one
conv per convolution, one norm per normalisation...) and saves as an .mlpackage; on macOS the
package's predictions must match Lucid's eval output. Skipped without coremltools (pip install
lucid[coreml]); Core ML predicts only on macOS, so elsewhere only the structure is checked."""

import collections
import sys

import numpy as np
import pytest

ct = pytest.importorskip("coremltools")

import lucid  # noqa: E402
import lucid.export  # noqa: E402
import lucid.nn as nn  # noqa: E402
from lucid.export import _coreml  # noqa: E402
from lucid.export._trace import trace  # noqa: E402
from tests.export_cases import build, lucid_eval, rel_err  # noqa: E402

STRUCTURE = [
    "resnet3d_10",
    "UNet3d",
    "UNet3d-instance-trilinear",
    "mc3_18",
    "PerFrame2d (examples)",
]


def count(model, *types):
    return sum(isinstance(m, types) for m in model.modules())


@pytest.mark.parametrize("name", STRUCTURE)
def test_the_program_has_the_models_structure(name, tmp_path):
    model, shape = build(name)
    graph = trace(model, lucid.zeros(*shape), {0: [0]})
    program = _coreml.build_program(ct, graph, ["input"], ct.target.macOS13)
    ops = collections.Counter(_coreml.mil_ops(program))
    convs = count(model, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    assert ops["conv"] == convs
    assert ops["conv_transpose"] == count(model, nn.ConvTranspose3d)
    assert ops["batch_norm"] == count(model, nn.BatchNorm2d, nn.BatchNorm3d)
    assert ops["instance_norm"] == count(model, nn.InstanceNorm3d)
    assert ops["relu"] == sum(1 for n in graph.nodes if n.op == "relu")
    path = tmp_path / "model.mlpackage"
    lucid.export.coreml(model, lucid.zeros(*shape), path, batch_sizes=[1, 2])
    assert (path / "Manifest.json").is_file()
    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    shapes = [
        list(s.shape) for s in spec.description.input[0].type.multiArrayType.enumeratedShapes.shapes
    ]
    assert shapes == [[1, *shape[1:]], [2, *shape[1:]]]


@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML predicts only on macOS")
@pytest.mark.parametrize("name", STRUCTURE)
def test_predictions_match_lucid_on_macos(name, tmp_path):
    model, shape = build(name)
    path = tmp_path / "model.mlpackage"
    lucid.export.coreml(model, lucid.zeros(*shape), path, batch_sizes=[1, 2])
    mlmodel = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
    for b in (1, 2):
        x = np.random.default_rng(b).standard_normal((b,) + shape[1:]).astype(np.float32)
        got = mlmodel.predict({"input": x})["output"]
        assert rel_err(got, lucid_eval(model, x)) <= 1e-4
