"""Losses of audio-visual segmentation (Zhou et al., "Audio-Visual Segmentation", ECCV 2022, Sec. 3.3).

- :func:`frame_bce`: binary cross-entropy per pixel, averaged over the pixels of the supervised frames
  only — S4 supervises the first frame of each training video (the semi-supervised setting, the only
  mask its training split has), MS3 all five.
- :class:`AudioVisualMappingLoss` (the paper's L_AVM, Eq. 4, used for MS3 with weight λ = 0.5): at each
  TPAVI stage the fused visual map is average-pooled inside the predicted mask (sigmoid(logits) averaged
  down to the map's size, kept where > 0.5), both it and the stage's audio feature are L2-normalised, and
  KL(softmax(audio) ‖ softmax(masked visual)) = Σ_c q_c (log q_c − log p_c) with q = softmax(audio),
  p = softmax(visual) is averaged over frames and stages. It pulls the visual content of what the model
  segments towards the audio feature, so a mask on a silent object costs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def frame_bce(logits: Tensor, masks: Tensor, supervised: Tensor) -> Tensor:
    """Mean BCE over the pixels of supervised frames; logits and masks (B, T, H, W), supervised (B, T) bool.

    Zero (with a gradient path) when no frame is supervised."""
    if logits.shape != masks.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and masks {tuple(masks.shape)} differ")
    per_frame = F.binary_cross_entropy_with_logits(logits, masks.to(logits.dtype), reduction="none").mean(
        dim=(2, 3)
    )
    weight = supervised.to(per_frame.dtype)
    return (per_frame * weight).sum() / weight.sum().clamp_min(1.0)


def masked_average(features: Tensor, prob: Tensor) -> Tensor:
    """(N, C, h, w) features averaged over the pixels where the mask probability, average-pooled to (h, w),
    exceeds 0.5; prob (N, H, W). An empty mask gives a zero vector."""
    mask = F.adaptive_avg_pool2d(prob[:, None], features.shape[-2:])  # (N, 1, h, w)
    mask = (mask > 0.5).to(features.dtype)
    return (features * mask).sum(dim=(2, 3)) / (mask.sum(dim=(2, 3)) + 1e-6)


class AudioVisualMappingLoss(nn.Module):
    """L_AVM over stages: [(fused map (N, C, h, w), audio (N, C)) …] and mask logits (N, H, W) → scalar."""

    def forward(self, stages: Sequence[tuple[Tensor, Tensor]], logits: Tensor) -> Tensor:
        if not stages:
            return logits.new_zeros(())
        prob = torch.sigmoid(logits)
        total = logits.new_zeros(())
        for visual, audio in stages:
            v = F.normalize(masked_average(visual, prob), dim=-1)
            a = F.normalize(audio, dim=-1)
            # F.kl_div(input=log p, target=q) = Σ q (log q − log p)
            total = total + F.kl_div(F.log_softmax(v, dim=-1), F.softmax(a, dim=-1), reduction="batchmean")
        return total / len(stages)
