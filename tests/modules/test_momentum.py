"""Momentum target and key queue against naive references: list-model FIFO queue, per-element EMA loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy


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
