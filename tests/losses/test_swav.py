"""SwAV (Caron et al., NeurIPS 2020): Sinkhorn-Knopp against a plain numpy loop (row / column sums), the
swapped-prediction loss against a loop, codes of a batch split over 2 processes equal to the codes of the
whole batch in one; MoCo's nearest-neighbour positives (Revisiting) against loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from avssl.losses.moco import nearest_keys, nn_positive_loss
from avssl.losses.swav import sinkhorn, swapped_prediction
from avssl.testing import run_gloo_ranks


def naive_sinkhorn(scores: np.ndarray, eps: float, iters: int) -> np.ndarray:
    q = np.exp(scores / eps).T  # K × B
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iters):
        for r in range(k):
            q[r] = q[r] / q[r].sum() / k
        for c in range(b):
            q[:, c] = q[:, c] / q[:, c].sum() / b
    return (q * b).T


def test_sinkhorn_equals_the_loop_and_balances_the_prototypes() -> None:
    g = torch.Generator().manual_seed(0)
    scores = (
        F.normalize(torch.randn(12, 8, generator=g), dim=1)
        @ F.normalize(torch.randn(5, 8, generator=g), dim=1).T
    )
    codes = sinkhorn(scores, 0.05, 3)
    np.testing.assert_allclose(
        codes.double().numpy(), naive_sinkhorn(scores.double().numpy(), 0.05, 3), rtol=1e-6, atol=1e-9
    )
    torch.testing.assert_close(codes.sum(1), torch.ones(12))  # each sample: one unit
    many = sinkhorn(scores, 0.05, 50).sum(0)  # converged: every prototype B / K of the batch
    torch.testing.assert_close(many, torch.full((5,), 12 / 5), atol=1e-3, rtol=0)
    with pytest.raises(ValueError):
        sinkhorn(scores, 0.0)


def test_swapped_prediction_equals_the_loop() -> None:
    g = torch.Generator().manual_seed(1)
    scores = [torch.randn(4, 6, generator=g) for _ in range(4)]  # 2 global + 2 local views
    codes = [torch.softmax(torch.randn(4, 6, generator=g), 1) for _ in range(2)]
    tau, terms = 0.1, []
    for i in range(2):
        for j in range(4):
            if j == i:
                continue
            total = 0.0
            for b in range(4):
                logits = [float(x) / tau for x in scores[j][b]]
                log_z = math.log(sum(math.exp(v) for v in logits))
                total += -sum(float(codes[i][b][k]) * (logits[k] - log_z) for k in range(6))
            terms.append(total / 4)
    assert float(swapped_prediction(scores, codes, tau)) == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def _codes_on_ranks(world: int, rank: int) -> dict:
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(8, 5, generator=g)
    n = 8 // world
    return {"codes": sinkhorn(scores[rank * n : (rank + 1) * n], 0.05, 3)}


def test_sinkhorn_over_two_processes_is_the_global_batchs(tmp_path) -> None:
    per_rank = run_gloo_ranks(_codes_on_ranks, tmp_path, world=2)
    whole = _codes_on_ranks(1, 0)["codes"]
    torch.testing.assert_close(torch.cat([r["codes"] for r in per_rank]), whole, atol=1e-6, rtol=1e-5)


def test_nearest_neighbour_positives_against_loops() -> None:
    g = torch.Generator().manual_seed(3)
    q, k = (
        F.normalize(torch.randn(3, 4, generator=g), dim=1),
        F.normalize(torch.randn(3, 4, generator=g), dim=1),
    )
    queue = F.normalize(torch.randn(10, 4, generator=g), dim=1)
    nn_idx = nearest_keys(k, queue, 3)
    for b in range(3):
        sims = [float(k[b] @ queue[j]) for j in range(10)]
        assert sorted(nn_idx[b].tolist()) == sorted(np.argsort(sims)[::-1][:3].tolist())
    tau, total = 0.2, 0.0
    for b in range(3):
        logits = [float(q[b] @ k[b]) / tau] + [float(q[b] @ queue[j]) / tau for j in range(10)]
        log_z = math.log(sum(math.exp(v) for v in logits))
        total += sum(-(logits[1 + int(j)] - log_z) for j in nn_idx[b]) / 3
    assert float(nn_positive_loss(q, k, queue, nn_idx, tau)) == pytest.approx(total / 3, rel=1e-5)
