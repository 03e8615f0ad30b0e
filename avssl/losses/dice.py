"""The soft Dice loss (Milletari et al., "V-Net: Fully convolutional neural networks for volumetric medical
image segmentation", 3DV 2016), with the +smooth term in numerator and denominator:

    L = 1 − (2 Σ p·g + smooth) / (Σ p + Σ g + smooth),   p = sigmoid(logits), g the {0, 1} target

summed over the given dims (all of them by default: one loss for the whole batch). An empty target predicted
empty costs ~0. Used per frame by audio-visual segmentation (:func:`avssl.losses.avs.frame_dice`) and over
the batch by change-detection fine-tuning (:mod:`avssl.evaluation.change_finetune`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def soft_dice(
    logits: Tensor, target: Tensor, dim: Sequence[int] | None = None, smooth: float = 1.0
) -> Tensor:
    """Soft Dice loss of ``logits`` against ``target`` (same shape), summed over ``dim`` (None: every dim,
    a scalar); the sums run in at least float32 (half-precision logits)."""
    dtype = torch.promote_types(logits.dtype, torch.float32)
    probs, target = torch.sigmoid(logits.to(dtype)), target.to(dtype)
    dims = tuple(range(probs.ndim)) if dim is None else tuple(dim)
    overlap = (probs * target).sum(dim=dims)
    return 1.0 - (2.0 * overlap + smooth) / (probs.sum(dim=dims) + target.sum(dim=dims) + smooth)
