"""Exported file sizes and the largest relative difference from Lucid, per model and format
(docs/export.md): every lucid.models architecture at its default size, with random weights and
trained-looking BatchNorm statistics, exported with a free batch size, run at batch 1 and 2 in
onnxruntime (ONNX) and by mx.import_function (MLX), and compared with Lucid's eval output
(max |difference| / max |Lucid|). Core ML packages are built and measured where coremltools
is installed; they predict only on macOS, so no difference is measured elsewhere.

    python benchmarks/export_sizes.py [--models r3d_18,UNet3d] [--video 8,64,64] [--volume 32]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import lucid
import lucid.export
from lucid import models


def randomize(model, seed=0):
    """He-scaled uniform weights and BatchNorm statistics away from 0/1; eval mode."""
    rng = np.random.default_rng(seed)
    sd = {}
    for key, t in model.state_dict(keep_vars=True).items():
        shape = tuple(t.shape)
        if key.endswith("num_batches_tracked"):
            sd[key] = np.zeros(shape, np.int64)
        elif key.endswith("running_var") or (len(shape) == 1 and key.endswith("weight")):
            sd[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif len(shape) == 1:
            sd[key] = rng.normal(0.0, 0.2, shape).astype(np.float32)
        else:
            v = rng.random(shape, dtype=np.float32) - np.float32(0.5)
            sd[key] = v * np.float32(np.sqrt(24.0 / max(int(np.prod(shape[1:])), 1)))
    model.load_state_dict(sd)
    return model.eval()


def cases(video, volume):
    v = (1, 3) + video
    s = (1, 1, volume, volume, volume)
    return {
        "r3d_18": (models.r3d_18, v),
        "mc3_18": (models.mc3_18, v),
        "r2plus1d_18": (models.r2plus1d_18, v),
        "resnet3d_10": (models.resnet3d_10, s),
        "resnet3d_18": (models.resnet3d_18, s),
        "resnet3d_34": (models.resnet3d_34, s),
        "resnet3d_50": (models.resnet3d_50, s),
        "UNet3d": (models.UNet3d, s),
        "UNet3d(instance, trilinear)": (
            lambda: models.UNet3d(norm="instance", upsample="trilinear"),
            s,
        ),
    }


def size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def rel(got, ref):
    return float(np.abs(np.float64(got) - ref).max() / np.abs(ref).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--video", default="8,64,64", help="T,H,W of the video clips")
    parser.add_argument("--volume", type=int, default=32, help="edge of the volumes")
    args = parser.parse_args()
    video = tuple(int(n) for n in args.video.split(","))
    table = cases(video, args.volume)
    names = args.models.split(",") if args.models else list(table)
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit("needs onnxruntime: pip install lucid[export]")
    import mlx.core as mx

    try:
        import coremltools  # noqa: F401

        coreml = True
    except ImportError:
        coreml = False
    print("| model | input | ONNX file | ONNX max rel. diff | MLX file | MLX max rel. diff"
          " | Core ML package |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            build, shape = table[name]
            model = randomize(build())
            rng = np.random.default_rng(1)
            xs = [rng.standard_normal((b,) + shape[1:]).astype(np.float32) for b in (1, 2)]
            with lucid.no_grad():
                refs = [np.float64(model(lucid.tensor(x)).numpy()) for x in xs]
            t = time.perf_counter()
            onnx_path = os.path.join(tmp, "m.onnx")
            dyn = {"input": {0: "batch"}, "output": {0: "batch"}}
            lucid.export.onnx(model, lucid.tensor(xs[0]), onnx_path, dynamic_axes=dyn)
            session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            onnx_err = max(rel(session.run(None, {"input": x})[0], r) for x, r in zip(xs, refs))
            mlx_path = os.path.join(tmp, "m.mlxfn")
            lucid.export.mlx(model, lucid.tensor(xs[0]), mlx_path, batch_sizes=[1, 2])
            fn = mx.import_function(mlx_path)
            mlx_err = max(rel(np.array(fn(mx.array(x))[0]), r) for x, r in zip(xs, refs))
            coreml_size = "-"
            if coreml:
                pkg = os.path.join(tmp, "m.mlpackage")
                lucid.export.coreml(model, lucid.tensor(xs[0]), pkg, batch_sizes=[1, 2])
                coreml_size = f"{size(pkg) / 1e6:.1f} MB"
            print(
                f"| {name} | {'x'.join(map(str, shape[1:]))} | {size(onnx_path) / 1e6:.1f} MB "
                f"| {onnx_err:.1e} | {size(mlx_path) / 1e6:.1f} MB | {mlx_err:.1e} "
                f"| {coreml_size} |",
                flush=True,
            )
            print(f"  ({name}: {time.perf_counter() - t:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
