"""Numerical gradient checking: analytic gradients against central finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lucid.autograd.grad_mode import no_grad


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` with the worst mismatch it found."""


def gradcheck(
    fn: Callable[..., Any], inputs, eps: float = 1e-6, atol=1e-5, rtol=1e-3, seed: int = 0
) -> bool:
    """Check the gradients of ``fn(*inputs)`` with respect to every input that requires grad.

    Inputs are copied to float64 on the CPU stream. For a non-scalar output the check projects it
    on a fixed random direction ``v`` (so every output element matters) and compares the analytic
    gradient of ``sum(v * fn(...))`` with central differences ``(f(x+eps) - f(x-eps)) / 2eps``.
    Returns True, or raises ``GradcheckError`` naming the input, the element and both values.
    The defaults are PyTorch's: float64 is computed to float64 accuracy (the transcendental
    functions MLX computes only to float32 accuracy go through numpy, see ``lucid._backend``).
    """
    from lucid.tensor import Tensor

    if not isinstance(inputs, (list, tuple)):
        inputs = (inputs,)
    arrays = [
        np.array(t.numpy() if isinstance(t, Tensor) else t, dtype=np.float64) if _is_float(t) else t
        for t in inputs
    ]
    wants = [isinstance(t, Tensor) and t.requires_grad for t in inputs]
    if not any(wants):
        raise ValueError("gradcheck: no input requires grad")

    def evaluate(values, track):
        args = [
            Tensor(v, dtype="float64", device="cpu", requires_grad=track and w)
            if isinstance(v, np.ndarray)
            else v
            for v, w in zip(values, wants)
        ]
        return args, fn(*args)

    args, out = evaluate(arrays, True)
    direction = np.random.default_rng(seed).standard_normal(out.shape)
    if out.requires_grad:  # an output that ignores every input has zero gradients
        (out * Tensor(direction, dtype="float64")).sum().backward()

    def values_at(values):
        with no_grad():
            return evaluate(values, False)[1].numpy().astype(np.float64)

    worst = None
    for i, wanted in enumerate(wants):
        if not wanted:
            continue
        grad = args[i].grad
        if grad is not None and grad.shape != arrays[i].shape:
            raise GradcheckError(
                f"gradcheck: the gradient of input {i} has shape {grad.shape}, "
                f"but the input has shape {arrays[i].shape}"
            )
        analytic = np.zeros(arrays[i].shape) if grad is None else grad.numpy()
        numeric = np.zeros_like(arrays[i])
        for j in np.ndindex(arrays[i].shape):
            orig = arrays[i][j]
            arrays[i][j] = orig + eps
            plus = values_at(arrays)
            arrays[i][j] = orig - eps
            minus = values_at(arrays)
            arrays[i][j] = orig
            numeric[j] = float(((plus - minus) * direction).sum()) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            j = np.unravel_index(np.argmax(err), err.shape)
            if worst is None or err[j] > worst[0]:
                worst = (err[j], i, j, analytic[j], numeric[j])
    if worst is not None:
        _, i, j, a, n = worst
        raise GradcheckError(
            f"gradcheck failed for input {i} at index {tuple(int(v) for v in j)}: "
            f"analytic {a:.8g} vs numeric {n:.8g} (atol={atol}, rtol={rtol})"
        )
    return True


def _is_float(t):
    from lucid.tensor import Tensor

    if isinstance(t, Tensor):
        return t.is_floating_point()
    return isinstance(t, np.ndarray) and t.dtype.kind == "f"


def gradgradcheck(
    fn: Callable[..., Any],
    inputs,
    grad_outputs=None,
    eps: float = 1e-6,
    atol=1e-5,
    rtol=1e-3,
    seed: int = 0,
) -> bool:
    """Check second derivatives: the gradients of ``fn``'s first-order gradients (computed with
    ``create_graph=True``) against central differences of those first-order gradients, as
    PyTorch's ``gradgradcheck``. ``grad_outputs`` (a fixed random direction when None) seeds
    the first backward. Returns True or raises ``GradcheckError``."""
    from lucid.autograd.function import grad
    from lucid.autograd.grad_mode import enable_grad
    from lucid.tensor import Tensor

    if not isinstance(inputs, (list, tuple)):
        inputs = (inputs,)
    wanted = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not wanted:
        raise ValueError("gradgradcheck: no input requires grad")
    if grad_outputs is None:
        with no_grad():
            args = [
                Tensor(t.numpy(), dtype="float64") if isinstance(t, Tensor) and _is_float(t) else t
                for t in inputs
            ]
            shape = fn(*args).shape
        grad_outputs = np.random.default_rng(seed + 1).standard_normal(shape)
    seed_out = np.asarray(
        grad_outputs.numpy() if isinstance(grad_outputs, Tensor) else grad_outputs, np.float64
    )

    def first_order(*args, create_graph=True):
        with enable_grad():
            args = list(args)
            for i in wanted:  # the numeric pass gives inputs without grad: differentiate copies
                if not args[i].requires_grad:
                    args[i] = args[i].detach().requires_grad_(True)
            out = fn(*args)
            grads = grad(
                out,
                [args[i] for i in wanted],
                Tensor(seed_out, dtype="float64"),
                create_graph=create_graph,
                allow_unused=True,
            )
        flat = [(g if g is not None else args[i] * 0.0).reshape(-1) for g, i in zip(grads, wanted)]
        from lucid.ops import cat

        return cat(flat)

    # the recorded first-order gradients (the ops' higher-order rules) must equal the ones of
    # the array backward: the finite differences below only check their derivative
    copies = [t.detach().requires_grad_(True) if i in wanted else t for i, t in enumerate(inputs)]
    recorded = first_order(*copies).numpy()
    plain = first_order(*copies, create_graph=False).numpy()
    bad = np.abs(recorded - plain) > atol + rtol * np.abs(plain)
    if bad.any():
        j = int(np.argmax(bad))
        raise GradcheckError(
            f"gradgradcheck: the first-order gradient computed with create_graph=True differs "
            f"from the plain backward's at flat index {j}: {recorded[j]:.8g} vs {plain[j]:.8g}"
        )
    return gradcheck(first_order, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
