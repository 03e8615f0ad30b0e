"""MoCo's InfoNCE with one extra hard negative per query (Ryali et al.'s BG_Swaps) against a loop."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from avssl.losses.moco import MoCoLoss


def test_hard_negative_logit_against_a_loop() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, hard = (F.normalize(torch.randn(5, 8, generator=g), dim=1) for _ in range(3))
    queue = F.normalize(torch.randn(7, 8, generator=g), dim=1)
    valid = torch.tensor([True, False, True, True, False])
    tau = 0.2
    total = 0.0
    for i in range(5):
        pos = math.exp(float(q[i] @ k[i]) / tau)
        neg = sum(math.exp(float(q[i] @ n) / tau) for n in queue)
        if valid[i]:
            neg += math.exp(float(q[i] @ hard[i]) / tau)
        total += -math.log(pos / (pos + neg))
    loss = MoCoLoss(tau)(q, k, queue, hard, valid)
    assert abs(float(loss) - total / 5) < 1e-5
    # without the hard negatives it is the plain loss
    assert torch.allclose(
        MoCoLoss(tau)(q, k, queue, hard, torch.zeros(5, dtype=torch.bool)), MoCoLoss(tau)(q, k, queue)
    )
