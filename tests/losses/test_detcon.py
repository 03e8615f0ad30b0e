"""DetCon's mask pooling and mask-contrastive loss (`avssl.losses.detcon`): pooling on known masks, the
loss against a naive loop written from the formula (DetCon Eq. 3 as CYBORGS trains it), and under 2 gloo
processes (keys gathered from both ranks) against one process on the whole batch."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.detcon import MaskContrastLoss, mask_pool
from avssl.testing import run_gloo_ranks


def test_mask_pool_on_known_masks() -> None:
    features = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    masks = torch.zeros(2, 3, 4, 4)
    masks[:, 0, :2, :2] = 1  # top-left quarter
    masks[:, 1, 3, :] = 1  # bottom row
    masks[1, 2] = 0.5  # a soft mask over the whole map: the plain mean
    pooled, area = mask_pool(features, masks)
    assert area[0].tolist() == [4.0, 4.0, 0.0] and area[1].tolist() == [4.0, 4.0, 8.0]
    for b in range(2):
        for c in range(3):
            f = features[b, c]
            assert pooled[b, 0, c] == pytest.approx(float(f[:2, :2].mean()))
            assert pooled[b, 1, c] == pytest.approx(float(f[3].mean()))
        assert torch.allclose(pooled[1, 2], features[1].flatten(1).mean(1))
    assert pooled[0, 2].abs().sum() == 0  # an empty mask pools to zeros


def _naive(q_a, q_b, k_a, k_b, valid, tau) -> float:
    """The loss by loops: for each valid query mask, −log of its positive's share of exp(q·k/τ) over every
    valid key mask of the other view; mean over valid queries, summed over the two directions."""
    total = 0.0
    for q, k in ((q_a, k_b), (q_b, k_a)):
        terms = []
        for b in range(q.shape[0]):
            for m in range(q.shape[1]):
                if not valid[b, m]:
                    continue
                qn = q[b, m] / q[b, m].norm()
                positive, denominator = None, 0.0
                for b2 in range(k.shape[0]):
                    for m2 in range(k.shape[1]):
                        if not valid[b2, m2]:
                            continue
                        score = math.exp(float(qn @ (k[b2, m2] / k[b2, m2].norm())) / tau)
                        denominator += score
                        if (b2, m2) == (b, m):
                            positive = score
                terms.append(-math.log(positive / denominator))
        total += sum(terms) / len(terms)
    return total


def _inputs(seed: int = 0, batch: int = 4, masks: int = 3, dim: int = 5):
    g = torch.Generator().manual_seed(seed)
    q_a, q_b, k_a, k_b = (torch.randn(batch, masks, dim, generator=g) for _ in range(4))
    valid = torch.rand(batch, masks, generator=g) > 0.3
    return q_a, q_b, k_a, k_b, valid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_matches_the_naive_reference(seed) -> None:
    q_a, q_b, k_a, k_b, valid = _inputs(seed)
    loss = MaskContrastLoss(0.1)(q_a, q_b, k_a, k_b, valid)
    assert float(loss) == pytest.approx(_naive(q_a, q_b, k_a, k_b, valid, 0.1), rel=1e-5)


def test_loss_rewards_matching_masks_and_ignores_invalid_ones() -> None:
    q_a, q_b, k_a, k_b, valid = _inputs(3)
    loss = MaskContrastLoss(0.1)
    random = float(loss(q_a, q_b, k_a, k_b, valid))
    aligned = float(loss(k_b, k_a, k_a, k_b, valid))  # each query equals its positive key
    assert aligned < random
    changed = q_a.clone()
    changed[~valid] = 100.0  # an invalid mask is neither a query nor a key
    k_changed = k_b.clone()
    k_changed[~valid] = -7.0
    assert float(loss(changed, q_b, k_a, k_changed, valid)) == pytest.approx(random, rel=1e-6)
    none = torch.zeros_like(valid)
    q = q_a.clone().requires_grad_(True)
    zero = loss(q, q_b, k_a, k_b, none)
    zero.backward()
    assert float(zero) == 0.0 and q.grad is not None


def _ranks_scenario(rank: int, world: int) -> dict:
    q_a, q_b, k_a, k_b, valid = _inputs(5, batch=4)
    valid[:] = True  # equal valid counts per rank: the ranks' mean is the global mean
    part = slice(2 * rank, 2 * rank + 2)
    q = q_a[part].clone().requires_grad_(True)
    loss = MaskContrastLoss(0.1)(q, q_b[part], k_a[part], k_b[part], valid[part])
    loss.backward()
    return {"loss": loss.detach(), "grad": q.grad}


def test_two_processes_gather_the_keys(tmp_path) -> None:
    results = run_gloo_ranks(_ranks_scenario, tmp_path)
    q_a, q_b, k_a, k_b, valid = _inputs(5, batch=4)
    valid[:] = True
    q = q_a.clone().requires_grad_(True)
    full = MaskContrastLoss(0.1)(q, q_b, k_a, k_b, valid)
    full.backward()
    mean = (results[0]["loss"] + results[1]["loss"]) / 2
    assert float(mean) == pytest.approx(float(full), rel=1e-5)
    grads = torch.cat([r["grad"] for r in results]) / 2  # DDP averages the ranks' gradients
    assert torch.allclose(grads, q.grad, atol=1e-6)
    # without the gathered keys each rank would see only its own negatives: a different loss
    local = MaskContrastLoss(0.1)(q_a[:2], q_b[:2], k_a[:2], k_b[:2], valid[:2])
    assert float(local) != pytest.approx(float(results[0]["loss"]), rel=1e-3)
