"""Deploy a trained model: ``lucid.export.onnx``, ``lucid.export.mlx`` and
``lucid.export.coreml`` (see docs/export.md).

One tracer (``lucid.export._trace``) records a forward pass from Lucid's own op recording, in
eval mode and without PyTorch; one writer per format turns the recording into a file. ONNX and
Core ML are written from that recording; an MLX function is MLX's own trace of the same forward
(``mx.export_function``), loaded by ``mx.import_function`` from Python, C++ or Swift without
Lucid. An op a format cannot express is an ``ExportError`` naming the op, never a wrong graph.

``python -m lucid.export CHECKPOINT --model NAME --format onnx|mlx|coreml --input-shape ...
--output PATH`` exports a ``lucid.save``'d state_dict of a ``lucid.models`` architecture.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from lucid.export._trace import ExportError, as_inputs, trace, trace_limit

__all__ = ["ExportError", "coreml", "mlx", "onnx"]


def _names(given, count: int, default: str, what: str) -> list[str]:
    if given is None:
        return [default] if count == 1 else [f"{default}_{i}" for i in range(count)]
    names = [given] if isinstance(given, str) else list(given)
    if len(names) != count or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"export: {what} must be {count} non-empty string(s) (one per model "
            f"{'input' if what == 'input_names' else 'output'}), got {given!r}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"export: {what} must be distinct, got {names}")
    return names


def _dynamic_axes(dynamic_axes, shapes: Mapping[str, int]) -> dict[str, dict[int, str]]:
    """``dynamic_axes`` ({name: {axis: label}} or {name: [axes]}) checked against the ranks in
    ``shapes`` (name -> rank) and normalised to {name: {axis: label}}."""
    if dynamic_axes is None:
        return {}
    if not isinstance(dynamic_axes, Mapping):
        raise TypeError(
            "export: dynamic_axes must be a dict {name: {axis: label}} or {name: [axes]}, "
            f"got {type(dynamic_axes).__name__}"
        )
    out: dict[str, dict[int, str]] = {}
    for name, axes in dynamic_axes.items():
        if name not in shapes:
            raise ValueError(
                f"export: dynamic_axes names {name!r}, which is not an input or output name "
                f"({sorted(shapes)})"
            )
        if isinstance(axes, Mapping):
            items = list(axes.items())
        elif isinstance(axes, (list, tuple)):
            items = [(ax, "batch" if ax == 0 else f"{name}_dim{ax}") for ax in axes]
        else:
            raise TypeError(f"export: dynamic_axes[{name!r}] must be a dict or a list of axes")
        rank = shapes[name]
        labels = {}
        for ax, label in items:
            if isinstance(ax, bool) or not isinstance(ax, int) or not -rank <= ax < rank:
                raise ValueError(
                    f"export: dynamic_axes[{name!r}] has axis {ax!r}, outside a {rank}-D tensor"
                )
            if not isinstance(label, str) or not label:
                raise ValueError(f"export: dynamic axis labels must be strings, got {label!r}")
            labels[ax % rank] = label
        out[name] = labels
    return out


def onnx(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike,
    *,
    opset: int | None = None,
    dynamic_axes: Mapping | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
) -> None:
    """Write ``model`` (a Module or a function of Tensors) as an ONNX file at ``path``.

    The forward ``model(*example_inputs)`` is traced in eval mode (modes restored afterwards)
    from Lucid's own op recording and written with the ``onnx`` package (``pip install
    lucid[export]``). ``opset``: ONNX opset, 17 (default) up to the installed onnx's newest.
    ``input_names``/``output_names`` default to ``input``/``output`` (``input_0``, ... for
    several). ``dynamic_axes`` as PyTorch's: ``{"input": {0: "batch"}, "output": {0:
    "batch"}}`` or ``{"input": [0]}`` makes those sizes free in the file; sizes that follow them
    inside the graph (a flatten, a reshape) are written to follow them. The file passes
    ``onnx.checker``. An op ONNX cannot express raises ``ExportError`` naming it.
    """
    from lucid.export import _onnx

    inputs = as_inputs(example_inputs)
    in_names = _names(input_names, len(inputs), "input", "input_names")
    ranks = {n: x.ndim for n, x in zip(in_names, inputs)}
    # output ranks are known after tracing: check the input entries first (they drive the trace)
    pre = {k: v for k, v in (dynamic_axes or {}).items() if k in ranks}
    dyn_inputs = _dynamic_axes(pre, ranks)
    graph = trace(
        model,
        inputs,
        {i: sorted(dyn_inputs.get(n, {})) for i, n in enumerate(in_names)},
    )
    out_names = _names(output_names, len(graph.outputs), "output", "output_names")
    if set(in_names) & set(out_names):
        raise ValueError(f"export: input and output names overlap: {in_names} / {out_names}")
    ranks.update({n: len(v.shape) for n, v in zip(out_names, graph.outputs)})
    dyn = _dynamic_axes(dynamic_axes, ranks)
    _onnx.export(
        graph,
        path,
        opset=opset,
        input_names=in_names,
        output_names=out_names,
        dynamic_axes=dyn,
    )


def mlx(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike,
    *,
    batch_sizes: Sequence[int] | None = None,
) -> None:
    """Write ``model``'s forward as an MLX function file (``.mlxfn``) at ``path``.

    The forward ``model(*example_inputs)`` in eval mode is traced by MLX itself
    (``mx.export_function``), weights included, so ``mx.import_function(path)`` runs it with
    no Lucid installed, from Python, C++ or Swift (docs/export.md). The function takes the
    inputs as positional arrays and returns a tuple of arrays. An MLX function has fixed
    shapes: ``batch_sizes`` exports one trace per batch size (axis 0 of every input resized)
    into the same file, and the loader picks the one matching its arguments.
    """
    from lucid import _backend as B
    from lucid._backend import export as BX
    from lucid.export._trace import _eval_mode, _flat_outputs
    from lucid.tensor import Tensor

    inputs = as_inputs(example_inputs)
    sizes: list = [inputs[0].shape[0] if inputs[0].ndim else None]
    if batch_sizes is not None:
        if any(x.ndim == 0 for x in inputs):
            raise ValueError("lucid.export.mlx: batch_sizes needs inputs with a batch axis")
        sizes = []
        for b in batch_sizes:
            if isinstance(b, bool) or not isinstance(b, int) or b < 1:
                raise ValueError(f"lucid.export.mlx: batch sizes must be positive ints, got {b!r}")
            if b not in sizes:
                sizes.append(b)
        if not sizes:
            raise ValueError("lucid.export.mlx: batch_sizes is empty")
    example_sets = []
    for b in sizes:
        arrays = []
        for x in inputs:
            shape = x.shape if b is None else (b,) + tuple(x.shape[1:])
            arrays.append(B.zeros(shape, dtype=x.data.dtype))
        example_sets.append(arrays)
    outputs: list[int] = []

    def forward(*arrays):
        tensors = [Tensor._wrap(a, x._device) for a, x in zip(arrays, inputs)]
        out = _flat_outputs(model(*tensors))
        if not all(isinstance(t, Tensor) for t in out):
            raise ExportError("lucid.export.mlx: the model must return Tensors")
        outputs.append(len(out))
        return [t.data for t in out]

    metadata = {
        "producer": "lucid",
        "inputs": [{"shape": list(x.shape), "dtype": x.dtype.name} for x in inputs],
        "batch_sizes": sizes,
    }
    path = os.fspath(path)
    with _eval_mode(model):
        try:
            BX.export_function(path, forward, example_sets, json.dumps(metadata))
        except ExportError:
            raise
        except Exception as exc:
            limit = trace_limit(exc, "the model's forward")
            if limit is None:
                raise
            raise limit from exc


def coreml(
    model: Any,
    example_inputs: Any,
    path: str | os.PathLike,
    *,
    batch_sizes: Sequence[int] | None = None,
    minimum_deployment_target: str = "macOS13",
) -> None:
    """Write ``model`` as a Core ML program (``.mlpackage``) at ``path``, with coremltools'
    MIL builder (``pip install lucid[coreml]``) from the same trace as ONNX.

    Core ML predicts only on macOS/iOS; on Linux the package is built and saved but not run.
    ``batch_sizes`` makes the batch axis of every input take those sizes
    (``ct.EnumeratedShapes``), otherwise the example shape is fixed.
    ``minimum_deployment_target`` names a ``coremltools.target`` (default ``"macOS13"``).
    """
    from lucid.export import _coreml

    inputs = as_inputs(example_inputs)
    dynamic = {}
    if batch_sizes is not None:
        dynamic = {i: [0] for i in range(len(inputs))}
    graph = trace(model, inputs, dynamic)
    _coreml.export(
        graph, path, batch_sizes=batch_sizes, minimum_deployment_target=minimum_deployment_target
    )
