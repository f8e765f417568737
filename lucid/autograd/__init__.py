"""Lucid's tape-based reverse-mode autograd."""

from lucid.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,  # noqa: F401
    no_grad,
    set_grad_enabled,
)
from lucid.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401,E402
from lucid.autograd.function import (  # noqa: F401,E402
    Function,
    FunctionCtx,
    grad,
    once_differentiable,
)
