"""Lucid's tape-based reverse-mode autograd."""

from lucid.autograd.grad_mode import (enable_grad, is_grad_enabled, no_grad,  # noqa: F401
                                      set_grad_enabled)
from lucid.autograd.gradcheck import GradcheckError, gradcheck  # noqa: F401,E402
