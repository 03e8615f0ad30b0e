"""HCL's losses: Euclidean contrast of objects, hyperbolic contrast of scenes against their objects.

Ge, Ma, Zhang, Mahajan, Tseng, Brauer & Yu, "Hyperbolic Contrastive Learning for Visual Representations
beyond Objects", CVPR 2023. Objects (crops of object regions) are contrasted in Euclidean space, MoCo-style
(two views of the same crop are the positive pair, a queue of keys the negatives); scenes are embedded in
the Poincaré ball (`avssl.modules.hyperbolic`) and pulled towards their own objects.

Our reading of the hyperbolic term (the paper's exact normalisation was not available to us): with
s_i the scene points, o_m the object points (both in the ball), P_i the objects of scene i and N_i the
objects of every other scene, logits ℓ_im = −d_c(s_i, o_m)/τ, and each positive contrasted with the
negatives only (the scene's other objects are not its negatives)::

    l(i) = −(1/|P_i|) Σ_{p ∈ P_i} log( exp(ℓ_ip) / (exp(ℓ_ip) + Σ_{n ∈ N_i} exp(ℓ_in)) )
    L_hyp = mean over the scenes with |P_i| > 0 of l(i)

and the HCL objective L = L_euc + λ · L_hyp (λ ≈ 0.1 in the paper) with L_euc MoCo's InfoNCE
(`avssl.losses.moco.MoCoLoss`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from avssl.losses.moco import MoCoLoss
from avssl.modules.hyperbolic import pairwise_distance


def hyperbolic_scene_object_loss(
    scenes: Tensor,
    objects: Tensor,
    owner: Tensor,
    curvature: float,
    temperature: float,
    scene_ids: Tensor | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """The hyperbolic scene–object InfoNCE (module docstring) → scalar.

    scenes (B, D) and objects (M, D): points of the Poincaré ball of curvature `curvature`; owner (M,) long:
    the id of the scene each object belongs to (−1: a negative of every scene, e.g. a queue entry);
    scene_ids (B,): the ids of the rows (default 0…B−1; under DDP the global ids of this rank's scenes
    against the objects of every rank); valid (M,) bool: objects to use (padding slots False).
    """
    if scenes.dim() != 2 or objects.dim() != 2 or scenes.shape[1] != objects.shape[1]:
        raise ValueError(f"expected scenes (B, D) and objects (M, D), got {scenes.shape}, {objects.shape}")
    if owner.shape != objects.shape[:1]:
        raise ValueError(f"expected owner (M,) = ({objects.shape[0]},), got {tuple(owner.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if scene_ids is None:
        scene_ids = torch.arange(scenes.shape[0], device=scenes.device)
    if valid is None:
        valid = torch.ones_like(owner, dtype=torch.bool)
    logits = -pairwise_distance(scenes, objects, curvature) / temperature  # (B, M)
    positive = (owner[None] == scene_ids[:, None]) & valid[None]  # (B, M)
    negative = ~positive & (owner[None] != scene_ids[:, None]) & valid[None]
    neg_lse = logits.masked_fill(~negative, float("-inf")).logsumexp(1, keepdim=True)  # (B, 1)
    per_pair = torch.logaddexp(logits, neg_lse) - logits  # −log(e^ℓ / (e^ℓ + Σ_n e^ℓn))
    count = positive.sum(1)
    per_scene = per_pair.masked_fill(~positive, 0.0).sum(1) / count.clamp_min(1)
    has = count > 0
    if not has.any():
        return logits.sum() * 0.0
    return per_scene[has].mean()


class HCLLoss(torch.nn.Module):
    """L = MoCo InfoNCE of object queries vs their keys and the queue + `weight` · the hyperbolic scene–
    object term (module docstring). `forward` returns (L, {"euclidean", "hyperbolic"} detached)."""

    def __init__(
        self,
        temperature: float = 0.2,
        curvature: float = 0.05,
        hyp_temperature: float = 0.2,
        weight: float = 0.1,
    ) -> None:
        super().__init__()
        if curvature <= 0:
            raise ValueError(f"curvature must be > 0, got {curvature}")
        self.moco = MoCoLoss(temperature)
        self.curvature, self.hyp_temperature, self.weight = curvature, hyp_temperature, weight

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        queue: Tensor,
        scenes: Tensor,
        objects: Tensor,
        owner: Tensor,
        scene_ids: Tensor | None = None,
        valid: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """q, k (N, D) object queries / keys, queue (K, D); scenes (B, E), objects (M, E) ball points,
        owner / scene_ids / valid as in `hyperbolic_scene_object_loss`."""
        euclidean = self.moco(q, k, queue)
        hyperbolic = hyperbolic_scene_object_loss(
            scenes, objects, owner, self.curvature, self.hyp_temperature, scene_ids, valid
        )
        loss = euclidean + self.weight * hyperbolic
        return loss, {"euclidean": euclidean.detach(), "hyperbolic": hyperbolic.detach()}
