"""Modules of the Poisson and Gaussian negative log-likelihood losses (see
``lucid.nn.functional.likelihood_loss``)."""

from __future__ import annotations

from lucid.nn.functional import likelihood_loss as F
from lucid.nn.modules.loss import _Loss
from lucid.tensor import Tensor

__all__ = ["PoissonNLLLoss", "GaussianNLLLoss"]


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood; see ``poisson_nll_loss``."""

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        *,
        eps: float = 1e-8,
        reduction: str = "mean",
    ):
        super().__init__(reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        """The loss of predicted rates (or log-rates) against counts ``target``."""
        return F.poisson_nll_loss(
            log_input, target, self.log_input, self.full, eps=self.eps, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"log_input={self.log_input}, full={self.full}, reduction={self.reduction!r}"


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood; see ``gaussian_nll_loss`` (keyword-only options, as in
    PyTorch)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var: Tensor | float) -> Tensor:
        """The loss of means ``input`` and variances ``var`` against ``target``."""
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)

    def extra_repr(self) -> str:
        return f"full={self.full}, eps={self.eps}, reduction={self.reduction!r}"
