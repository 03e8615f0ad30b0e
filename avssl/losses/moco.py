"""MoCo's loss: InfoNCE of queries against their keys with a queue of keys as negatives.

He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020 (MoCo v1,
Eq. 1 and Eq. 2, Algorithm 1); Chen et al., "Improved Baselines with Momentum Contrastive Learning",
2020 (MoCo v2: MLP head, tau = 0.2).

* :class:`MoCoLoss` — InfoNCE of each query against its key (positive) and the queue (negatives).
* The momentum key encoder (:func:`~avssl.modules.momentum.ema_update`, Eq. 2) and the queue
  (:class:`~avssl.modules.momentum.MemoryQueue`) are state, not loss: they live in
  :mod:`avssl.modules.momentum`.

Cross-modal use (audio-visual MoCo, e.g. as in the cross-modal memory of Morgado et al.,
"Audio-Visual Instance Discrimination with Cross-Modal Agreement" (AVID), CVPR 2021):
keep one momentum encoder and one queue per modality and contrast each modality's queries with the
*other* modality's keys::

    with torch.no_grad():
        ema_update(audio_key_enc, audio_enc, m); ema_update(video_key_enc, video_enc, m)
        k_a, k_v = audio_key_enc(audio), video_key_enc(video)         # (B, D), no gradient
    q_a, q_v = audio_enc(audio), video_enc(video)                       # (B, D)
    loss = moco(q_a, k_v, video_queue.keys) + moco(q_v, k_a, audio_queue.keys)
    video_queue.enqueue(k_v); audio_queue.enqueue(k_a)                  # after the loss is computed

The loss works on a copy of the queue, so enqueueing before ``backward()`` is safe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MoCoLoss(nn.Module):
    """InfoNCE of queries against their keys with the queue as negatives (MoCo, Eq. 1).

    With L2-normalised query ``q_i``, its key ``k_i`` and queue entries ``n_1..n_K``::

        l(i) = -log( exp(<q_i, k_i> / tau) / (exp(<q_i, k_i> / tau) + sum_{j=1..K} exp(<q_i, n_j> / tau)) )
        L    = mean_i l(i)

    Each rank averages over its local queries; the queue is identical on every rank, so the mean over
    ranks equals the single-process loss. ``k`` is used as given (MoCo computes it under ``no_grad``
    with the momentum encoder); the queue never receives gradient.

    Args:
        temperature: ``tau`` (MoCo v1 0.07, MoCo v2 0.2).
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        queue: Tensor,
        hard: Tensor | None = None,
        hard_valid: Tensor | None = None,
    ) -> Tensor:
        """q (B, D) queries, k (B, D) positive keys, queue (K, D) negatives -> scalar. `hard` (B, D): one
        extra negative per query (its own row only, e.g. the background-swap hard negative of Ryali et
        al.), used where the bool (B,) `hard_valid` is true (all rows when None)."""
        if q.shape != k.shape or q.dim() != 2 or queue.dim() != 2 or queue.shape[1] != q.shape[1]:
            raise ValueError(
                f"expected q, k (B, D) and queue (K, D), got {q.shape}, {k.shape}, {queue.shape}"
            )
        q = F.normalize(q, dim=1)
        k = F.normalize(k, dim=1)
        # normalize returns a new tensor: the caller may enqueue (in place) before backward, which needs
        # the old queue, without tripping autograd's version check.
        negatives = F.normalize(queue.detach(), dim=1).to(q.dtype)  # (K, D)
        l_pos = (q * k).sum(dim=1, keepdim=True)  # (B, 1)
        l_neg = q @ negatives.T  # (B, K)
        parts = [l_pos, l_neg]
        if hard is not None:
            if hard.shape != q.shape:
                raise ValueError(f"expected hard negatives (B, D) like q, got {hard.shape}")
            l_hard = (q * F.normalize(hard.detach(), dim=1).to(q.dtype)).sum(dim=1, keepdim=True)  # (B, 1)
            if hard_valid is not None:
                l_hard = l_hard.masked_fill(~hard_valid.view(-1, 1), float("-inf"))
            parts.append(l_hard)
        logits = torch.cat(parts, dim=1) / self.temperature  # (B, 1 + K [+ 1]); positive at 0
        labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, labels)


@torch.no_grad()
def nearest_keys(keys: Tensor, queue: Tensor, k: int) -> Tensor:
    """Indices (B, k) of the k queue entries most similar (cosine) to each key (B, D): the nearest-
    neighbour positives of Van Gansbeke et al., "Revisiting Contrastive Methods for Unsupervised Learning
    of Visual Representations", NeurIPS 2021 (support set = the queue; top-20 in the paper)."""
    sims = F.normalize(keys, dim=1) @ F.normalize(queue, dim=1).T.to(keys.dtype)
    return sims.topk(min(k, queue.shape[0]), dim=1).indices


def nn_positive_loss(q: Tensor, k: Tensor, queue: Tensor, neighbours: Tensor, temperature: float) -> Tensor:
    """MoCo's logits [<q, k>, <q, queue>] / τ with each of the key's nearest queue entries as the
    positive in turn: mean over samples and neighbours j of −log softmax(logits)[1 + neighbours_j]."""
    q = F.normalize(q, dim=1)
    negatives = F.normalize(queue.detach(), dim=1).to(q.dtype)
    logits = torch.cat([(q * F.normalize(k, dim=1)).sum(1, keepdim=True), q @ negatives.T], 1) / temperature
    log_p = F.log_softmax(logits, dim=1)
    return -log_p.gather(1, 1 + neighbours).mean()
