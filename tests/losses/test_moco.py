"""MoCo pieces against naive references: InfoNCE loop, list-model FIFO queue, per-element EMA loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from avssl.losses import MemoryQueue, MoCoLoss, ema_update, momentum_copy


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


@pytest.mark.parametrize(("size", "batch"), [(12, 4), (12, 3), (12, 6), (12, 12), (5, 1)])
def test_queue_is_fifo_like_a_list(size: int, batch: int) -> None:
    dim = 3
    queue = MemoryQueue(dim, size, seed=1)
    history = list(queue.keys.clone())  # naive model: oldest first, keep the last `size` keys
    g = torch.Generator().manual_seed(size * 100 + batch)
    enqueued = 0
    for _ in range(3 * size // batch + 2):  # wraps around the buffer several times
        keys = torch.randn(batch, dim, generator=g) * 5  # unnormalised on purpose
        queue.enqueue(keys)
        history = (history + list(keys / keys.norm(dim=1, keepdim=True)))[-size:]
        enqueued += batch
        assert int(queue.ptr) == enqueued % size
        oldest_first = torch.roll(queue.keys, -int(queue.ptr), dims=0)  # the slot at ptr is the oldest
        assert torch.allclose(oldest_first, torch.stack(history), atol=1e-6)


def test_queue_init_state_and_errors() -> None:
    a, b = MemoryQueue(4, 8, seed=3), MemoryQueue(4, 8, seed=3)
    assert torch.equal(a.keys, b.keys)  # every rank starts from the same queue
    assert torch.allclose(a.keys.norm(dim=1), torch.ones(8))
    assert set(a.state_dict()) == {"keys", "ptr"}
    with pytest.raises(ValueError):
        a.enqueue(torch.randn(3, 4))  # 8 is not divisible by 3
    with pytest.raises(ValueError):
        MemoryQueue(0, 8)


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


@pytest.mark.parametrize("momentum", [0.0, 0.9, 0.999, 1.0])
def test_ema_update_matches_per_element_loop(momentum: float) -> None:
    torch.manual_seed(0)
    target, online = _net(), _net()
    online(torch.randn(8, 3))  # train mode: moves BN running stats and num_batches_tracked
    online(torch.randn(8, 3))
    before = {name: t.clone() for name, t in target.state_dict().items()}
    ema_update(target, online, momentum)
    after, source = target.state_dict(), online.state_dict()
    for name, old in before.items():
        if not old.is_floating_point():
            assert torch.equal(after[name], source[name])  # counters are copied
            continue
        want = old.flatten().tolist()
        for e, (t_val, o_val) in enumerate(zip(old.flatten().tolist(), source[name].flatten().tolist())):
            want[e] = momentum * t_val + (1 - momentum) * o_val
        assert torch.allclose(after[name].flatten(), torch.tensor(want), atol=1e-6), name


def test_ema_update_rejects_mismatched_modules() -> None:
    with pytest.raises(ValueError):
        ema_update(_net(), nn.Sequential(nn.Linear(3, 4)), 0.99)
    with pytest.raises(ValueError):
        ema_update(_net(), _net(), 1.5)


def test_momentum_copy_is_detached_and_independent() -> None:
    online = _net()
    target = momentum_copy(online)
    for (name, p), t in zip(online.named_parameters(), target.parameters()):
        assert torch.equal(p, t), name
        assert not t.requires_grad and t.data_ptr() != p.data_ptr()
