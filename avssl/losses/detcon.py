"""The mask-dependent contrastive loss of DetCon (Hénaff et al., "Efficient Visual Pretraining with
Contrastive Detection", ICCV 2021, Sec. 3.1, Eq. 3), which CYBORGS (Wang, Zhao & Gao, ECCV 2022) trains with
its bootstrapped masks.

`mask_pool`: features pooled inside each mask, h_m = Σ_ij m_ij f_ij / Σ_ij m_ij (soft masks allowed).

`MaskContrastLoss` (the BYOL-style DetCon_B the CYBORGS release trains): the online prediction q_m of mask m
of an image in view a, and the momentum network's projections k of view b, all unit-norm:

    ℓ(q_m) = −log( exp(q_m·k_m⁺ / τ) / Σ_{k ∈ K_b} exp(q_m·k / τ) )

k_m⁺ the same mask of the same image in view b; K_b every valid mask of view b of every image of the global
batch (other images' masks and the same image's other masks are the negatives). A mask is valid in a pair of
views when the task marks it so (`valid`; CYBORGS: at least `model.min_area` of a feature cell in both);
the loss averages ℓ over valid query masks, for a → b and
b → a, and adds the two directions (as the release). τ = 0.1. Ours: the release also contrasts q_m with
the same view's other masks (`logits_aa`); we keep the cross-view negatives only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed


def mask_pool(features: Tensor, masks: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """(B, C, h, w) features, (B, M, h, w) masks (weights ≥ 0) → ((B, M, C) mask means, (B, M) areas);
    an empty mask pools to zeros."""
    area = masks.flatten(2).sum(2)
    pooled = torch.einsum("bmhw,bchw->bmc", masks.to(features.dtype), features)
    return pooled / area.clamp_min(eps)[..., None].to(features.dtype), area


class MaskContrastLoss(nn.Module):
    """`forward(q_a, q_b, k_a, k_b, valid)`: online predictions q (B, M, D) and momentum projections k
    (B, M, D) of views a and b, `valid` (B, M) bool (the mask covers part of both views) → the symmetric
    loss (scalar). Under DDP the keys and their validity are gathered from every rank (no gradient: the
    momentum network's), each rank's queries contrasted with the global batch's keys."""

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        self.temperature = temperature

    def one_way(self, q: Tensor, k: Tensor, valid: Tensor) -> Tensor:
        """ℓ averaged over the valid masks of q (B, M, D) against the keys k (B, M, D) of the other view."""
        batch, masks, _ = q.shape
        q = F.normalize(q, dim=-1).flatten(0, 1)
        keys = F.normalize(distributed.all_gather_no_grad(k), dim=-1).flatten(0, 1)
        key_valid = distributed.all_gather_no_grad(valid).flatten()
        logits = q @ keys.T / self.temperature
        logits = logits.masked_fill(~key_valid[None], float("-inf"))
        target = distributed.rank() * batch * masks + torch.arange(batch * masks, device=q.device)
        rows = valid.flatten()
        if not bool(rows.any()):
            return q.sum() * 0.0
        return F.cross_entropy(logits[rows], target[rows])

    def forward(self, q_a: Tensor, q_b: Tensor, k_a: Tensor, k_b: Tensor, valid: Tensor) -> Tensor:
        return self.one_way(q_a, k_b, valid) + self.one_way(q_b, k_a, valid)
