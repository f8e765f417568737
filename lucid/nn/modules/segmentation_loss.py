"""Segmentation losses with MONAI's arguments and meaning (``monai.losses``): ``DiceLoss``,
``GeneralizedDiceLoss``, ``TverskyLoss``, ``FocalLoss``, ``DiceCELoss``, ``DiceFocalLoss``.

Inputs are ``(B, C, *spatial)`` logits or probabilities; targets are one-hot / per-channel masks
``(B, C, *spatial)``, or class indices ``(B, 1, *spatial)`` with ``to_onehot_y=True``. A target
without the channel axis, ``(B, *spatial)`` as ``cross_entropy`` takes it, is read as
``(B, 1, *spatial)`` (MONAI refuses it). Everything is built from differentiable lucid ops, so the
gradients come from the tape. MONAI's formulas and quirks (output shapes of ``reduction='none'``,
the spatial mean before the sum of ``FocalLoss(reduction='sum')``, the warnings on single-channel
inputs) are kept on purpose, so a MONAI training script ports unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from lucid import _backend as B, creation, ops
from lucid.nn.functional.activation import logsigmoid
from lucid.nn.modules.loss import BCEWithLogitsLoss, CrossEntropyLoss, _Loss
from lucid.tensor import Tensor

__all__ = [
    "DiceLoss",
    "GeneralizedDiceLoss",
    "TverskyLoss",
    "FocalLoss",
    "DiceCELoss",
    "DiceFocalLoss",
]

Weight = Sequence[float] | float | int | Tensor | None
Activation = Callable[[Tensor], Tensor] | None


# --- shared steps (MONAI's order: activation, one-hot, background, shape check) -----------------
def _check_acts(sigmoid: bool, softmax: bool, other_act: Activation) -> None:
    if other_act is not None and not callable(other_act):
        raise TypeError(f"other_act must be None or callable, got {type(other_act).__name__}")
    if int(sigmoid) + int(softmax) + int(other_act is not None) > 1:
        raise ValueError(
            "choose at most one of sigmoid=True, softmax=True and other_act, got "
            f"sigmoid={sigmoid}, softmax={softmax}, other_act={other_act!r}"
        )


def _weight_buffer(weight: Weight, name: str) -> Tensor | None:
    """``weight`` as a Tensor (scalar or 1-d), checked to be non-negative."""
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight))
    if w.ndim > 1:
        raise ValueError(f"{name}: weight must be a number or one value per class, got {w.shape}")
    if w.numel() and float(w.min().item()) < 0:
        raise ValueError(f"{name}: weight values must be >= 0, got {w.tolist()}")
    return w


def _input(input: Tensor, name: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"{name}: input must be floating point, got {input.dtype}")
    if input.ndim < 3:
        raise ValueError(f"{name}: input must have shape (B, C, *spatial), got {input.shape}")
    return input


def _target(target: Tensor, input: Tensor, name: str) -> Tensor:
    """``target`` as a Tensor with the input's number of dimensions."""
    if not isinstance(target, Tensor):
        target = creation.tensor(np.asarray(target), device=input.device)
    if target.shape == input.shape[:1] + input.shape[2:]:
        target = ops.unsqueeze(target, 1)  # (B, *spatial) class maps, as cross_entropy takes
    if target.ndim != input.ndim:
        raise ValueError(
            f"{name}: target must have shape (B, C, *spatial) or (B, 1, *spatial) for input of "
            f"shape {input.shape}, got {target.shape}"
        )
    return target


def _activate(input: Tensor, sigmoid: bool, softmax: bool, other_act: Activation) -> Tensor:
    if sigmoid:
        input = ops.sigmoid(input)
    if softmax:
        if input.shape[1] == 1:
            warnings.warn("single channel prediction, `softmax=True` ignored.", stacklevel=4)
        else:
            input = ops.softmax(input, 1)
    if other_act is not None:
        input = other_act(input)
    return input


def _one_hot(target: Tensor, input: Tensor, name: str) -> Tensor:
    """Class indices (B, 1, *spatial) as (B, C, *spatial) float masks (no gradient)."""
    c = input.shape[1]
    if target.shape[1] != 1:
        raise ValueError(
            f"{name}: to_onehot_y=True needs class indices of shape (B, 1, *spatial) for input "
            f"shape {input.shape}, got {target.shape} (a one-hot target needs to_onehot_y=False)"
        )
    t = B.cast(target.data, "int64")  # float labels are truncated, as MONAI's .long()
    if t.size:
        # deferred (no host read per step), as cross_entropy checks its indices
        B.defer_index_check(B.any((t < 0) | (t >= c)), t, c, f"{name} target")
    classes = B.reshape(B.arange(c), (1, c) + (1,) * (target.ndim - 2))
    return Tensor._wrap(B.cast(t == classes, "float32"), input._device)


