"""NT-Xent: SimCLR's normalised-temperature cross entropy between two views of the same modality.

Stack the L2-normalised views of the ``N`` samples of the global batch as ``z_1..z_{2N}`` (view 1 then
view 2), so the positive of ``k`` is ``p(k) = k + N mod 2N``. With ``sim(u, v) = <u, v>`` (cosine)::

    l(k) = -log( exp(sim(z_k, z_p(k)) / tau) / sum_{m != k} exp(sim(z_k, z_m) / tau) )
    L    = mean over the 2N rows k of l(k)

so each row has one positive and ``2N - 2`` negatives (Chen et al., "A Simple Framework for Contrastive
Learning of Visual Representations", ICML 2020, Eq. 1; the loss is summed over both orders of every
pair and divided by 2N, Algorithm 1).

Distributed: rank ``r`` computes its ``2B`` local rows (its view-1 and view-2 samples) against all
``2N`` columns gathered with gradient; the returned loss is the mean over the local rows, so the mean
over ranks is ``L`` and DDP-averaged gradients equal the single-process ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed


class NTXent(nn.Module):
    """SimCLR NT-Xent over two views (B, D) with global negatives; formula in the module docstring.

    Args:
        temperature: ``tau`` (SimCLR uses 0.1 to 0.5 depending on batch size; 0.1 here).
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        """Loss of the local views ``z1``, ``z2`` (B, D) (row i of both is the same sample) -> scalar."""
        if z1.shape != z2.shape or z1.dim() != 2:
            raise ValueError(f"expected two (B, D) tensors of the same shape, got {z1.shape}, {z2.shape}")
        batch = z1.shape[0]
        n_global = batch * distributed.world_size()
        z1 = F.normalize(z1, dim=1)
        z2 = F.normalize(z2, dim=1)
        rows = torch.cat([z1, z2])  # (2B, D)
        cols = torch.cat([distributed.gather_with_grad(z1), distributed.gather_with_grad(z2)])  # (2N, D)
        logits = rows @ cols.T / self.temperature  # (2B, 2N)

        eye = distributed.eye_rank(batch, z1.device)  # (B, N): True at each local sample's own column
        off = torch.zeros_like(eye)
        is_self = torch.cat([torch.cat([eye, off], 1), torch.cat([off, eye], 1)])  # (2B, 2N)
        logits = logits.masked_fill(is_self, float("-inf"))  # the denominator runs over m != k
        own = distributed.local_labels(batch, z1.device)  # (B,) global index of each local sample
        pos_cols = torch.cat([own + n_global, own])  # (2B,) column of the other view
        return F.cross_entropy(logits, pos_cols)
