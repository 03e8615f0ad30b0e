"""Dynamic time warping: the cheapest monotone alignment of two sequences under a frame-to-frame cost.

For a cost matrix C (N, M) the accumulated cost is D(0, 0) = C(0, 0) and

    D(i, j) = C(i, j) + min(D(i − 1, j), D(i, j − 1), D(i − 1, j − 1))

(out-of-range cells are +∞); the alignment path runs from (0, 0) to (N − 1, M − 1) by steps (1, 0), (0, 1),
(1, 1) (Sakoe & Chiba, "Dynamic programming algorithm optimization for spoken word recognition", IEEE TASSP
1978). Here the cells of one anti-diagonal i + j = k depend only on diagonals k − 1 and k − 2, so each
diagonal is one vectorised step (N + M − 1 steps instead of N · M), on any device.

Used by CARL's weakly supervised variant (`avssl.tasks.carl`: frames of two videos of one action aligned by
DTW give each other's pseudo-timestamps) and by frame-level evaluation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def dtw_accumulated(cost: Tensor) -> Tensor:
    """(N, M) cost → (N, M) accumulated cost D (float64), by anti-diagonals."""
    if cost.dim() != 2 or 0 in cost.shape:
        raise ValueError(f"dtw needs a non-empty (N, M) cost matrix, got shape {tuple(cost.shape)}")
    c = cost.detach().to(torch.float64)
    n, m = c.shape
    acc = torch.full((n + 1, m + 1), float("inf"), dtype=c.dtype, device=c.device)  # padded: row/col 0 = ∞
    acc[0, 0] = 0.0
    for k in range(n + m - 1):
        i = torch.arange(max(0, k - m + 1), min(n, k + 1), device=c.device)
        j = k - i
        best = torch.minimum(torch.minimum(acc[i, j + 1], acc[i + 1, j]), acc[i, j])
        acc[i + 1, j + 1] = c[i, j] + best
    return acc[1:, 1:]


def dtw_path(cost: Tensor) -> tuple[float, list[tuple[int, int]]]:
    """(total cost, alignment path [(i, j), …] from (0, 0) to (N − 1, M − 1)) of an (N, M) cost matrix.
    Ties go to the diagonal step, then to (i − 1, j)."""
    acc = dtw_accumulated(cost).cpu()
    i, j = acc.shape[0] - 1, acc.shape[1] - 1
    path = [(i, j)]
    while (i, j) != (0, 0):
        steps = []
        if i > 0 and j > 0:
            steps.append((acc[i - 1, j - 1].item(), i - 1, j - 1))
        if i > 0:
            steps.append((acc[i - 1, j].item(), i - 1, j))
        if j > 0:
            steps.append((acc[i, j - 1].item(), i, j - 1))
        _, i, j = min(steps, key=lambda s: s[0])  # stable: the first of equal costs wins
        path.append((i, j))
    return float(acc[-1, -1]), path[::-1]


def aligned_positions(cost: Tensor) -> Tensor:
    """(N, M) cost → (N,) float: for each row frame, the mean column index of the cells the DTW path
    matches it to (its position on the other sequence's timeline)."""
    _, path = dtw_path(cost)
    total = torch.zeros(cost.shape[0], dtype=torch.float64)
    count = torch.zeros(cost.shape[0], dtype=torch.float64)
    for i, j in path:
        total[i] += j
        count[i] += 1
    return total / count
