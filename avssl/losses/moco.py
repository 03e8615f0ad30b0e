"""MoCo: momentum key encoder, FIFO queue of keys, and InfoNCE against the queue.

He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020 (MoCo v1,
Eq. 1 and Eq. 2, Algorithm 1); Chen et al., "Improved Baselines with Momentum Contrastive Learning",
2020 (MoCo v2: MLP head, tau = 0.2).

* :func:`ema_update` — ``theta_k <- m theta_k + (1 - m) theta_q`` (Eq. 2).
* :class:`MemoryQueue` — the dictionary: the ``K`` most recent keys, all ranks' keys enqueued
  (gathered) so every rank holds the same queue, the oldest batch overwritten first.
* :class:`MoCoLoss` — InfoNCE of each query against its key (positive) and the queue (negatives).

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

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """In place: ``t <- m t + (1 - m) o`` for every parameter and floating-point buffer of ``target``.

    Floating-point buffers (BatchNorm running mean/var) are averaged like parameters, so the key
    encoder's eval-mode statistics track the online ones; other buffers (``num_batches_tracked``) are
    copied. ``target`` and ``online`` must have the same parameter and buffer names and shapes.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    for kind, target_items, online_items in (
        ("parameters", target.named_parameters(), online.named_parameters()),
        ("buffers", target.named_buffers(), online.named_buffers()),
    ):
        targets, onlines = dict(target_items), dict(online_items)
        if targets.keys() != onlines.keys():
            raise ValueError(f"target and online modules have different {kind}")
        for name, t in targets.items():
            o = onlines[name]
            if t.is_floating_point():
                t.mul_(momentum).add_(o.detach().to(t.dtype), alpha=1.0 - momentum)
            else:
                t.copy_(o)


def momentum_copy(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` with gradients disabled: the initial key encoder (theta_k = theta_q)."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


class MemoryQueue(nn.Module):
    """FIFO queue of ``size`` L2-normalised keys (K, D) kept in registered buffers (saved in checkpoints).

    ``enqueue(keys)`` gathers the keys of all ranks (rank-major, no gradient), normalises them and writes
    them at ``ptr``, overwriting the oldest entries; ``ptr`` advances by the global batch modulo ``size``.
    ``size`` must be divisible by the global batch so a write never straddles the end (as MoCo asserts).
    The initial content is random unit vectors drawn from a fixed ``seed``, identical on every rank.

    Args:
        dim: key dimension D.
        size: number of keys K (MoCo: 65,536).
        seed: seed of the initial random keys.
    """

    keys: Tensor
    ptr: Tensor

    def __init__(self, dim: int, size: int, seed: int = 0) -> None:
        super().__init__()
        if dim < 1 or size < 1:
            raise ValueError(f"dim and size must be >= 1, got {dim}, {size}")
        init = torch.randn(size, dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("keys", F.normalize(init, dim=1))  # (K, D)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        """Number of keys K."""
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Add the local keys (B, D) of every rank (N = W*B in rank order), replacing the oldest N."""
        gathered = distributed.all_gather_no_grad(keys)  # (N, D)
        n = gathered.shape[0]
        if self.size % n != 0:
            raise ValueError(f"queue size {self.size} is not divisible by the global batch {n}")
        start = int(self.ptr)
        self.keys[start : start + n] = F.normalize(gathered, dim=1).to(self.keys.dtype)
        self.ptr.fill_((start + n) % self.size)


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

    def forward(self, q: Tensor, k: Tensor, queue: Tensor) -> Tensor:
        """q (B, D) queries, k (B, D) positive keys, queue (K, D) negatives -> scalar."""
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
        logits = torch.cat([l_pos, l_neg], dim=1) / self.temperature  # (B, 1 + K); positive at 0
        labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, labels)
