"""Cross-modal InfoNCE: audio-visual correspondence as B-way classification with global negatives.

For L2-normalised embeddings ``a_i`` (e.g. audio) and ``b_j`` (e.g. video) of the ``N`` samples of the
global batch, scale ``s = 1 / tau``::

    l_{a->b}(i) = -log( exp(s <a_i, b_i>) / sum_{j=1..N} exp(s <a_i, b_j>) )
    l_{b->a}(i) = -log( exp(s <b_i, a_i>) / sum_{j=1..N} exp(s <b_i, a_j>) )

    L = mean_i (l_{a->b}(i) + l_{b->a}(i)) / 2        (symmetric=True)
    L = mean_i l_{a->b}(i)                              (symmetric=False)

i.e. the pair of the same clip is the positive, every other clip of the batch (of all ranks) a negative.
On rank ``r`` only the ``B`` local rows are computed, against all ``N = W*B`` gathered columns (with
gradient, :func:`avssl.distributed.gather_with_grad`), the positive of local row ``i`` being column
``r*B + i``; the loss returned is the mean over the local rows. The mean of the per-rank losses is ``L``
and, after the DDP gradient average, the gradients equal those of one process on the whole batch.

Papers: the symmetric image-text form and the learnable, clamped temperature follow CLIP (Radford et al.,
"Learning Transferable Visual Models From Natural Language Supervision", ICML 2021; logit scale
initialised to log(1/0.07), clamped at 100). The audio-visual correspondence task is from Arandjelović
& Zisserman ("Look, Listen and Learn", ICCV 2017) and Owens & Efros ("Audio-Visual Scene Analysis with
Self-Supervised Multisensory Features", ECCV 2018); the cross-modal
instance-discrimination form from Morgado et al. ("Audio-Visual Instance Discrimination with Cross-Modal
Agreement", AVID, CVPR 2021). InfoNCE itself: van den Oord et al., "Representation Learning with Contrastive
Predictive Coding" (CPC), 2018.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed


class CrossModalInfoNCE(nn.Module):
    """Symmetric cross-modal InfoNCE with global negatives; see the module docstring for the formula.

    Args:
        temperature: ``tau``; the logits are cosine similarities times ``1 / tau``.
        learnable_temperature: learn ``log(1 / tau)`` as a parameter ``logit_scale`` (CLIP).
        max_logit_scale: the learnable scale ``exp(logit_scale)`` is clamped to ``[1, max_logit_scale]``
            in the forward pass (CLIP clamps at 100 so training cannot blow the logits up; the gradient
            is zero while clamped).
        symmetric: average the a->b and b->a directions; otherwise a->b only.
    """

    def __init__(
        self,
        temperature: float = 0.07,
        learnable_temperature: bool = False,
        max_logit_scale: float = 100.0,
        symmetric: bool = True,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if max_logit_scale < 1:
            raise ValueError(f"max_logit_scale must be >= 1, got {max_logit_scale}")
        self.symmetric = symmetric
        self.max_logit_scale = max_logit_scale
        self.learnable_temperature = learnable_temperature
        init = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.logit_scale = nn.Parameter(init)
        else:
            self.register_buffer("logit_scale", init, persistent=False)

    def scale(self) -> Tensor:
        """Current logit scale ``1 / tau`` (a 0-d tensor; clamped when learnable)."""
        if self.learnable_temperature:
            return self.logit_scale.clamp(0.0, math.log(self.max_logit_scale)).exp()
        return self.logit_scale.exp()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Loss of the local rows (B, D) of modality ``a`` and ``b`` (paired by row) -> scalar."""
        if a.shape != b.shape or a.dim() != 2:
            raise ValueError(f"expected two (B, D) tensors of the same shape, got {a.shape}, {b.shape}")
        a = F.normalize(a, dim=1)
        b = F.normalize(b, dim=1)
        scale = self.scale().to(a.dtype)
        labels = distributed.local_labels(a.shape[0], a.device)  # (B,) positives among N columns
        b_all = distributed.gather_with_grad(b)  # (N, D)
        loss = F.cross_entropy(scale * a @ b_all.T, labels)  # logits (B, N)
        if not self.symmetric:
            return loss
        a_all = distributed.gather_with_grad(a)  # (N, D)
        return (loss + F.cross_entropy(scale * b @ a_all.T, labels)) / 2
