"""DenseCL: dense contrastive loss between the local features of two views, matched by feature similarity.

Wang, Zhang, Shen, Kong & Li, "Dense Contrastive Learning for Self-Supervised Visual Pre-Training",
CVPR 2021 (Eq. 2-3). Each view's backbone map (B, C, h, w) goes through a dense projection head (1×1 convs)
to S = h·w local vectors. For query location s of view 1, the positive is the key vector (momentum
encoder, view 2) at the location that is most similar in *backbone* features:

    j*(s) = argmax_j  cos(f¹_s, f²_j)                         (f: backbone features, Eq. 3)
    l(b, s) = −log  exp(q_s·k_{j*}/τ) / (exp(q_s·k_{j*}/τ) + Σ_n exp(q_s·n/τ))
    L_dense = mean_{b, s} l(b, s)

with q, k, n L2-normalised and the negatives n taken from a *dense queue*: one vector per past image, the
mean of its key vectors over locations (normalised), enqueued like MoCo's keys
(`avssl.modules.momentum.MemoryQueue`). DenseCL trains L = (1 − λ)·L_global (MoCo v2) + λ·L_dense, λ = 0.5,
τ = 0.2 for both. `dense_queue_keys(k)` gives the vectors to enqueue.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def match_locations(query_features: Tensor, key_features: Tensor) -> Tensor:
    """(B, C, S) and (B, C, S') backbone features → (B, S) index of the most similar key location."""
    q = F.normalize(query_features, dim=1)
    k = F.normalize(key_features, dim=1)
    return torch.einsum("bcs,bct->bst", q, k).argmax(dim=2)


def dense_queue_keys(keys: Tensor) -> Tensor:
    """(B, D, S) dense key vectors → (B, D) unit-norm per-image means (what DenseCL enqueues)."""
    return F.normalize(F.normalize(keys, dim=1).mean(dim=2), dim=1)


class DenseCLLoss(nn.Module):
    """Dense InfoNCE with similarity-matched positives and a dense queue of negatives (module docstring).

    Args:
        temperature: τ (DenseCL: 0.2).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(
        self, q: Tensor, k: Tensor, query_features: Tensor, key_features: Tensor, queue: Tensor
    ) -> Tensor:
        """q (B, D, S) dense queries, k (B, D, S') dense keys, backbone features (B, C, S) / (B, C, S') for
        matching, queue (K, D) → scalar (mean over the B·S local queries)."""
        if q.dim() != 3 or k.dim() != 3 or q.shape[:2] != k.shape[:2] or queue.shape[1] != q.shape[1]:
            raise ValueError(
                f"expected q (B, D, S), k (B, D, S'), queue (K, D); got {q.shape}, {k.shape}, {queue.shape}"
            )
        index = match_locations(query_features.detach(), key_features.detach())  # (B, S)
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)
        positives = k.gather(2, index[:, None, :].expand(-1, k.shape[1], -1))  # (B, D, S)
        l_pos = (q * positives).sum(1)  # (B, S)
        negatives = F.normalize(queue.detach(), dim=1).to(q.dtype)  # (K, D), a copy: safe to enqueue
        l_neg = torch.einsum("bds,kd->bsk", q, negatives)  # (B, S, K)
        logits = torch.cat([l_pos[..., None], l_neg], dim=2).flatten(0, 1) / self.temperature
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, labels)
