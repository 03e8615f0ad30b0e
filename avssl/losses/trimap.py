"""LVS tri-map contrastive loss: soft positive region, hard negatives from the same image's background.

Chen et al., "Localizing Visual Sounds the Hard Way", CVPR 2021 (Sec. 3). For image ``i``
(local row) and audio ``j`` (column of the global batch, all processes) with cosine map ``S_ij(x)``
(:func:`avssl.heads.localization.cosine_map_all_pairs`), sigmoid sharpness ``tau_m`` and thresholds
``eps_p > eps_n``::

    m+_ij(x) = sigmoid((S_ij(x) - eps_p) / tau_m)                  soft positive region
    P_ij     = sum_x m+_ij(x) S_ij(x) / sum_x m+_ij(x)             region-pooled score of (i, j)
    m-_i(x)  = 1 - sigmoid((S_ii(x) - eps_n) / tau_m)               background of image i under its own audio
    H_i      = sum_x m-_i(x) S_ii(x) / sum_x m-_i(x)               hard negative
    logits_i = [P_i1, ..., P_iN, H_i] / tau
    L        = mean_i  -log softmax(logits_i)[y_i]                  y_i = column of i's own audio

``P_ii`` is the positive, ``P_ij`` (j != i) the easy negatives (other clips' sounds in image i), ``H_i`` the
hard negative. Pixels between ``eps_n`` and ``eps_p`` are "ignored" (the tri-map's uncertain band: they are
in neither region). ``trimap=False`` uses ``m- = 1 - m+`` (the paper's bi-map ablation) and
``hard_negatives=False`` drops ``H_i``. Defaults as the released code (also used by SSL-TIE's code):
``eps_p = 0.65``, ``eps_n = 0.4``, ``tau_m = 0.03``, ``tau = 0.07``.

The code suppresses the positive's duplicate among the easy negatives by multiplying it by -99; here the
positive simply appears once (column ``y_i``), which is what that trick approximates. The pooled means are
computed in at least float32 and stably (:func:`soft_region_mean`: no 0/0 when a region is empty).
Rows are the local images, columns all gathered audios (:func:`avssl.distributed.gather_with_grad`), so the
per-rank mean reproduces the single-process loss and gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.heads.localization import cosine_map_all_pairs


def soft_region_mean(values: Tensor, mask_logits: Tensor) -> Tensor:
    """``sum_x m(x) v(x) / sum_x m(x)`` with ``m = sigmoid(mask_logits)``, over the last two dims.

    The ratio does not change when every ``m(x)`` is scaled by one constant, so the weights are computed
    as ``exp(log m(x) - max_x log m(x))``: the largest is 1 and a region whose sigmoid underflows everywhere
    still gets its exact (soft) mean instead of 0/0. (..., h, w) -> (...).
    """
    log_m = F.logsigmoid(mask_logits)
    weights = torch.exp(log_m - log_m.amax(dim=(-2, -1), keepdim=True).detach())
    return (weights * values).sum(dim=(-2, -1)) / weights.sum(dim=(-2, -1))


class TriMapContrastiveLoss(nn.Module):
    """LVS loss; see the module docstring for the formula.

    Args:
        pos_threshold: ``eps_p``; the positive region is where the cosine exceeds it.
        neg_threshold: ``eps_n``; the hard-negative region is where the cosine is below it.
        mask_temperature: ``tau_m``, sharpness of the sigmoid soft masks.
        temperature: ``tau`` of the logits.
        trimap: use ``eps_n`` for the negative region; if False the negative region is ``1 - m+``.
        hard_negatives: add the background score ``H_i`` as a negative.
    """

    def __init__(
        self,
        pos_threshold: float = 0.65,
        neg_threshold: float = 0.4,
        mask_temperature: float = 0.03,
        temperature: float = 0.07,
        trimap: bool = True,
        hard_negatives: bool = True,
    ) -> None:
        super().__init__()
        if mask_temperature <= 0 or temperature <= 0:
            raise ValueError("temperatures must be > 0")
        if trimap and neg_threshold > pos_threshold:
            raise ValueError(f"neg_threshold {neg_threshold} must not exceed pos_threshold {pos_threshold}")
        self.eps_p, self.eps_n = pos_threshold, neg_threshold
        self.tau_m, self.tau = mask_temperature, temperature
        self.trimap, self.hard_negatives = trimap, hard_negatives

    def logits(self, maps: Tensor, labels: Tensor) -> Tensor:
        """maps (B, N, h, w): row i = image i against every audio j; labels (B,) -> logits (B, N [+1])."""
        maps = maps.to(torch.promote_types(maps.dtype, torch.float32))  # half -> float32
        rows = torch.arange(maps.shape[0], device=maps.device)
        pooled = soft_region_mean(maps, (maps - self.eps_p) / self.tau_m)  # (B, N)
        if not self.hard_negatives:
            return pooled / self.tau
        own = maps[rows, labels]  # (B, h, w)
        eps = self.eps_n if self.trimap else self.eps_p
        hard = soft_region_mean(own, (eps - own) / self.tau_m)  # (B,): 1 - sigmoid(z) = sigmoid(-z)
        return torch.cat([pooled, hard[:, None]], dim=1) / self.tau

    def forward(self, visual: Tensor, audio: Tensor) -> Tensor:
        """Local visual maps (B, D, h, w) and audio (B, D), paired by row (normalised here) -> scalar."""
        visual = F.normalize(visual, dim=1)
        audio = F.normalize(audio, dim=1)
        audio_all = distributed.gather_with_grad(audio)  # (N, D)
        maps = cosine_map_all_pairs(visual, audio_all).transpose(0, 1)  # (B images, N audios, h, w)
        labels = distributed.local_labels(visual.shape[0], visual.device)
        return F.cross_entropy(self.logits(maps, labels), labels)


@dataclass
class TriMapConfig:
    """Parameters of :class:`~avssl.losses.trimap.TriMapContrastiveLoss` (LVS code defaults)."""

    pos_threshold: float = 0.65
    neg_threshold: float = 0.4
    mask_temperature: float = 0.03
    temperature: float = 0.07
    trimap: bool = True
    hard_negatives: bool = True

    def build(self) -> TriMapContrastiveLoss:
        """The loss module with these parameters."""
        return TriMapContrastiveLoss(
            self.pos_threshold,
            self.neg_threshold,
            self.mask_temperature,
            self.temperature,
            self.trimap,
            self.hard_negatives,
        )
