"""Models and helpers shared by the export tests: every lucid.models architecture and the
examples' models at small sizes, with random but realistic weights set from numpy (fast: MLX's
own random initialisation of a 33M-parameter video ResNet takes seconds on a CPU)."""

import contextlib
import importlib.util
import pathlib
import sys

import numpy as np

import lucid
from lucid import models

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def randomize(model, seed=0):
    """Random weights (He-scaled), biases and BatchNorm statistics away from 0/1, so every
    layer changes its input; returns the model in eval mode."""
    rng = np.random.default_rng(seed)
    sd = {}
    for key, t in model.state_dict(keep_vars=True).items():  # no copies: nothing evaluated
        shape = tuple(t.shape)
        if key.endswith("num_batches_tracked"):
            sd[key] = np.zeros(shape, np.int64)
            continue
        if key.endswith("running_var"):
            v = rng.uniform(0.5, 1.5, shape)
        elif key.endswith("running_mean") or (len(shape) == 1 and key.endswith("bias")):
            v = rng.normal(0.0, 0.2, shape)
        elif len(shape) == 1:
            v = rng.uniform(0.5, 1.5, shape)
        else:
            # uniform with He's variance 2 / fan_in (numpy draws it 5x faster than normals)
            v = rng.random(shape, dtype=np.float32) - np.float32(0.5)
            v *= np.float32(np.sqrt(24.0 / max(int(np.prod(shape[1:])), 1)))
        sd[key] = v.astype(np.float32, copy=False)
    model.load_state_dict(sd)
    return model.eval()


@contextlib.contextmanager
def _examples_on_path():
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield
    finally:
        sys.path.remove(str(EXAMPLES))


def example_module(name):
    """An examples/ script imported as a module (its ``__main__`` part does not run)."""
    with _examples_on_path():
        spec = importlib.util.spec_from_file_location(f"_export_example_{name}", EXAMPLES / name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _shape_net():
    return example_module("common.py").ShapeNet3d(num_classes=5, width=4)


def _motion(cls):
    def build():
        return getattr(example_module("train_motion.py"), cls)(classes=5, width=4)

    return build


# name -> (builder, example input shape (batch 1))
MODELS = {
    "r3d_18": (lambda: models.r3d_18(num_classes=5), (1, 3, 4, 32, 32)),
    "mc3_18": (lambda: models.mc3_18(num_classes=5), (1, 3, 4, 32, 32)),
    "r2plus1d_18": (lambda: models.r2plus1d_18(num_classes=5), (1, 3, 4, 32, 32)),
    "resnet3d_10": (lambda: models.resnet3d_10(widths=(4, 8, 8, 8)), (1, 1, 16, 16, 16)),
    "resnet3d_18": (
        lambda: models.resnet3d_18(in_channels=2, num_classes=3, widths=(4, 4, 8, 8)),
        (1, 2, 16, 16, 16),
    ),
    "resnet3d_34": (
        lambda: models.resnet3d_34(widths=(4, 4, 8, 8), conv1_t_size=3, conv1_t_stride=1),
        (1, 1, 8, 16, 16),
    ),
    "resnet3d_50": (
        lambda: models.resnet3d_50(widths=(4, 4, 8, 8), no_max_pool=True),
        (1, 1, 16, 16, 16),
    ),
    "UNet3d": (lambda: models.UNet3d(features=(4, 8, 16)), (1, 1, 16, 16, 16)),
    "UNet3d-instance-trilinear": (
        lambda: models.UNet3d(
            in_channels=2, features=(4, 8, 16), norm="instance", upsample="trilinear"
        ),
        (1, 2, 16, 16, 16),
    ),
    "ShapeNet3d (examples)": (_shape_net, (1, 1, 16, 16, 16)),
    "Motion3d (examples)": (_motion("Motion3d"), (1, 1, 4, 16, 16)),
    "PerFrame2d (examples)": (_motion("PerFrame2d"), (1, 1, 4, 16, 16)),
}


def build(name, seed=0):
    """(model with random weights in eval mode, example input shape)."""
    builder, shape = MODELS[name]
    return randomize(builder(), seed), shape


def rel_err(got, ref):
    """The largest absolute difference relative to the largest reference magnitude."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))


def lucid_eval(model, x):
    """The model's eval-mode output for numpy input ``x`` (a numpy array)."""
    if hasattr(model, "eval"):
        model.eval()
    with lucid.no_grad():
        return model(lucid.tensor(x)).numpy()
