"""``python -m lucid.export CHECKPOINT --model NAME --format onnx|mlx|coreml --input-shape
1,1,64,64,64 --output PATH``: export a ``lucid.save``'d state_dict of a ``lucid.models``
architecture.

The model is built by NAME (``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``resnet3d_10/18/34/50``,
``UNet3d``) with the constructor arguments the checkpoint's shapes imply (classes, channels,
widths, U-Net features, norm and upsampling), overridden by ``--model-args k=v,...``. Bad input
(a missing file, an unknown model, a bad shape, a checkpoint that does not fit) prints one
``error:`` line and exits with status 2 (usage) or 1 (export).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Sequence

FORMATS = ("onnx", "mlx", "coreml")


class _Usage(Exception):
    """A bad command line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage + error
        raise _Usage(message)


def _registry() -> dict:
    from lucid import models

    names = ["r3d_18", "mc3_18", "r2plus1d_18", "resnet3d_10", "resnet3d_18", "resnet3d_34"]
    names += ["resnet3d_50", "UNet3d"]
    return {n: getattr(models, n) for n in names}


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(","))
    except ValueError:
        raise _Usage(
            f"--input-shape must be comma-separated ints (N,C,D,H,W), got {text!r}"
        ) from None
    if not shape or any(n < 1 for n in shape):
        raise _Usage(f"--input-shape must be positive sizes, got {text!r}")
    return shape


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise _Usage(f"{what} must be comma-separated ints, got {text!r}") from None
    if any(v < 1 for v in values):
        raise _Usage(f"{what} must be positive, got {text!r}")
    return values


def _model_args(text: str | None) -> dict:
    """``k=v,k2=v2`` with Python literals as values (``widths=(4,8,8,8)``)."""
    if not text:
        return {}
    out = {}
    items, depth, current = [], 0, ""
    for ch in text:  # split on the commas outside brackets
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise _Usage(f"--model-args must be key=value pairs, got {item!r}")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()  # a bare string: norm=instance
    return out


def _state_dict(obj):
    """The state_dict inside a loaded checkpoint (itself, or its "model"/"state_dict" entry)."""
    from lucid.tensor import Tensor

    if isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                return _state_dict(obj[key])
    raise ValueError(
        "the checkpoint holds no state_dict (a {name: Tensor} dict, or one under 'model' or "
        "'state_dict'); save one with lucid.save(model.state_dict(), path)"
    )


def infer_kwargs(name: str, sd) -> dict:
    """Constructor arguments of model ``name`` implied by the shapes in state_dict ``sd``."""
    shape = {k: tuple(v.shape) for k, v in sd.items()}
    kw: dict = {}
    if "fc.weight" in shape:
        kw["num_classes"] = shape["fc.weight"][0]
    if name.startswith("resnet3d_") and "conv1.weight" in shape:
        kw["in_channels"] = shape["conv1.weight"][1]
        kw["conv1_t_size"] = shape["conv1.weight"][2]
        widths = [shape.get(f"layer{i}.0.conv1.weight", (None,))[0] for i in range(1, 5)]
        if all(widths):
            kw["widths"] = tuple(widths)
    if name == "UNet3d":
        features: list[int] = []
        while f"encoders.{len(features)}.0.weight" in shape:
            features.append(shape[f"encoders.{len(features)}.0.weight"][0])
        if features:
            kw["features"] = tuple(features)
            kw["in_channels"] = shape["encoders.0.0.weight"][1]
        if "head.weight" in shape:
            kw["out_channels"] = shape["head.weight"][0]
        kw["norm"] = "batch" if any(k.endswith("running_mean") for k in shape) else "instance"
        kw["upsample"] = "transpose" if "ups.0.weight" in shape else "trilinear"
    return kw


def run(argv: Sequence[str] | None = None) -> str:
    """Parse ``argv``, export, and return the written path (raises on bad input)."""
    parser = _Parser(prog="python -m lucid.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a state_dict saved by lucid.save")
    parser.add_argument(
        "--model", required=True, help="a lucid.models builder: " + ", ".join(_registry())
    )
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--input-shape", required=True, help="e.g. 1,1,64,64,64")
    parser.add_argument("--output", required=True, help="the file to write")
    parser.add_argument("--model-args", help="constructor arguments, e.g. num_classes=5")
    parser.add_argument("--opset", type=int, help="ONNX opset (default 17)")
    parser.add_argument(
        "--dynamic-batch", action="store_true", help="ONNX: a free batch size (axis 0)"
    )
    parser.add_argument("--batch-sizes", help="MLX/Core ML: batch sizes to support, e.g. 1,2,4")
    args = parser.parse_args(argv)
    registry = _registry()
    by_lower = {k.lower(): k for k in registry}
    name = by_lower.get(args.model.lower())
    if name is None:
        raise _Usage(f"unknown model {args.model!r}; choose one of {', '.join(registry)}")
    shape = _shape(args.input_shape)
    extra = _model_args(args.model_args)
    batch_sizes = _ints(args.batch_sizes, "--batch-sizes") if args.batch_sizes else None
    if not os.path.isfile(args.checkpoint):
        raise _Usage(f"checkpoint {args.checkpoint!r} not found")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise _Usage(f"the output folder {folder!r} does not exist")

    import lucid
    import lucid.export as export
    from lucid.nn.modules.module import StateDictError

    sd = _state_dict(lucid.load(args.checkpoint))
    kwargs = {**infer_kwargs(name, sd), **extra}
    try:
        model = registry[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"cannot build {name}({kwargs}): {exc}") from exc
    try:
        model.load_state_dict(sd)
    except StateDictError as exc:
        detail = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        if len(detail) > 160:
            detail = detail[:157] + "..."
        raise ValueError(
            f"the checkpoint does not fit {name}({kwargs}): {detail}; pass --model-args"
        ) from exc
    x = lucid.zeros(*shape)
    if args.format == "onnx":
        dynamic = {"input": {0: "batch"}, "output": {0: "batch"}} if args.dynamic_batch else None
        export.onnx(model, x, args.output, opset=args.opset, dynamic_axes=dynamic)
    elif args.format == "mlx":
        export.mlx(model, x, args.output, batch_sizes=batch_sizes)
    else:
        export.coreml(model, x, args.output, batch_sizes=batch_sizes)
    return args.output


def main(argv: Sequence[str] | None = None) -> int:
    """The command: 0 on success; one ``error:`` line on stderr and 2 (bad command line) or 1
    (the export failed) otherwise."""
    try:
        path = run(argv)
    except _Usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, ImportError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
    size = _size(path)
    print(f"wrote {path} ({size / 1e6:.1f} MB)")
    return 0


def _size(path: str) -> int:
    if os.path.isdir(path):  # an .mlpackage is a folder
        return sum(
            os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
        )
    return os.path.getsize(path)


if __name__ == "__main__":
    sys.exit(main())
