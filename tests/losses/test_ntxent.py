"""NTXent against a naive loop written from SimCLR's Eq. 1 (2N rows, 2N - 2 negatives each)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avssl.losses import NTXent


def naive_ntxent(z1: np.ndarray, z2: np.ndarray, tau: float) -> float:
    """mean over k of -log(exp(sim(z_k, z_p(k))/tau) / sum_{m != k} exp(sim(z_k, z_m)/tau))."""
    z = np.concatenate([z1, z2])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    total = 0.0
    for k in range(n2):
        positive = (k + n2 // 2) % n2
        denominator = 0.0
        for m in range(n2):
            if m != k:
                denominator += math.exp(float(np.dot(z[k], z[m])) / tau)
        total += -math.log(math.exp(float(np.dot(z[k], z[positive])) / tau) / denominator)
    return total / n2


def _views(seed: int, n: int = 5, d: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_matches_naive(seed: int, temperature: float) -> None:
    z1, z2 = _views(seed)
    loss = NTXent(temperature)(z1, z2)
    want = naive_ntxent(z1.double().numpy(), z2.double().numpy(), temperature)
    assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_identical_embeddings_give_log_2n_minus_1() -> None:
    z = torch.randn(1, 6).repeat(4, 1)
    assert NTXent(0.1)(z, z.clone()).item() == pytest.approx(math.log(7), abs=1e-5)


def test_duplicates_match_naive() -> None:
    z1, z2 = _views(4)
    z2[0] = z1[0]  # identical views of one sample
    z1[2], z2[2] = z1[1], z2[1]  # two identical samples: a negative as similar as the positive
    loss = NTXent(0.2)(z1, z2)
    assert loss.item() == pytest.approx(naive_ntxent(z1.double().numpy(), z2.double().numpy(), 0.2), rel=1e-5)


def test_single_sample_has_no_negatives() -> None:
    z1, z2 = _views(5, n=1)
    assert NTXent(0.1)(z1, z2).item() == pytest.approx(0.0, abs=1e-6)


def test_gradcheck() -> None:
    z1, z2 = _views(6, n=3, d=3)
    assert torch.autograd.gradcheck(NTXent(0.3), (z1.double().requires_grad_(), z2.double().requires_grad_()))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        NTXent(temperature=-1.0)
    with pytest.raises(ValueError):
        NTXent()(torch.randn(3, 4), torch.randn(3, 5))
