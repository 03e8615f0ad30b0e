"""DenseCL with its dense queue across 2 processes (gloo, CPU) against one process on the whole batch.

Three steps with a queue of 16 and a global batch of 8 (the third wraps around): per-rank losses and the
DDP-averaged gradients must equal the single-process ones, and both ranks must hold the same dense queue
(every rank enqueues the gathered per-image mean keys, `MemoryQueue.enqueue`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from avssl import distributed
from avssl.losses.densecl import DenseCLLoss, dense_queue_keys
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.testing import run_gloo_ranks

WORLD, GLOBAL_BATCH, STEPS, C, D, S = 2, 8, 3, 6, 5, 4


def _scenario(rank: int, world: int) -> dict[str, Tensor]:
    torch.manual_seed(0)
    backbone, head = nn.Linear(C, C), nn.Linear(C, D)  # per location: (B, S, C) → (B, S, D)
    key_backbone, key_head = momentum_copy(backbone), momentum_copy(head)
    queue, loss_fn = MemoryQueue(D, 16, seed=3), DenseCLLoss(0.2)
    n = GLOBAL_BATCH // world
    out = {}
    for step in range(STEPS):
        g = torch.Generator().manual_seed(10 + step)
        x1, x2 = torch.randn(GLOBAL_BATCH, S, C, generator=g), torch.randn(GLOBAL_BATCH, S, C, generator=g)
        x1, x2 = x1[rank * n : (rank + 1) * n], x2[rank * n : (rank + 1) * n]
        f_q = backbone(x1)
        with torch.no_grad():
            f_k = key_backbone(x2)
            k = key_head(f_k).transpose(1, 2)
        loss = loss_fn(head(f_q).transpose(1, 2), k, f_q.transpose(1, 2), f_k.transpose(1, 2), queue.keys)
        queue.enqueue(dense_queue_keys(k))
        loss.backward()
        out[f"loss{step}"] = distributed.all_reduce_mean(loss)
        for name, p in [*backbone.named_parameters(), *(("h." + a, b) for a, b in head.named_parameters())]:
            grad = distributed.all_reduce_mean(p.grad)
            out[f"grad/{name}{step}"] = grad
            with torch.no_grad():
                p -= 0.5 * grad
            p.grad = None
        out[f"queue{step}"] = queue.keys.clone()
        ema_update(key_backbone, backbone, 0.9)
        ema_update(key_head, head, 0.9)
    return out


def test_dense_queue_and_densecl_two_ranks_match_one_process(tmp_path) -> None:
    per_rank = run_gloo_ranks(_scenario, tmp_path, world=WORLD)
    single = _scenario(0, 1)
    for results in per_rank:
        assert results.keys() == single.keys()
        for key, value in single.items():
            assert torch.allclose(results[key], value, atol=1e-5), (key, (results[key] - value).abs().max())
    for step in range(STEPS):
        assert torch.equal(per_rank[0][f"queue{step}"], per_rank[1][f"queue{step}"])
