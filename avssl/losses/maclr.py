"""MaCLR's objective: intra-modal (visual, motion) and cross-modal (visual ↔ motion) contrastive terms.

Xiao, Tighe & Modolo, "MaCLR: Motion-aware Contrastive Learning of Representations for Videos", ECCV 2022:
a visual pathway (RGB clips) and a motion pathway (optical flow; here frame differences by default) are
trained together. Each pathway has its own instance-discrimination term between two clips of one video,
and a cross-modal term makes a clip's visual embedding find the same video's motion embedding (and the
reverse), so the visual encoder — the one kept downstream — is pulled towards what moves. The memory of
negatives is MoCo's (a momentum key encoder and a queue per pathway; τ 0.1, m 0.999, K 65,536 in the paper).

With L2-normalised queries ``q^v_i``, ``q^m_i`` (clip 1 of video i through the visual / motion query
encoders), keys ``k^v_i``, ``k^m_i`` (clip 2 of video i through the momentum encoders) and the queues
``Q^v``, ``Q^m`` (K past keys each), every term is MoCo's InfoNCE (Eq. 1 of He et al., CVPR 2020,
:class:`~avssl.losses.moco.MoCoLoss`)::

    nce(q, k, Q)(i) = -log( exp(<q_i, k_i>/τ) / (exp(<q_i, k_i>/τ) + Σ_{n∈Q} exp(<q_i, n>/τ)) )

    L_v  = mean_i nce(q^v, k^v, Q^v)(i)                          visual ↔ visual (intra-modal)
    L_m  = mean_i nce(q^m, k^m, Q^m)(i)                          motion ↔ motion (intra-modal)
    L_vm = ½ [mean_i nce(q^v, k^m, Q^m)(i) + mean_i nce(q^m, k^v, Q^v)(i)]   cross-modal, both directions
    L    = w_v L_v + w_m L_m + w_vm L_vm

A weight of 0 switches its term off (it is then not computed). Both pathways' embeddings live in one
space (each has its own projection head onto the same dimension) so the cross-modal similarities exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from avssl.losses.moco import MoCoLoss


@dataclass(frozen=True)
class MaCLRTerms:
    """The weighted total and the unweighted terms that were computed (None: switched off)."""

    total: Tensor
    visual: Tensor | None
    motion: Tensor | None
    cross: Tensor | None


class MaCLRLoss(nn.Module):
    """`forward(q_v, q_m, k_v, k_m, queue_v, queue_m)` → :class:`MaCLRTerms` (see the module doc).

    Args:
        temperature: τ of every term (MaCLR: 0.1).
        visual_weight, motion_weight, cross_weight: w_v, w_m, w_vm (≥ 0; 0 = the term off; not all 0).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        visual_weight: float = 1.0,
        motion_weight: float = 1.0,
        cross_weight: float = 1.0,
    ) -> None:
        super().__init__()
        weights = {
            "visual_weight": visual_weight,
            "motion_weight": motion_weight,
            "cross_weight": cross_weight,
        }
        bad = {k: v for k, v in weights.items() if v < 0}
        if bad:
            raise ValueError(f"MaCLR loss weights must be >= 0, got {bad}")
        if not any(weights.values()):
            raise ValueError("MaCLR needs at least one loss term: every weight is 0")
        self.nce = MoCoLoss(temperature)
        self.visual_weight, self.motion_weight, self.cross_weight = visual_weight, motion_weight, cross_weight

    def forward(
        self, q_v: Tensor, q_m: Tensor, k_v: Tensor, k_m: Tensor, queue_v: Tensor, queue_m: Tensor
    ) -> MaCLRTerms:
        """q_v, q_m (B, D) queries; k_v, k_m (B, D) keys of the same videos; queue_v, queue_m (K, D)."""
        visual = self.nce(q_v, k_v, queue_v) if self.visual_weight else None
        motion = self.nce(q_m, k_m, queue_m) if self.motion_weight else None
        cross = None
        if self.cross_weight:
            cross = 0.5 * (self.nce(q_v, k_m, queue_m) + self.nce(q_m, k_v, queue_v))
        total = sum(
            w * t
            for w, t in (
                (self.visual_weight, visual),
                (self.motion_weight, motion),
                (self.cross_weight, cross),
            )
            if t is not None
        )
        return MaCLRTerms(total, visual, motion, cross)  # type: ignore[arg-type]
