"""Import PyTorch weights without pickle: safetensors in, a checked Lucid checkpoint out.

In the PyTorch environment, once (``torch.save``'s pickles are never read here: loading them
can run arbitrary code)::

    from safetensors.torch import save_file; save_file(model.state_dict(), "r3d_18.safetensors")

Then, with Lucid::

    python -m lucid.models.convert r3d_18.safetensors r3d_18.lucid.safetensors --model r3d_18

or from Python ``convert_file(src, dst, lucid.models.r3d_18())``. Every key and shape of the
file is checked against the Lucid model first; all problems (missing keys, unexpected keys,
shape mismatches, unusable dtypes) are reported in one ``ConversionError``. The written file is
an ordinary Lucid checkpoint: ``model.load_state_dict(lucid.load(dst))``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict

import numpy as np

import lucid
from lucid.tensor import Tensor

__all__ = [
    "ConversionError",
    "convert_state_dict",
    "convert_file",
    "load_pytorch_weights",
    "MODELS",
    "main",
]

_FLOATS = ("float16", "bfloat16", "float32", "float64")
_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


class ConversionError(ValueError):
    """The source weights do not fit the model; the message lists every problem found."""


def _kind(dtype_name):
    return "float" if dtype_name in _FLOATS else "int" if dtype_name in _INTS else dtype_name


def _strip(source, prefix):
    if prefix is None:  # DataParallel/DDP checkpoints prefix every key with "module."
        prefix = "module." if source and all(k.startswith("module.") for k in source) else ""
    return OrderedDict(
        (k[len(prefix) :] if prefix and k.startswith(prefix) else k, v) for k, v in source.items()
    )


def convert_state_dict(source, model, *, strict=True, ignore=(), strip_prefix=None):
    """Map a PyTorch-named ``{name: tensor or numpy array}`` dict onto ``model``'s state dict
    and check it.

    Returns ``(state, report)``: ``state`` is a complete state dict for ``model`` (values cast to
    the model's dtypes); ``report`` is a dict of key lists: ``loaded``, ``filled`` (taken from the
    model: ignored keys, BatchNorm ``num_batches_tracked`` counters the source lacks, and in
    non-strict mode missing keys), ``missing``, ``unexpected``, ``ignored``.

    ``ignore`` holds key prefixes (e.g. ``("fc.",)`` to keep a fresh classifier) excluded on
    both sides. ``strip_prefix`` removes a key prefix (by default ``"module."`` when every key
    has it). Shape and dtype problems always raise ``ConversionError``; missing and unexpected
    keys raise it when ``strict``.
    """
    if not hasattr(source, "items"):
        raise TypeError(
            f"convert_state_dict expects a dict of tensors, got {type(source).__name__}"
        )
    ignore = tuple(ignore)
    source = _strip(source, strip_prefix)
    target = model.state_dict()
    skipped = lambda k: k.startswith(ignore) if ignore else False  # noqa: E731
    report = {k: [] for k in ("loaded", "filled", "missing", "unexpected", "ignored")}
    problems, state = [], OrderedDict()
    for key, mine in target.items():
        if skipped(key):
            report["ignored"].append(key)
            report["filled"].append(key)
            state[key] = mine
            continue
        if key not in source:
            if key.endswith("num_batches_tracked"):
                report["filled"].append(key)  # not every exporter writes the counter
            else:
                report["missing"].append(key)
                report["filled"].append(key)
            state[key] = mine
            continue
        value = source[key]
        if isinstance(value, np.ndarray):
            value = lucid.tensor(value)
        if not isinstance(value, Tensor):
            problems.append(f"  {key}: a {type(value).__name__}, not a tensor")
            continue
        if tuple(value.shape) != tuple(mine.shape):
            problems.append(
                f"  {key}: shape {tuple(value.shape)} in the file, {tuple(mine.shape)} in the model"
            )
            continue
        have, want = value.dtype.name, mine.dtype.name
        if _kind(have) != _kind(want):
            problems.append(
                f"  {key}: dtype {have} in the file cannot stand for the model's {want}"
            )
            continue
        state[key] = value.astype(mine.dtype) if have != want else value
        report["loaded"].append(key)
    report["unexpected"] = [k for k in source if k not in target and not skipped(k)]
    report["ignored"] += [k for k in source if k not in target and skipped(k)]
    if strict:
        for what in ("missing", "unexpected"):
            if report[what]:
                problems.insert(
                    0, f"  {what} key(s) ({len(report[what])}): " + ", ".join(report[what])
                )
    if problems:
        raise ConversionError(
            f"the weights do not fit {type(model).__name__} ({len(problems)} "
            "problem(s); nothing was converted):\n" + "\n".join(problems)
        )
    return state, report


def _read(path):
    state = lucid.load(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a Lucid training checkpoint {"model": ..., "optimizer": ...}
    if not isinstance(state, dict):
        raise ConversionError(f"{path!r} holds a {type(state).__name__}, not a state dict")
    return state


def convert_file(src, dst, model, **options):
    """Read safetensors ``src`` (a PyTorch state_dict saved with ``safetensors.torch.save_file``,
    or a Lucid checkpoint), check it against ``model`` (options as for ``convert_state_dict``)
    and write the converted state dict to ``dst`` with ``lucid.save``. Returns the report."""
    state, report = convert_state_dict(_read(src), model, **options)
    lucid.save(dict(state), dst)
    return report


def load_pytorch_weights(model, path, **options):
    """Convert safetensors ``path`` for ``model`` (see ``convert_state_dict``) and load it into
    ``model`` in place. Returns the report."""
    state, report = convert_state_dict(_read(path), model, **options)
    model.load_state_dict(state)
    return report


MODELS = (
    "r3d_18",
    "mc3_18",
    "r2plus1d_18",
    "resnet3d_10",
    "resnet3d_18",
    "resnet3d_34",
    "resnet3d_50",
    "UNet3d",
)


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m lucid.models.convert",
        description="Convert a PyTorch state_dict saved as safetensors "
        "into a checked Lucid checkpoint (no pickle).",
        epilog="Exit status: 0 when DST was written; 2 for any error in the arguments, the "
        "files or the weights (one 'error: ...' message on stderr, argparse's convention).",
    )
    p.add_argument("src", help="safetensors file from safetensors.torch.save_file")
    p.add_argument("dst", help="Lucid checkpoint to write")
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--num-classes", type=int, help="classifier size the weights were made for")
    p.add_argument(
        "--kwargs",
        default="{}",
        help="other builder arguments as a JSON object, e.g. '{\"in_channels\": 1}'",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PREFIX",
        help="skip keys with this prefix (e.g. fc.); repeatable",
    )
    p.add_argument(
        "--non-strict",
        action="store_true",
        help="allow missing/unexpected keys (missing ones keep the model's init)",
    )
    return p


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """``python -m lucid.models.convert SRC DST --model NAME [...]``; returns the exit code:
    0 when ``DST`` was written, 2 (argparse's convention) for any error in the arguments, the
    files or the weights, after one ``error: ...`` message on stderr (a ``ConversionError``
    lists its problems on the lines below)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or argparse's usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as exc:
        return _fail(f"--kwargs is not valid JSON ({exc}): {args.kwargs!r}")
    if not isinstance(kwargs, dict):
        return _fail(
            f"--kwargs must be a JSON object such as '{{\"in_channels\": 1}}', got {args.kwargs!r}"
        )
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if os.path.isdir(args.dst):
        return _fail(f"DST {args.dst!r} is a directory; give the checkpoint's file name")
    # the source is read before the model is built: a bad path fails at once, not after a
    # large model's initialisation
    try:
        source = _read(args.src)
    except (OSError, ValueError) as exc:  # lucid.load names the path and the problem
        return _fail(str(exc))
    from lucid import models

    try:
        model = getattr(models, args.model)(**kwargs)
    except (TypeError, ValueError) as exc:
        return _fail(f"cannot build {args.model} with arguments {json.dumps(kwargs)}: {exc}")
    try:
        state, report = convert_state_dict(
            source, model, strict=not args.non_strict, ignore=args.ignore
        )
    except ConversionError as exc:
        return _fail(str(exc))
    try:
        lucid.save(dict(state), args.dst)
    except OSError as exc:  # lucid.save's own errors name the path; the system's do not
        return _fail(
            str(exc) if exc.strerror is None else f"cannot write {args.dst!r}: {exc.strerror}"
        )
    print(
        f"wrote {args.dst}: {len(report['loaded'])} tensors converted for {args.model}; "
        f"{len(report['filled'])} kept from the model's init, "
        f"{len(report['unexpected'])} unexpected in the file ignored"
    )
    for what in ("missing", "unexpected", "ignored"):
        if report[what]:
            print(f"  {what}: " + ", ".join(report[what]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
