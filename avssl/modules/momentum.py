"""Momentum (EMA) target networks and the queue of keys they fill: the parts of momentum-contrast
methods that are state, not a loss.

He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020 (MoCo v1,
Eq. 2 and Algorithm 1); the same EMA target serves BYOL (Grill et al., "Bootstrap Your Own Latent: A New
Approach to Self-Supervised Learning", NeurIPS 2020) and DenseCL (Wang et al., "Dense Contrastive Learning
for Self-Supervised Visual Pre-Training", CVPR 2021).

* :func:`momentum_copy` — the initial target network (theta_k = theta_q, no gradient).
* :func:`ema_update` — ``theta_k <- m theta_k + (1 - m) theta_q`` (MoCo Eq. 2).
* :class:`MemoryQueue` — the dictionary: the ``K`` most recent keys, all ranks' keys enqueued
  (gathered) so every rank holds the same queue, the oldest batch overwritten first.

The loss against the queue is :class:`avssl.losses.moco.MoCoLoss`.
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
