"""SwAV: online clustering with balanced assignments and swapped prediction.

Caron, Misra, Mairal, Goyal, Bojanowski & Joulin, "Unsupervised Learning of Visual Features by Contrasting
Cluster Assignments", NeurIPS 2020 (Sec. 3.1, Eq. 2-3, Algorithm 1).

* Prototype scores: s = z · Cᵀ for unit-norm projections z (B, D) and unit-norm prototypes C (K, D).
* Codes (`sinkhorn`): the assignment Q (K × B) maximising Tr(Qᵀ Cᵀ Z) + ε H(Q) over the transportation
  polytope where every prototype gets B / K of the batch and every sample one unit: start from
  exp(s / ε)ᵀ divided by its total, then alternate `iterations` times  rows ← rows / (K · row sum),
  columns ← columns / (B · column sum); the returned codes are B · Qᵀ (each sample's row sums to 1). ε 0.05,
  3 iterations. Under several processes the sums run over the global batch (`all_reduce_sum`), as the
  release does; codes carry no gradient.
* Swapped prediction (`swapped_prediction`, Eq. 2): for a pair of views s, t with codes q_s, q_t and scores
  s_s, s_t,  ℓ = −Σ_k q_t,k log softmax(s_s / τ)_k − Σ_k q_s,k log softmax(s_t / τ)_k  (τ 0.1), averaged
  over samples; with more views (multi-crop) the codes of the first `len(codes)` views predict every other
  view, averaged over the (code view, other view) pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from avssl import distributed


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Prototype scores (B, K) of this process's samples → codes (B, K), rows summing to 1, the
    prototypes' shares balanced over the global batch."""
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"sinkhorn needs epsilon > 0 and iterations >= 1, got {epsilon}, {iterations}")
    # the max-shift is a constant factor, removed by the first normalisation (numerical safety only)
    logits = scores.double() / epsilon
    shift = distributed.all_reduce_sum(logits.max().view(1)) / distributed.world_size()
    q = torch.exp(logits - shift).T  # (K, B)
    k = q.shape[0]
    b = distributed.all_reduce_sum(torch.tensor([float(q.shape[1])], dtype=torch.float64, device=q.device))
    q /= distributed.all_reduce_sum(q.sum().view(1))
    for _ in range(iterations):
        q /= distributed.all_reduce_sum(q.sum(dim=1, keepdim=True))  # each prototype: total 1 / K
        q /= k
        q /= q.sum(dim=0, keepdim=True)  # each sample: total 1 / B
        q /= b
    return (q * b).T.to(scores.dtype)


def swapped_prediction(scores: list[Tensor], codes: list[Tensor], temperature: float = 0.1) -> Tensor:
    """Scores (B, K) of every view and the codes (B, K) of the first len(codes) views → the mean over (code
    view i, other view j ≠ i) of −Σ_k q_i log softmax(s_j / τ), averaged over samples."""
    if not codes or len(codes) > len(scores):
        raise ValueError(f"need codes for 1..{len(scores)} views, got {len(codes)}")
    terms = []
    for i, q in enumerate(codes):
        for j, s in enumerate(scores):
            if j != i:
                terms.append(-(q * F.log_softmax(s / temperature, dim=1)).sum(dim=1).mean())
    return torch.stack(terms).mean()
