"""MoCo's loss against a naive InfoNCE loop (the queue and EMA: tests/modules/test_momentum.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avssl.losses import MoCoLoss
from avssl.modules.momentum import MemoryQueue


def naive_moco(q: np.ndarray, k: np.ndarray, queue: np.ndarray, tau: float) -> float:
    """mean_i -log(exp(<q_i,k_i>/tau) / (exp(<q_i,k_i>/tau) + sum_j exp(<q_i,n_j>/tau)))."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    k = k / np.linalg.norm(k, axis=1, keepdims=True)
    queue = queue / np.linalg.norm(queue, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(q)):
        positive = math.exp(float(np.dot(q[i], k[i])) / tau)
        negatives = 0.0
        for j in range(len(queue)):
            negatives += math.exp(float(np.dot(q[i], queue[j])) / tau)
        total += -math.log(positive / (positive + negatives))
    return total / len(q)


def _qkn(seed: int, b: int = 4, d: int = 5, k: int = 7) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(n, d, generator=g) for n in (b, b, k))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("temperature", [0.07, 0.2])
def test_loss_matches_naive(seed: int, temperature: float) -> None:
    q, k, queue = _qkn(seed)
    loss = MoCoLoss(temperature)(q, k, queue)
    want = naive_moco(q.double().numpy(), k.double().numpy(), queue.double().numpy(), temperature)
    assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_loss_with_duplicates_matches_naive() -> None:
    q, k, queue = _qkn(3)
    k[0] = q[0]  # a perfect positive
    queue[2] = k[1]  # the positive key of query 1 also sits in the queue
    queue[3] = queue[4]
    loss = MoCoLoss(0.1)(q, k, queue)
    want = naive_moco(q.double().numpy(), k.double().numpy(), queue.double().numpy(), 0.1)
    assert loss.item() == pytest.approx(want, rel=1e-5)
    same = torch.randn(1, 5)
    all_equal = MoCoLoss(0.1)(same.repeat(3, 1), same.repeat(3, 1), same.repeat(6, 1))
    assert all_equal.item() == pytest.approx(math.log(7), abs=1e-5)  # positive among 1 + 6 equal logits


def test_gradcheck_query_and_key() -> None:
    q, k, queue = _qkn(4, b=3, d=3, k=4)
    inputs = (q.double().requires_grad_(), k.double().requires_grad_(), queue.double())
    assert torch.autograd.gradcheck(MoCoLoss(0.2), inputs)


def test_enqueue_before_backward_is_safe_and_queue_gets_no_grad() -> None:
    q, k, _ = _qkn(5)
    queue = MemoryQueue(dim=5, size=8)
    q1 = q.clone().requires_grad_()
    MoCoLoss()(q1, k, queue.keys).backward()
    q2 = q.clone().requires_grad_()
    loss = MoCoLoss()(q2, k, queue.keys)
    queue.enqueue(torch.randn(4, 5))  # in place, between forward and backward (Algorithm 1's order)
    loss.backward()
    assert torch.allclose(q1.grad, q2.grad)
    assert not queue.keys.requires_grad