def _prepare(
    input: Tensor,
    target: Tensor,
    include_background: bool,
    to_onehot_y: bool,
    name: str,
) -> tuple[Tensor, Tensor]:
    """One-hot encoding, background removal and the shape check, as MONAI orders them."""
    c = input.shape[1]
    if to_onehot_y:
        if c == 1:
            warnings.warn("single channel prediction, `to_onehot_y=True` ignored.", stacklevel=4)
        else:
            target = _one_hot(target, input, name)
    if target.shape != input.shape:
        hint = (
            " (class indices, (B, 1, *spatial) or (B, *spatial), need to_onehot_y=True)"
            if target.shape[1] == 1
            else ""
        )
        raise ValueError(
            f"{name}: target shape {target.shape} must equal input shape {input.shape}{hint}"
        )
    if not include_background:
        if c == 1:
            warnings.warn(
                "single channel prediction, `include_background=False` ignored.", stacklevel=4
            )
        else:
            input, target = input[:, 1:], target[:, 1:]
    if not target.is_floating_point() or target.dtype != input.dtype:
        target = target.to(dtype=input.dtype)
    return input, target


def _overlaps(
    p: Tensor, t: Tensor, dims: tuple[int, ...], squared: bool, soft_label: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """(intersection, prediction size, target size) summed over ``dims``. ``soft_label`` uses
    the L1 form |p| + |t| - |p - t| of twice the intersection (MONAI's semimetric losses), which
    equals 2 * sum(p * t) for binary targets; ``squared`` uses squares for the sizes."""
    if squared:
        return ops.sum(p * t, dims), ops.sum(p * p, dims), ops.sum(t * t, dims)
    if soft_label:
        size_p, size_t = ops.sum(ops.abs(p), dims), ops.sum(ops.abs(t), dims)
        return (size_p + size_t - ops.sum(ops.abs(p - t), dims)) * 0.5, size_p, size_t
    return ops.sum(p * t, dims), ops.sum(p, dims), ops.sum(t, dims)


def _reduce_dims(ndim: int, batch: bool) -> tuple[int, ...]:
    return ((0,) if batch else ()) + tuple(range(2, ndim))


def _class_weight(w: Tensor, c: int, like: Tensor, name: str) -> Tensor:
    """A scalar or a (c,) weight in ``like``'s dtype and device."""
    w = w.to(device=like.device, dtype=like.dtype)
    if w.ndim == 1 and w.shape[0] != c:
        raise ValueError(
            f"{name}: weight must have one value per class ({c}; without the background "
            f"channel when include_background=False), got {w.shape[0]}"
        )
    return w


def _channel_values(values: Sequence[float], like: Tensor) -> Tensor:
    """One value per channel, shaped (1, C, 1, ...) to broadcast against ``like``."""
    shape = (1, len(values)) + (1,) * (like.ndim - 2)
    data = np.asarray(values, np.float64).reshape(shape)
    return creation.tensor(data, dtype=like.dtype, device=like.device)


def _reduce(f: Tensor, reduction: str, none_shape: tuple[int, ...] | None = None) -> Tensor:
    if reduction == "mean":
        return ops.mean(f)
    if reduction == "sum":
        return ops.sum(f)
    return f if none_shape is None else ops.reshape(f, none_shape)


class _SegLoss(_Loss):
    """Options shared by the overlap losses (Dice, generalised Dice, Tversky)."""

    def __init__(
        self,
        include_background: bool,
        to_onehot_y: bool,
        sigmoid: bool,
        softmax: bool,
        other_act: Activation,
        reduction: str,
        smooth_nr: float,
        smooth_dr: float,
        batch: bool,
        soft_label: bool,
    ):
        super().__init__(reduction)
        _check_acts(sigmoid, softmax, other_act)
        self.include_background, self.to_onehot_y = include_background, to_onehot_y
        self.sigmoid, self.softmax, self.other_act = sigmoid, softmax, other_act
        self.smooth_nr, self.smooth_dr = float(smooth_nr), float(smooth_dr)
        self.batch, self.soft_label = batch, soft_label

    def _inputs(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        name = type(self).__name__
        input = _input(input, name)
        target = _target(target, input, name)
        input = _activate(input, self.sigmoid, self.softmax, self.other_act)
        return _prepare(input, target, self.include_background, self.to_onehot_y, name)

    def extra_repr(self) -> str:
        acts = {"sigmoid": self.sigmoid, "softmax": self.softmax, "other_act": self.other_act}
        act = next((k for k, v in acts.items() if v not in (False, None)), "none")
        return (
            f"activation={act}, include_background={self.include_background}, "
            f"to_onehot_y={self.to_onehot_y}, batch={self.batch}, reduction={self.reduction!r}"
        )


class DiceLoss(_SegLoss):
    """Soft Dice loss, MONAI's ``DiceLoss``: per sample and channel
    ``1 - (2 * sum(p * t) + smooth_nr) / (sum(p) + sum(t) + smooth_dr)``, sums over the spatial
    axes (and the batch with ``batch=True``).

    ``p`` is ``sigmoid(input)`` / ``softmax(input, 1)`` / ``other_act(input)`` when asked, else the
    input itself (probabilities). ``to_onehot_y`` one-hot encodes (B, 1, *spatial) class indices;
    ``include_background=False`` drops channel 0; ``squared_pred`` sums squares in the
    denominator; ``jaccard`` uses ``2 * (sum(p) + sum(t) - sum(p * t))`` there (soft IoU);
    ``weight`` (a number or one per channel left) multiplies each channel's loss when more than
    one channel is left; ``soft_label`` uses the L1 form of the intersection. ``reduction``:
    ``'mean'``/``'sum'`` over the (B, C) values, or ``'none'`` for them shaped (B, C, 1, ...)
    (``(C, 1, ...)`` with ``batch=True``)."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Activation = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: Weight = None,
        soft_label: bool = False,
    ):
        super().__init__(
            include_background,
            to_onehot_y,
            sigmoid,
            softmax,
            other_act,
            reduction,
            smooth_nr,
            smooth_dr,
            batch,
            soft_label,
        )
        self.squared_pred, self.jaccard = squared_pred, jaccard
        self.register_buffer("class_weight", _weight_buffer(weight, "DiceLoss"))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The Dice loss of ``input`` (B, C, *spatial) against ``target``."""
        p, t = self._inputs(input, target)
        dims = _reduce_dims(p.ndim, self.batch)
        inter, size_p, size_t = _overlaps(p, t, dims, self.squared_pred, self.soft_label)
        denominator = size_p + size_t
        if self.jaccard:
            denominator = 2.0 * (denominator - inter)
        f = 1.0 - (2.0 * inter + self.smooth_nr) / (denominator + self.smooth_dr)
        if self.class_weight is not None and t.shape[1] != 1:
            f = f * _class_weight(self.class_weight, t.shape[1], f, "DiceLoss")
        return _reduce(f, self.reduction, tuple(f.shape) + (1,) * (p.ndim - 2))


class GeneralizedDiceLoss(_SegLoss):
    """Generalised Dice loss (Sudre et al. 2017), MONAI's ``GeneralizedDiceLoss``: the Dice of
    class-weighted sums, ``1 - (2 * sum_c w_c I_c + smooth_nr) / (sum_c w_c (P_c + T_c) +
    smooth_dr)`` per sample (over the whole batch with ``batch=True``).

    ``w_type`` picks ``w_c`` from the target volume ``T_c``: ``'square'`` 1 / T_c**2,
    ``'simple'`` 1 / T_c, ``'uniform'`` 1; a class absent from the target gets the largest weight
    of the present classes (0 when none is present). Activation, ``to_onehot_y``,
    ``include_background``, ``soft_label`` and smoothing as in ``DiceLoss``; ``reduction='none'``
    gives shape (B, 1, 1, ...) (``(1, 1, ...)`` with one dimension fewer when ``batch=True``, as
    MONAI)."""

    _w_types = ("square", "simple", "uniform")

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Activation = None,
        w_type: str = "square",
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
    ):
        super().__init__(
            include_background,
            to_onehot_y,
            sigmoid,
            softmax,
            other_act,
            reduction,
            smooth_nr,
            smooth_dr,
            batch,
            soft_label,
        )
        w_type = str(w_type).lower()
        if w_type not in self._w_types:
            raise ValueError(f"w_type must be one of {self._w_types}, got {w_type!r}")
        self.w_type = w_type

    def _class_weights(self, volume: Tensor) -> Tensor:
        # the weights depend on the target only: computed off the tape
        v = volume.detach()
        if self.w_type == "uniform":
            return creation.ones_like(v)
        empty = v == 0
        safe = ops.where(empty, 1.0, v)
        w = ops.where(empty, 0.0, 1.0 / (safe * safe if self.w_type == "square" else safe))
        # an absent class would weigh infinitely: it takes the largest weight of the others
        top = ops.amax(w) if self.batch else ops.amax(w, 1, keepdim=True)
        return ops.where(empty, top, w)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The generalised Dice loss of ``input`` (B, C, *spatial) against ``target``."""
        p, t = self._inputs(input, target)
        dims = _reduce_dims(p.ndim, self.batch)
        inter, size_p, size_t = _overlaps(p, t, dims, False, self.soft_label)
        w = self._class_weights(ops.sum(t, dims))
        axis = 0 if self.batch else 1  # the class axis of the summed terms
        numerator = 2.0 * ops.sum(inter * w, axis, keepdim=True) + self.smooth_nr
        denominator = ops.sum((size_p + size_t) * w, axis, keepdim=True) + self.smooth_dr
        f = 1.0 - numerator / denominator
        return _reduce(f, self.reduction, tuple(f.shape[:2]) + (1,) * (p.ndim - 2))

    def extra_repr(self) -> str:
        return f"w_type={self.w_type!r}, " + super().extra_repr()


class TverskyLoss(_SegLoss):
    """Tversky loss (Salehi et al. 2017), MONAI's ``TverskyLoss``: per sample and channel
    ``1 - (TP + smooth_nr) / (TP + alpha * FP + beta * FN + smooth_dr)`` with soft counts
    ``TP = sum(p * t)``, ``FP = sum(p * (1 - t))``, ``FN = sum((1 - p) * t)``; ``alpha = beta =
    0.5`` is the Dice loss. Other options as in ``DiceLoss``; ``reduction='none'`` gives the
    (B, C) values ((C,) with ``batch=True``), as MONAI."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Activation = None,
        alpha: float = 0.5,
        beta: float = 0.5,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        soft_label: bool = False,
    ):
        super().__init__(
            include_background,
            to_onehot_y,
            sigmoid,
            softmax,
            other_act,
            reduction,
            smooth_nr,
            smooth_dr,
            batch,
            soft_label,
        )
        self.alpha, self.beta = alpha, beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The Tversky loss of ``input`` (B, C, *spatial) against ``target``."""
        p, t = self._inputs(input, target)
        dims = _reduce_dims(p.ndim, self.batch)
        tp, size_p, size_t = _overlaps(p, t, dims, False, self.soft_label)
        fp, fn = size_p - tp, size_t - tp
        denominator = tp + self.alpha * fp + self.beta * fn + self.smooth_dr
        return _reduce(1.0 - (tp + self.smooth_nr) / denominator, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, " + super().extra_repr()


class FocalLoss(_Loss):
    """Focal loss (Lin et al. 2017), MONAI's ``FocalLoss``, on logits ``input`` (B, C, *spatial):
    ``-(1 - p_t)**gamma * log(p_t)`` per element, from ``sigmoid(input)`` per channel (binary
    cross entropy scaled by the focal factor), or with ``use_softmax=True`` from
    ``log_softmax(input, 1)`` times the (one-hot) target.

    ``alpha``: a number balances positives (``alpha``) against negatives (``1 - alpha``; with
    softmax, channel 0 against the rest, ignored with a warning when
    ``include_background=False``), or one value per channel scales that channel's positives
    (sigmoid) or that channel (softmax). ``weight``: a number or one value per channel
    multiplying the loss. ``include_background=False`` drops channel 0 before the softmax, as
    MONAI. ``reduction``: ``'mean'`` over all elements, ``'sum'`` sums the per-(B, C) spatial
    means (MONAI's definition), ``'none'`` the (B, C, *spatial) values."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        weight: Weight = None,
        reduction: str = "mean",
        use_softmax: bool = False,
    ):
        super().__init__(reduction)
        self.include_background, self.to_onehot_y = include_background, to_onehot_y
        self.gamma, self.use_softmax = float(gamma), use_softmax
        if alpha is None or isinstance(alpha, (int, float)):
            self.alpha: float | tuple[float, ...] | None = None if alpha is None else float(alpha)
        else:
            a = alpha.tolist() if isinstance(alpha, Tensor) else alpha
            self.alpha = tuple(float(v) for v in np.asarray(a).reshape(-1))
        self.register_buffer("class_weight", _weight_buffer(weight, "FocalLoss"))

    def _alpha(self, c: int, like: Tensor) -> Tensor | float | None:
        alpha = self.alpha
        if isinstance(alpha, tuple):
            if len(alpha) != c:
                raise ValueError(
                    f"FocalLoss: alpha must have one value per class ({c}; without the background "
                    f"channel when include_background=False), got {len(alpha)}"
                )
            return _channel_values(alpha, like)
        return alpha

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The focal loss of logits ``input`` (B, C, *spatial) against ``target``."""
        name = "FocalLoss"
        x = _input(input, name)
        x, t = _prepare(
            x, _target(target, x, name), self.include_background, self.to_onehot_y, name
        )
        c = x.shape[1]
        alpha = self._alpha(c, x)
        if self.use_softmax:
            if isinstance(alpha, float) and not self.include_background:
                warnings.warn(
                    "`include_background=False`, scalar `alpha` ignored when using softmax.",
                    stacklevel=2,
                )
                alpha = None
            log_p = ops.log_softmax(x, 1)
            loss = -((1.0 - ops.exp(log_p)) ** self.gamma) * log_p * t
            if isinstance(alpha, float):  # channel 0 (background) against the others
                alpha = _channel_values([1.0 - alpha] + [alpha] * (c - 1), x)
            if alpha is not None:
                loss = loss * alpha
        else:
            # BCE with logits, x - x t - log(sigmoid(x)), times (1 - p_t)**gamma computed as
            # exp(gamma * log(sigmoid(-x (2t - 1)))) so that large logits do not overflow
            loss = x - x * t - logsigmoid(x)
            loss = ops.exp(self.gamma * logsigmoid(-x * (2.0 * t - 1.0))) * loss
            if isinstance(alpha, float):
                loss = (t * alpha + (1.0 - t) * (1.0 - alpha)) * loss
            elif alpha is not None:  # per-channel alpha scales the positives only
                loss = ops.where(t == 1, alpha, 1.0) * loss
        if self.class_weight is not None:
            w = self.class_weight
            if w.ndim == 1 and c == 1:
                raise ValueError("FocalLoss: a per-class weight needs more than one channel")
            w = _class_weight(w, c, loss, name)
            loss = loss * (ops.reshape(w, (1, c) + (1,) * (x.ndim - 2)) if w.ndim else w)
        if self.reduction == "sum":  # MONAI sums the spatial means of each sample and channel
            return ops.sum(ops.mean(loss, tuple(range(2, x.ndim))))
        return _reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, alpha={self.alpha}, use_softmax={self.use_softmax}, "
            f"include_background={self.include_background}, to_onehot_y={self.to_onehot_y}, "
            f"reduction={self.reduction!r}"
        )


def _check_lambdas(**lambdas: float) -> None:
    for name, value in lambdas.items():
        if value < 0.0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _check_pair_shapes(input: Tensor, target: Tensor, name: str) -> None:
    if target.shape[1] not in (1, input.shape[1]):
        raise ValueError(
            f"{name}: target must have 1 channel (class indices) or the input's {input.shape[1]} "
            f"(one-hot), got target shape {target.shape} for input shape {input.shape}"
        )


class DiceCELoss(_Loss):
    """``lambda_dice * DiceLoss + lambda_ce * cross entropy``, MONAI's ``DiceCELoss``.

    The Dice term takes the Dice options (activation, ``squared_pred``, ``jaccard``, smoothing,
    ``batch``); the cross entropy runs on the logits: ``CrossEntropyLoss(weight,
    label_smoothing)`` on class indices (a (B, 1, *spatial) target) or on the one-hot target as
    probabilities, or, for a single channel, ``BCEWithLogitsLoss(pos_weight=weight)``.
    ``weight`` (one per class) is also the Dice weight (without channel 0 when
    ``include_background=False``). ``reduction`` is ``'mean'`` or ``'sum'`` (no ``'none'``: the
    two terms have different shapes)."""

    _reductions = ("mean", "sum")

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Activation = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        weight: Tensor | None = None,
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        label_smoothing: float = 0.0,
    ):
        super().__init__(reduction)
        _check_lambdas(lambda_dice=lambda_dice, lambda_ce=lambda_ce)
        w = _weight_buffer(weight, "DiceCELoss")
        dice_weight = w[1:] if w is not None and w.ndim == 1 and not include_background else w
        self.dice = DiceLoss(
            include_background,
            to_onehot_y,
            sigmoid,
            softmax,
            other_act,
            squared_pred,
            jaccard,
            reduction,
            smooth_nr,
            smooth_dr,
            batch,
            dice_weight,
        )
        self.cross_entropy = CrossEntropyLoss(
            weight=w, reduction=reduction, label_smoothing=label_smoothing
        )
        self.binary_cross_entropy = BCEWithLogitsLoss(pos_weight=w, reduction=reduction)
        self.lambda_dice, self.lambda_ce = lambda_dice, lambda_ce

    def ce(self, input: Tensor, target: Tensor) -> Tensor:
        """Cross entropy of logits ``input`` against (B, 1, *spatial) indices or a one-hot
        target."""
        if target.shape[1] == 1 and input.shape[1] != 1:
            return self.cross_entropy(input, ops.squeeze(target, 1).to(dtype="int64"))
        return self.cross_entropy(input, target.to(dtype=input.dtype))

    def bce(self, input: Tensor, target: Tensor) -> Tensor:
        """Binary cross entropy of single-channel logits ``input`` against ``target``."""
        return self.binary_cross_entropy(input, target.to(dtype=input.dtype))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The weighted sum of the Dice and cross-entropy losses of logits ``input``."""
        input = _input(input, "DiceCELoss")
        target = _target(target, input, "DiceCELoss")
        _check_pair_shapes(input, target, "DiceCELoss")
        dice = self.dice(input, target)
        ce = self.ce(input, target) if input.shape[1] != 1 else self.bce(input, target)
        return self.lambda_dice * dice + self.lambda_ce * ce

    def extra_repr(self) -> str:
        return f"lambda_dice={self.lambda_dice}, lambda_ce={self.lambda_ce}"


