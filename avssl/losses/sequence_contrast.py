"""CARL's sequence contrastive loss: frame-to-frame similarities between two views of one video, matched to a
Gaussian prior on their timestamp distance.

Chen, Wei, Li & Cai, "Frame-wise Action Representations for Long Videos via Sequence Contrastive
Learning", CVPR 2022, Sec. 3.3. For frame i of view 1 (timestamp s_i) and the frames j of view 2 of the same
video (timestamps t_j; both on the original video's frame axis):

    prior  w_ij = exp(−(s_i − t_j)² / (2σ²)) / Σ_k exp(−(s_i − t_k)² / (2σ²))
    model  q_ij = exp(cos(z_i, z'_j) / τ) / Σ_k exp(cos(z_i, z'_k) / τ)
    l_i    = KL(w_i ‖ q_i) = Σ_j w_ij (log w_ij − log q_ij)

and the same from view 2 to view 1; the loss is the sum of l over the valid frames of both views divided by
their number. Only the other view's frames of the same video enter a row (no other videos, no same-view
frames). σ² = 10 frames², τ = 0.1 (the authors' settings). Padded frames (mask False) are neither rows nor
columns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _directional(z1: Tensor, t1: Tensor, z2: Tensor, t2: Tensor, m1: Tensor, m2: Tensor, tau, var) -> Tensor:
    """Σ over valid rows of view 1 of KL(prior ‖ softmax) against view 2's valid frames: (B,)."""
    logits = torch.einsum("bid,bjd->bij", z1, z2) / tau
    gap = t1[:, :, None] - t2[:, None, :]
    prior_logits = -(gap**2) / (2.0 * var)
    columns = m2[:, None, :]
    logits = logits.masked_fill(~columns, float("-inf"))
    prior_logits = prior_logits.masked_fill(~columns, float("-inf"))
    # masked columns: 0 · (0 − 0), so no −∞ − (−∞) reaches the sum or the gradient
    log_q = torch.where(columns, F.log_softmax(logits, dim=2), 0.0)
    log_w = torch.where(columns, F.log_softmax(prior_logits, dim=2), 0.0)
    kl = (torch.where(columns, log_w.exp(), 0.0) * (log_w - log_q)).sum(2)  # (B, T1)
    return (kl * m1).sum(1)


def sequence_contrast(
    z1: Tensor,
    t1: Tensor,
    z2: Tensor,
    t2: Tensor,
    mask1: Tensor | None = None,
    mask2: Tensor | None = None,
    temperature: float = 0.1,
    variance: float = 10.0,
) -> Tensor:
    """The loss of the module docstring. z (B, T, D) frame embeddings (normalised here), t (B, T) timestamps
    in frames of the original video, masks (B, T) bool (None: all valid)."""
    m1 = torch.ones(t1.shape, dtype=torch.bool, device=z1.device) if mask1 is None else mask1.bool()
    m2 = torch.ones(t2.shape, dtype=torch.bool, device=z2.device) if mask2 is None else mask2.bool()
    if not (m1.any(1).all() and m2.any(1).all()):
        raise ValueError("sequence_contrast: every video needs at least one valid frame in each view")
    z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    t1, t2 = t1.to(z1.dtype), t2.to(z1.dtype)
    forward = _directional(z1, t1, z2, t2, m1, m2, temperature, variance)
    backward = _directional(z2, t2, z1, t1, m2, m1, temperature, variance)
    return (forward + backward).sum() / (m1.sum() + m2.sum())


class SequenceContrast(nn.Module):
    """`sequence_contrast` with its temperature τ and prior variance σ² (frames²) fixed."""

    def __init__(self, temperature: float = 0.1, variance: float = 10.0) -> None:
        super().__init__()
        if temperature <= 0 or variance <= 0:
            raise ValueError(f"temperature and variance must be > 0, got {temperature}, {variance}")
        self.temperature, self.variance = temperature, variance

    def forward(self, z1, t1, z2, t2, mask1=None, mask2=None) -> Tensor:
        return sequence_contrast(z1, t1, z2, t2, mask1, mask2, self.temperature, self.variance)
