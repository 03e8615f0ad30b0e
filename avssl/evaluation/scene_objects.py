"""Scene → object retrieval: does a scene image find the crops of its own objects?

Zero-shot, as HCL's scene–object relation (Ge et al., "Hyperbolic Contrastive Learning for Visual
Representations beyond Objects", CVPR 2023) asks: each scene queries every object crop of the evaluation
split (crops of the annotated boxes); the relevant items of scene i are its own objects R_i. With a score
matrix S (scenes × objects, higher = closer; cosine similarity, or −d_c for points of the Poincaré ball),
each scene's objects are sorted by score, ties pessimistic (a relevant item after the irrelevant ones of
equal score, so a constant score ranks every relevant item last); with rel_i(n) ∈ {0, 1} the relevance of
the n-th item of scene i's list::

    AP_i  = (1/|R_i|) Σ_n rel_i(n) · (Σ_{m ≤ n} rel_i(m)) / n
    R@k_i = 1 if Σ_{n ≤ k} rel_i(n) > 0 else 0

mAP and R@k are the means (percent) over the scenes with at least one object.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.modules.hyperbolic import pairwise_distance


def ranked_relevance(scores: Tensor, relevant: Tensor) -> Tensor:
    """(S, M) scores and bool relevance → (S, M) float relevance in each row's ranked order (score
    descending, relevant items after irrelevant ones of equal score)."""
    first = torch.sort(relevant.long(), dim=1, stable=True).indices  # irrelevant first
    second = torch.sort(-scores.gather(1, first), dim=1, stable=True).indices
    return relevant.gather(1, first.gather(1, second)).double()


def scene_object_metrics(scores: Tensor, owner: Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """scores (S, M) of S scenes against M objects, owner (M,) the scene index of each object →
    {"mAP", "R@k"…} in percent, and "scenes" (those with objects), "objects" (M)."""
    if scores.dim() != 2 or owner.shape != scores.shape[1:]:
        raise ValueError(f"expected scores (S, M) and owner (M,), got {scores.shape}, {owner.shape}")
    relevant = owner[None, :] == torch.arange(scores.shape[0], device=owner.device)[:, None]  # (S, M)
    ranked = ranked_relevance(scores.double(), relevant)
    position = torch.arange(1, scores.shape[1] + 1, dtype=torch.float64, device=scores.device)
    count = relevant.sum(1)
    has = count > 0
    ap = (ranked * ranked.cumsum(1) / position).sum(1)[has] / count[has]
    out = {"mAP": 100.0 * float(ap.mean()) if has.any() else 0.0}
    for k in ks:
        hit = ranked[:, :k].sum(1)[has] > 0
        out[f"R@{k}"] = 100.0 * float(hit.double().mean()) if has.any() else 0.0
    out.update(scenes=int(has.sum()), objects=int(scores.shape[1]))
    return out


def cosine_scores(scenes: Tensor, objects: Tensor) -> Tensor:
    """(S, D), (M, D) → (S, M) cosine similarities."""
    return F.normalize(scenes.double(), dim=1) @ F.normalize(objects.double(), dim=1).T


def hyperbolic_scores(scenes: Tensor, objects: Tensor, curvature: float) -> Tensor:
    """Points of the Poincaré ball (S, D), (M, D) → (S, M) scores −d_c(scene, object)."""
    return -pairwise_distance(scenes.double(), objects.double(), curvature)
