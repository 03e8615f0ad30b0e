"""Multiple-instance (max-over-locations) audio-visual InfoNCE of EZ-VSL.

Mo & Morgado, "Localizing Visual Sounds the Easy Way", ECCV 2022 (Sec. 3). A frame is a bag of
location features; the score of (image i, audio j) is its best-matching location::

    s_ij = max_x <v_i(x), a_j>              v, a L2-normalised (cosine)
    L_{v->a} = mean_i -log( exp(s_ii / tau) / sum_j exp(s_ij / tau) )
    L_{a->v} = mean_i -log( exp(s_ii / tau) / sum_j exp(s_ji / tau) )
    L = L_{v->a} + L_{a->v}                 (summed, as the released code; tau = 0.03)

Global negatives: on rank ``r`` the local image rows are scored against all gathered audios, and the local
audio rows against all gathered visual maps (:func:`avssl.distributed.gather_with_grad`), the positive of
local row ``i`` being column ``r*B + i``; the per-rank mean then equals the single-process loss and, after
the DDP gradient average, its gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed


def max_scores(visual: Tensor, audio: Tensor) -> Tensor:
    """``s_ij = max_x <v_i(x), a_j>``: visual (B_v, D, h, w), audio (B_a, D) -> (B_v, B_a)."""
    return torch.einsum("vdhw,ad->vahw", visual, audio).flatten(2).amax(dim=2)


class MaxMILInfoNCE(nn.Module):
    """EZ-VSL loss; see the module docstring.

    Args:
        temperature: ``tau`` (EZ-VSL: 0.03).
    """

    def __init__(self, temperature: float = 0.03) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.tau = temperature

    def forward(self, visual: Tensor, audio: Tensor) -> Tensor:
        """Local visual maps (B, D, h, w) and audio (B, D), paired by row (normalised here) -> scalar."""
        visual = F.normalize(visual, dim=1)
        audio = F.normalize(audio, dim=1)
        labels = distributed.local_labels(visual.shape[0], visual.device)
        v_to_a = max_scores(visual, distributed.gather_with_grad(audio))  # (B, N)
        a_to_v = max_scores(distributed.gather_with_grad(visual), audio).T  # (B, N): audio rows
        return F.cross_entropy(v_to_a / self.tau, labels) + F.cross_entropy(a_to_v / self.tau, labels)