class DiceFocalLoss(_Loss):
    """``lambda_dice * DiceLoss + lambda_focal * FocalLoss``, MONAI's ``DiceFocalLoss``.

    The Dice term takes the activation and Dice options; the focal term (sigmoid form) takes the
    logits with ``gamma`` and ``alpha``; ``include_background``, ``weight`` and ``reduction``
    go to both (with ``'none'`` the (B, C, 1, ...) Dice values broadcast against the focal
    (B, C, *spatial) ones). ``to_onehot_y`` encodes the target once for both."""

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        other_act: Activation = None,
        squared_pred: bool = False,
        jaccard: bool = False,
        reduction: str = "mean",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        gamma: float = 2.0,
        weight: Weight = None,
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        alpha: float | None = None,
    ):
        super().__init__(reduction)
        _check_lambdas(lambda_dice=lambda_dice, lambda_focal=lambda_focal)
        self.dice = DiceLoss(
            include_background,
            False,
            sigmoid,
            softmax,
            other_act,
            squared_pred,
            jaccard,
            reduction,
            smooth_nr,
            smooth_dr,
            batch,
            weight,
        )
        self.focal = FocalLoss(include_background, False, gamma, alpha, weight, reduction)
        self.lambda_dice, self.lambda_focal = lambda_dice, lambda_focal
        self.to_onehot_y = to_onehot_y

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The weighted sum of the Dice and focal losses of logits ``input``."""
        input = _input(input, "DiceFocalLoss")
        target = _target(target, input, "DiceFocalLoss")
        _check_pair_shapes(input, target, "DiceFocalLoss")
        if self.to_onehot_y:
            if input.shape[1] == 1:
                warnings.warn(
                    "single channel prediction, `to_onehot_y=True` ignored.", stacklevel=2
                )
            else:
                target = _one_hot(target, input, "DiceFocalLoss")
        return self.lambda_dice * self.dice(input, target) + self.lambda_focal * self.focal(
            input, target
        )

    def extra_repr(self) -> str:
        return (
            f"lambda_dice={self.lambda_dice}, lambda_focal={self.lambda_focal}, "
            f"to_onehot_y={self.to_onehot_y}"
        )
