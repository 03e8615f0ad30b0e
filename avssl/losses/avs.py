"""Losses of audio-visual segmentation (Zhou et al., "Audio-Visual Segmentation", ECCV 2022, Sec. 3.3), as
the authors' released training code computes them.

- :func:`frame_bce`: binary cross-entropy per pixel, averaged over the pixels of the supervised frames
  only — S4 supervises the first frame of each training video (the semi-supervised setting, the only
  mask its training split has), MS3 all five (the released ``nn.BCELoss`` on sigmoid(logits) is the mean
  over exactly these pixels; here it is computed from the logits, which differs only where float32's
  sigmoid saturates and ``BCELoss`` clamps log(0) to −100).
- :func:`frame_dice`: the soft Dice loss (:func:`avssl.losses.dice.soft_dice`) per supervised frame,
  1 − (2 Σ p·g + 1) / (Σ p + Σ g + 1) with p = sigmoid(logits), averaged over those frames. Not in the
  AVS paper's S4 objective (BCE only); mask losses of later segmentation models pair BCE with it (e.g.
  Mask2Former, Cheng et al., CVPR 2022) because a per-pixel mean BCE lets a small object's pixels be
  outvoted by the background.
- :class:`AudioVisualMappingLoss`: the paper's L_AVM (Eq. 4) as the released MS3 model was trained
  (``--masked_av_flag --kl_flag``, no ``--threshold_flag``, no ``--norm_fea_flag``, λ = 0.5). At each TPAVI
  stage with map Z (N, C, h, w) and audio feature A (N, C) (N = B·T frames):

      M   = sigmoid(avg_pool_{h×w}(mask logits))       the *logits* average-pooled to (h, w), then sigmoid
      v_n = (1 / h·w) Σ_{x,y} Z_n,x,y · M_n,x,y         (the mean over all h·w pixels, not over the mask)
      L_s = Σ_n Σ_c q_nc (log q_nc − log p_nc),  q = softmax_c(A), p = softmax_c(v)   (KL(q ‖ p), summed)

  and L_AVM = mean over stages of L_s. The sum over frames follows the released ``reduction='sum'``, so the
  loss grows with the batch size; the features are not L2-normalised (the released flag is off). Z is the
  stage map as the decoder leaves it, i.e. rectified (see :mod:`avssl.heads.segmentation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.losses.dice import soft_dice


def _check_shapes(logits: Tensor, masks: Tensor) -> None:
    if logits.shape != masks.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and masks {tuple(masks.shape)} differ")


def _supervised_mean(per_frame: Tensor, supervised: Tensor) -> Tensor:
    """Mean of a per-frame loss (B, T) over the supervised frames (B, T) bool; zero (with a gradient path)
    when none is."""
    weight = supervised.to(per_frame.dtype)
    return (per_frame * weight).sum() / weight.sum().clamp_min(1.0)


def frame_bce(logits: Tensor, masks: Tensor, supervised: Tensor) -> Tensor:
    """Mean BCE over the pixels of supervised frames; logits and masks (B, T, H, W), supervised (B, T) bool.

    Zero (with a gradient path) when no frame is supervised."""
    _check_shapes(logits, masks)
    per_frame = F.binary_cross_entropy_with_logits(logits, masks.to(logits.dtype), reduction="none").mean(
        dim=(2, 3)
    )
    return _supervised_mean(per_frame, supervised)


def frame_dice(logits: Tensor, masks: Tensor, supervised: Tensor, smooth: float = 1.0) -> Tensor:
    """Mean soft Dice loss of the supervised frames; logits and masks (B, T, H, W), supervised (B, T) bool.

    An empty mask predicted empty costs ~0 (the ``smooth`` term); zero (with a gradient path) when no frame
    is supervised."""
    _check_shapes(logits, masks)
    return _supervised_mean(soft_dice(logits, masks, dim=(2, 3), smooth=smooth), supervised)


def masked_mean(features: Tensor, logits: Tensor) -> Tensor:
    """(N, C, h, w) features weighted by sigmoid(logits average-pooled to (h, w)) and averaged over all h·w
    pixels → (N, C); logits (N, H, W)."""
    weight = torch.sigmoid(F.adaptive_avg_pool2d(logits[:, None], features.shape[-2:]))  # (N, 1, h, w)
    return (features * weight).mean(dim=(2, 3))


class AudioVisualMappingLoss(nn.Module):
    """L_AVM over stages: [(stage map (N, C, h, w), audio (N, C)) …] and mask logits (N, H, W) → scalar."""

    def forward(self, stages: Sequence[tuple[Tensor, Tensor]], logits: Tensor) -> Tensor:
        if not stages:
            return logits.new_zeros(())
        total = logits.new_zeros(())
        for visual, audio in stages:
            log_p = F.log_softmax(masked_mean(visual, logits), dim=-1)
            # F.kl_div(input=log p, target=q) = Σ q (log q − log p)
            total = total + F.kl_div(log_p, F.softmax(audio, dim=-1), reduction="sum")
        return total / len(stages)
