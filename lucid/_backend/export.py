"""MLX's function tracing and export (``mx.export_function``), as ``lucid.export`` uses them.

``trace_function`` runs a function the way MLX traces one for export: its array arguments are
placeholders, so nothing is computed, and an array computed from them cannot be evaluated
(``constant_value`` tells such an array from a constant). ``export_function`` writes the traced
graph, weights included, to a ``.mlxfn`` file that ``mx.import_function`` loads (from Python,
C++ or Swift) without Lucid. Lucid's runtime is in its tracing state meanwhile, as under
``lucid.compile``: MLX's kernels serve every op (a host kernel would need its input's values),
nothing is evaluated and a host read-back raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mlx.core as mx
import numpy as np

from lucid._backend import dispatch, runtime

__all__ = ["constant_value", "export_function", "trace_function"]


def _ignore(*args, **kwargs) -> None:
    """The export callback of a trace whose graph is not kept."""


def trace_function(fn: Callable, arrays: Sequence) -> None:
    """Call ``fn(*arrays)`` once under MLX's export tracing (placeholders, no computation)."""
    with runtime.tracing():
        mx.export_function(_ignore, fn, *arrays)


def constant_value(a) -> np.ndarray | None:
    """The values of ``a`` (a copy; bfloat16 as float32), or None when, inside
    ``trace_function``, ``a`` is computed from the traced function's arguments."""
    try:
        mx.eval(a)
    except ValueError as exc:
        if "function transformations" in str(exc):
            return None
        raise
    if a.dtype == mx.bfloat16:
        a = a.astype(mx.float32)
    return np.array(a, copy=True)


def export_function(
    path: str, fn: Callable, example_sets: Sequence[Sequence], metadata: str | None = None
) -> None:
    """Write ``fn`` traced once per argument list in ``example_sets`` to ``path`` (a
    ``.mlxfn`` file; ``mx.import_function`` picks the trace matching its arguments' shapes)."""
    with (
        runtime.tracing(),
        dispatch.mlx_conv_everywhere(),
        mx.exporter(path, fn, metadata=metadata) as exporter,
    ):
        for arrays in example_sets:
            exporter(*arrays)
