"""Modules of the margin, ranking and embedding losses (see
``lucid.nn.functional.margin_loss``). As there, options PyTorch lists after its deprecated
``size_average``/``reduce`` are keyword-only."""

from __future__ import annotations

from lucid.nn.functional import margin_loss as F
from lucid.nn.modules.loss import _Loss
from lucid.tensor import Tensor

__all__ = [
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "MultiLabelMarginLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "CosineEmbeddingLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
]


class _MarginLoss(_Loss):
    def __init__(self, margin: float, reduction: str):
        super().__init__(reduction)
        self.margin = margin

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class MarginRankingLoss(_MarginLoss):
    """``max(0, -y * (x1 - x2) + margin)``; see ``margin_ranking_loss``."""

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean"):
        super().__init__(margin, reduction)

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        """The loss of the pair (``input1``, ``input2``) ranked by ``target`` (1 or -1)."""
        return F.margin_ranking_loss(input1, input2, target, self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """``x`` for target 1, ``max(0, margin - x)`` for -1; see ``hinge_embedding_loss``."""

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean"):
        super().__init__(margin, reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of distances ``input`` labelled by ``target`` (1 or -1)."""
        return F.hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss; see ``multilabel_margin_loss``."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of scores ``input`` against class lists ``target`` (ended by -1)."""
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-y x))``; see ``soft_margin_loss``."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of ``input`` against labels ``target`` (1 or -1)."""
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """One-vs-all logistic loss; see ``multilabel_soft_margin_loss``. ``weight`` is a buffer."""

    def __init__(self, weight: Tensor | None = None, *, reduction: str = "mean"):
        super().__init__(reduction)
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of logits ``input`` against 0/1 ``target``."""
        return F.multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """``1 - cos`` for target 1, ``max(0, cos - margin)`` for -1; see
    ``cosine_embedding_loss``."""

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean"):
        super().__init__(margin, reduction)

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        """The loss of the pair (``input1``, ``input2``) labelled by ``target`` (1 or -1)."""
        return F.cosine_embedding_loss(
            input1, input2, target, self.margin, reduction=self.reduction
        )


class MultiMarginLoss(_MarginLoss):
    """Multi-class hinge loss; see ``multi_margin_loss``. ``weight`` is a buffer."""

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: Tensor | None = None,
        *,
        reduction: str = "mean",
    ):
        if p not in (1, 2):
            raise ValueError(f"only p == 1 and p == 2 are supported, got {p!r}")
        super().__init__(margin, reduction)
        self.p = p
        self._buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss of scores ``input`` at class indices ``target``."""
        return F.multi_margin_loss(
            input, target, self.p, self.margin, self.weight, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, " + super().extra_repr()


class TripletMarginLoss(_MarginLoss):
    """``max(0, margin + d(a, p) - d(a, n))``; see ``triplet_margin_loss``."""

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        *,
        reduction: str = "mean",
    ):
        if margin <= 0:
            raise ValueError(f"margin must be greater than 0, got {margin}")
        super().__init__(margin, reduction)
        self.p, self.eps, self.swap = p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss of the triplets."""
        return F.triplet_margin_loss(
            anchor,
            positive,
            negative,
            self.margin,
            self.p,
            self.eps,
            self.swap,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, p={self.p}, swap={self.swap}, reduction={self.reduction!r}"
