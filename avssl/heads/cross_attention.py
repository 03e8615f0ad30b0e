"""A training-only add-on that injects spatial cross-correlation between the samples of a batch.

Seyfi, Banitalebi-Dehkordi & Zhang, "Spatial Cross-Attention Improves Self-Supervised Visual Representation
Learning", 2022 (arXiv 2206.05028), an add-on to SwAV: besides "two views of an image mean the same", the
feature map of an image is correlated with the other samples — where in image i does something like
sample j appear (a class-activation-style map), and how alike are instances of the same class — and the
add-on is removed at inference without changing the learned weights.

Our reading (the paper gives the idea, not one formula we could check), `SpatialCrossAttention`:

* a 1 × 1 query transform W (the add-on's only weights) of image i's map F_i (C, h, w) is correlated with
  every sample j's pooled, unit-norm feature g_j: S_ij(p) = ⟨norm(W F_i(p)), g_j⟩ / τ, a map per pair;
* A_ij = softmax over positions p of S_ij: where image i looks like sample j;
* z_ij = Σ_p A_ij(p) F_i(p): image i pooled there;
* the cross-attended feature of i averages z_ij over the samples j of i's group (SwAV: the same cluster,
  argmax of its code — "same-class instances" without labels; i itself always included).

The task feeds it through the same projection head and prototypes and asks it to predict the *other*
view's code (a swapped-prediction term). Nothing else reads the add-on: `embed` and exported encoders use
the backbone alone, so dropping it (`ImageSSL.remove_cross_attention`) leaves every output unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SpatialCrossAttention(nn.Module):
    """`forward(features (B, C, h, w), groups (B,) int)` → (B, C) cross-attended features (module
    docstring); `attention(features)` → (B, B, h·w) the maps A_ij."""

    def __init__(self, dim: int, temperature: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"cross-attention temperature must be > 0, got {temperature}")
        self.query = nn.Conv2d(dim, dim, 1)
        self.temperature = temperature

    def attention(self, features: Tensor) -> Tensor:
        if features.dim() != 4:
            raise ValueError(f"expected feature maps (B, C, h, w), got {tuple(features.shape)}")
        keys = F.normalize(features.flatten(2).mean(2), dim=1)  # (B, C)
        queries = F.normalize(self.query(features), dim=1).flatten(2)  # (B, C, P)
        scores = torch.einsum("icp,jc->ijp", queries, keys) / self.temperature
        return scores.softmax(-1)

    def forward(self, features: Tensor, groups: Tensor) -> Tensor:
        attn = self.attention(features)  # (B, B, P)
        pooled = torch.einsum("ijp,icp->ijc", attn, features.flatten(2))  # (B, B, C): z_ij
        same = (groups[:, None] == groups[None, :]).to(features.dtype)
        same = torch.maximum(same, torch.eye(len(groups), device=features.device, dtype=features.dtype))
        weights = same / same.sum(1, keepdim=True)
        return torch.einsum("ij,ijc->ic", weights, pooled)
