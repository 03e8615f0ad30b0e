"""CrossModalInfoNCE against a naive loop written from the formula (CLIP / AVID-style InfoNCE)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call

from avssl.losses import CrossModalInfoNCE


def naive_infonce(a: np.ndarray, b: np.ndarray, scale: float, symmetric: bool) -> float:
    """mean_i -log(exp(s<a_i,b_i>) / sum_j exp(s<a_i,b_j>)), averaged with the b->a direction."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)

    def one_direction(x: np.ndarray, y: np.ndarray) -> float:
        total = 0.0
        for i in range(n):
            numerator = math.exp(scale * float(np.dot(x[i], y[i])))
            denominator = 0.0
            for j in range(n):
                denominator += math.exp(scale * float(np.dot(x[i], y[j])))
            total += -math.log(numerator / denominator)
        return total / n

    forward = one_direction(a, b)
    return (forward + one_direction(b, a)) / 2 if symmetric else forward


def _pair(seed: int, n: int = 6, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("learnable", [True, False])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_matches_naive(seed: int, symmetric: bool, learnable: bool, temperature: float) -> None:
    a, b = _pair(seed)
    loss = CrossModalInfoNCE(temperature, learnable_temperature=learnable, symmetric=symmetric)(a, b)
    want = naive_infonce(a.double().numpy(), b.double().numpy(), 1 / temperature, symmetric)
    assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_symmetric_is_mean_of_both_directions() -> None:
    a, b = _pair(3)
    one_way = CrossModalInfoNCE(0.1, symmetric=False)
    both = CrossModalInfoNCE(0.1, symmetric=True)(a, b)
    assert torch.allclose(both, (one_way(a, b) + one_way(b, a)) / 2, atol=1e-6)


def test_unnormalised_inputs_are_normalised() -> None:
    a, b = _pair(4)
    loss = CrossModalInfoNCE(0.2)
    scales = torch.arange(1, 7, dtype=torch.float32)[:, None]
    assert torch.allclose(loss(a, b), loss(a * scales, b * 3.0), atol=1e-6)


def test_identical_embeddings_give_log_batch() -> None:
    row = torch.randn(1, 8)
    a, b = row.repeat(5, 1), row.repeat(5, 1)
    loss = CrossModalInfoNCE(0.07)(a, b)  # every logit equal: uniform softmax over 5 columns
    assert loss.item() == pytest.approx(math.log(5), abs=1e-5)


@pytest.mark.parametrize("learnable", [True, False])
def test_duplicate_rows_match_naive(learnable: bool) -> None:
    a, b = _pair(5)
    a[1], b[1] = a[0], b[0]  # two samples with the same embeddings in both modalities
    a[3] = b[3]
    loss = CrossModalInfoNCE(0.05, learnable_temperature=learnable)(a, b)
    want = naive_infonce(a.double().numpy(), b.double().numpy(), 1 / 0.05, True)
    assert loss.item() == pytest.approx(want, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize(("log_scale", "used_scale"), [(math.log(400.0), 100.0), (-1.0, 1.0)])
def test_learnable_scale_is_clamped(log_scale: float, used_scale: float) -> None:
    a, b = _pair(6)
    criterion = CrossModalInfoNCE(learnable_temperature=True, max_logit_scale=100.0)
    with torch.no_grad():
        criterion.logit_scale.fill_(log_scale)
    loss = criterion(a.double(), b.double())
    assert loss.item() == pytest.approx(naive_infonce(a.numpy(), b.numpy(), used_scale, True), rel=1e-5)
    loss.backward()
    assert criterion.logit_scale.grad.item() == 0.0  # clamped: no gradient, as CLIP's in-place clamp


def test_temperature_is_a_parameter_only_when_learnable() -> None:
    assert [n for n, _ in CrossModalInfoNCE(learnable_temperature=True).named_parameters()] == ["logit_scale"]
    fixed = CrossModalInfoNCE(0.1)
    assert list(fixed.parameters()) == []
    assert "logit_scale" not in fixed.state_dict()
    assert fixed.scale().item() == pytest.approx(10.0, rel=1e-6)


def test_gradcheck_inputs_and_logit_scale() -> None:
    a, b = _pair(7, n=4, d=3)
    a, b = a.double().requires_grad_(), b.double().requires_grad_()
    criterion = CrossModalInfoNCE(0.3, learnable_temperature=True).double()
    log_scale = torch.tensor(math.log(1 / 0.3), dtype=torch.double, requires_grad=True)

    def loss(x: torch.Tensor, y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return functional_call(criterion, {"logit_scale": s}, (x, y))

    assert torch.autograd.gradcheck(loss, (a, b, log_scale))


def test_gradcheck_fixed_temperature_one_way() -> None:
    a, b = _pair(8, n=3, d=4)
    criterion = CrossModalInfoNCE(0.1, symmetric=False)
    assert torch.autograd.gradcheck(criterion, (a.double().requires_grad_(), b.double().requires_grad_()))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CrossModalInfoNCE(temperature=0.0)
    with pytest.raises(ValueError):
        CrossModalInfoNCE()(torch.randn(4, 3), torch.randn(5, 3))
