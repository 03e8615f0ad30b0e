"""BYOLLoss against a naive loop of 2 - 2 cos(p_i, z_i) (Grill et al. 2020, Eq. 2)."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses import BYOLLoss


def naive_byol(p: list[list[float]], z: list[list[float]]) -> float:
    total = 0.0
    for p_i, z_i in zip(p, z):
        dot = sum(x * y for x, y in zip(p_i, z_i))
        norms = math.sqrt(sum(x * x for x in p_i)) * math.sqrt(sum(y * y for y in z_i))
        total += 2 - 2 * dot / norms
    return total / len(p)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    p, z = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert BYOLLoss()(p, z).item() == pytest.approx(naive_byol(p.tolist(), z.tolist()), rel=1e-5, abs=1e-6)


def test_symmetric_is_the_sum_of_swapped_terms() -> None:
    g = torch.Generator().manual_seed(3)
    p1, p2, z1, z2 = (torch.randn(5, 3, generator=g) for _ in range(4))
    want = naive_byol(p1.tolist(), z2.tolist()) + naive_byol(p2.tolist(), z1.tolist())
    assert BYOLLoss().symmetric(p1, p2, z1, z2).item() == pytest.approx(want, rel=1e-5)


def test_identical_and_opposite_embeddings() -> None:
    p = torch.randn(4, 8)
    assert BYOLLoss()(p, p * 3).item() == pytest.approx(0.0, abs=1e-6)
    assert BYOLLoss()(p, -p).item() == pytest.approx(4.0, abs=1e-5)


def test_target_gets_no_gradient_and_gradcheck() -> None:
    p = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    z = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    BYOLLoss()(p, z).backward()
    assert z.grad is None and p.grad is not None
    assert torch.autograd.gradcheck(lambda x: BYOLLoss()(x, z), (p,))
