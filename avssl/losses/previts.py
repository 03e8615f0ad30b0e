"""PreViTS' attention supervision: the query's Grad-CAM map pushed onto the tracked object's region.

Chen, Selvaraju, Chang, Niebles & Naik, "PreViTS: Contrastive Pretraining with Video Tracking Supervision",
arXiv 2112.00804 (2021; WACV 2023), following CAST (Selvaraju, Desai, Johnson & Naik, "CASTing Your Model:
Learning to Localize Improves Self-Supervised Representations", CVPR 2021): the Grad-CAM map of the query
clip's last conv map, taken with respect to the query's similarity with its positive key (the contrastive
logit q·k⁺), should cover the tracked object. For a feature map F (B, C, t, h, w) and G = ∂(Σ_b q_b·k_b)/∂F,

    M_b  = ReLU(Σ_c mean_{t,h,w}(G_bc) F_bc)         (`avssl.losses.mcl.grad_cam`)
    L_att = mean_{b: S_b ≠ 0} (1 − cos(M_b, S_b))    cos over the flattened (t, h, w) positions

with S_b the tracked region's mask average-pooled onto the map's grid; samples whose clip has no tracked
object (an all-zero mask) are left out (0 when none has one). The cosine distance is CAST's and the authors'
criterion; it is scale-free, so M needs no normalisation. The map stays in the graph (the task computes G
with `create_graph=True`), so the term trains the encoder; the mask carries no gradient.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def attention_loss(cam: Tensor, mask: Tensor, eps: float = 1e-8) -> tuple[Tensor, int]:
    """(B, t, h, w) Grad-CAM maps and (B, t, h, w) masks → (mean cosine distance over the samples with a
    non-empty mask, how many there were)."""
    if cam.shape != mask.shape or cam.ndim < 2:
        raise ValueError(
            f"cam and tracked-region mask must have one shape (B, ...), got {tuple(cam.shape)} and {tuple(mask.shape)}"
        )
    mask = mask.detach().to(cam.dtype).flatten(1)
    valid = mask.sum(1) > 0
    count = int(valid.sum())
    if count == 0:
        return cam.sum() * 0.0, 0
    cosine = F.cosine_similarity(cam.flatten(1)[valid], mask[valid], dim=1, eps=eps)
    return (1.0 - cosine).mean(), count
