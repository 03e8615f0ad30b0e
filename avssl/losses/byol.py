"""BYOL regression loss: normalised mean squared error between a prediction and a stop-gradient target.

For prediction ``p_i`` (online network) and target projection ``z_i`` (target network)::

    l(i) = || p_i / ||p_i|| - z_i / ||z_i|| ||^2 = 2 - 2 <p_i, z_i> / (||p_i|| ||z_i||)
    L    = mean_i l(i)

Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning", NeurIPS 2020, Eq. 2.
The target receives no gradient (the paper's stop-gradient, also SimSiam: Chen & He, "Exploring Simple Siamese
Representation Learning", CVPR 2021). BYOL symmetrises by swapping the views and
*summing* the two terms, ``L_BYOL = L + L~`` (Eq. 2): :meth:`BYOLLoss.symmetric`. There are no
cross-sample terms, so the per-rank mean needs no gather: its mean over ranks is the global mean.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class BYOLLoss(nn.Module):
    """``mean_i (2 - 2 cos(p_i, stopgrad(z_i)))`` over a batch of (B, D) predictions and targets."""

    def forward(self, p: Tensor, z: Tensor) -> Tensor:
        """p (B, D) online predictions, z (B, D) targets (detached here) -> scalar."""
        if p.shape != z.shape or p.dim() != 2:
            raise ValueError(f"expected two (B, D) tensors of the same shape, got {p.shape}, {z.shape}")
        cos = F.cosine_similarity(p, z.detach(), dim=1)  # (B,)
        return (2 - 2 * cos).mean()

    def symmetric(self, p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
        """``L(p1, z2) + L(p2, z1)``: view 1's prediction regresses view 2's target and vice versa."""
        return self(p1, z2) + self(p2, z1)
