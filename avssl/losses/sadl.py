"""SaDL-CD's point losses — Chen, Li, Chen & Shi, "Semantic-aware Dense Representation Learning for Remote
Sensing Image Change Detection", IEEE TGRS 2022 (our reading of the paper and its release).

Points come in aligned pairs: row j of view 0 and row j of view 1 are the same location of the image; the
rows hold n points of class 0 (background), then n of class 1, … (`point_class`), some invalid
(`point_valid`: the class was absent from the views' overlap). With d(a, b) = 2 − 2 cos(a, b):

* pull (SimSiam-style, per class): L_c = mean over the valid points j of class c of
  ½ [d(p⁰_j, sg(z¹_j)) + d(p¹_j, sg(z⁰_j))], p the predictor's outputs, z the projector's (stop-gradient);
  L_pull = the mean of L_c over the classes with a valid point.
* push (foreground / background apart, on the backbone's point features r): in each view, the k-th
  background point and the k-th foreground point of an image form a pair; L_push = mean over the valid pairs
  and both views of 1 + cos(r_bg, r_fg) (the release's `push_loss4`, 0 … 2).
* swap (the background-swapped view): foreground points of view 0 pasted onto another image's background,
  their predictions p̃_j pulled towards sg(z⁰_j): L_swap = mean over valid foreground points of d(p̃_j, sg(z⁰_j)).

L = L_pull + push_weight · L_push + swap_weight · L_swap (release: weights 1 and ½).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    """2 − 2 cos(a, b) over the last dimension (b detached: the stop-gradient target)."""
    return 2 - 2 * (F.normalize(a, dim=-1) * F.normalize(b.detach(), dim=-1)).sum(-1)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """The mean of `values` where `mask` (zero, with the graph kept, when nothing is masked in)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)


def point_pull(p: list[Tensor], z: list[Tensor], point_class: Tensor, valid: Tensor, classes: int) -> Tensor:
    """L_pull: `p`, `z` [view 0, view 1] (B, N, D); `point_class`, `valid` (B, N)."""
    per_point = (cosine_distance(p[0], z[1]) + cosine_distance(p[1], z[0])) / 2
    terms = [_masked_mean(per_point, valid & (point_class == c)) for c in range(classes)]
    present = torch.stack([(valid & (point_class == c)).any() for c in range(classes)])
    if not present.any():
        return per_point.sum() * 0
    return torch.stack(terms)[present].mean()


def fg_bg_push(r: list[Tensor], point_class: Tensor, valid: Tensor) -> Tensor:
    """L_push: `r` [view 0, view 1] (B, N, C) backbone point features; pairs the k-th point of class 0 with
    the k-th of class 1 (both classes hold the same number of rows per image)."""
    bg, fg = point_class[0] == 0, point_class[0] == 1
    pair_valid = valid[:, bg] & valid[:, fg]  # (B, n)
    total = r[0].sum() * 0
    for rv in r:
        cos = (F.normalize(rv[:, bg], dim=-1) * F.normalize(rv[:, fg], dim=-1)).sum(-1)
        total = total + _masked_mean(1 + cos, pair_valid)
    return total / len(r)


def swap_pull(p_swap: Tensor, z0: Tensor, point_class: Tensor, valid: Tensor) -> Tensor:
    """L_swap: the swapped view's predictions `p_swap` (B, N, D) at view 0's points against view 0's
    projections `z0` (B, N, D), over the valid foreground points (the rows of `keep` (B,) images only)."""
    return _masked_mean(cosine_distance(p_swap, z0), valid & (point_class == 1))
