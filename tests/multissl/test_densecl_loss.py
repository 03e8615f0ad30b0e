"""DenseCL's loss against a naive loop over images and locations written from Eq. 2-3 of the paper."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.densecl import DenseCLLoss, dense_queue_keys, match_locations


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def _naive(q, k, fq, fk, queue, tau) -> float:
    batch, _, locs = q.shape
    total = 0.0
    for b in range(batch):
        for s in range(locs):
            fq_s = _unit(fq[b, :, s].tolist())
            sims = [_dot(fq_s, _unit(fk[b, :, j].tolist())) for j in range(fk.shape[2])]
            best = max(range(len(sims)), key=lambda j: sims[j])
            q_s = _unit(q[b, :, s].tolist())
            pos = _dot(q_s, _unit(k[b, :, best].tolist())) / tau
            negs = [_dot(q_s, _unit(n.tolist())) / tau for n in queue]
            total += -pos + math.log(math.exp(pos) + sum(math.exp(n) for n in negs))
    return total / (batch * locs)


@pytest.mark.parametrize("tau", [0.2, 0.5])
def test_densecl_matches_the_loop_reference(tau: float) -> None:
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(3, 5, 6, generator=g), torch.randn(3, 5, 4, generator=g)  # S = 6 queries, S' = 4 keys
    fq, fk = torch.randn(3, 7, 6, generator=g), torch.randn(3, 7, 4, generator=g)
    queue = torch.randn(9, 5, generator=g)
    got = float(DenseCLLoss(tau)(q, k, fq, fk, queue))
    assert abs(got - _naive(q, k, fq, fk, queue, tau)) < 1e-5


def test_matching_follows_backbone_features_not_projections() -> None:
    fq = torch.eye(3)[None]  # query location s has feature e_s
    fk = torch.eye(3)[None][:, :, [2, 0, 1]]  # key location j has feature e_{perm(j)}
    assert match_locations(fq, fk).tolist() == [[1, 2, 0]]
    q, queue = torch.randn(1, 4, 3), torch.randn(8, 4)
    k = torch.empty_like(q)
    k[:, :, [1, 2, 0]] = q  # the key at the matched location equals the query: the best positive
    well = DenseCLLoss(0.2)(q, k, fq, fk, queue)
    badly = DenseCLLoss(0.2)(q, k, fq, fq, queue)  # identity matching: mismatched positives
    assert float(well) < float(badly)


def test_gradient_flows_to_queries_only_and_queue_keys_are_unit_means() -> None:
    q = torch.randn(2, 4, 5, requires_grad=True)
    k = torch.randn(2, 4, 5, requires_grad=True)
    queue = torch.randn(6, 4, requires_grad=True)
    DenseCLLoss()(q, k, q, k, queue).backward()
    assert q.grad is not None and queue.grad is None
    keys = dense_queue_keys(k.detach())
    expected = torch.nn.functional.normalize(torch.nn.functional.normalize(k.detach(), dim=1).mean(2), dim=1)
    assert torch.allclose(keys, expected) and torch.allclose(keys.norm(dim=1), torch.ones(2))
