"""Poincaré-ball operations against closed forms and an independent float64 formula (the arcosh form of
the distance), the metric axioms on random points, and finite gradients at the boundary."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.modules.hyperbolic import (
    distance,
    expmap0,
    logmap0,
    mobius_add,
    pairwise_distance,
    project,
)

C = 0.05


def _points(n: int, d: int = 6, c: float = C, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """n random points inside the ball, radii spread over (0, 0.95)/√c."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    radius = 0.95 * torch.rand(n, 1, generator=g, dtype=dtype) / math.sqrt(c)
    return x / x.norm(dim=1, keepdim=True) * radius


def arcosh_distance(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
    """(1/√c) arcosh(1 + 2c‖x − y‖² / ((1 − c‖x‖²)(1 − c‖y‖²))), float64."""
    x, y = x.double(), y.double()
    arg = 1 + 2 * c * (x - y).pow(2).sum(-1) / ((1 - c * x.pow(2).sum(-1)) * (1 - c * y.pow(2).sum(-1)))
    return torch.acosh(arg) / math.sqrt(c)


@pytest.mark.parametrize("c", [C, 1.0])
def test_distance_from_the_origin(c: float) -> None:
    x = _points(8, c=c)
    expected = 2 / math.sqrt(c) * torch.atanh(math.sqrt(c) * x.norm(dim=1))
    torch.testing.assert_close(distance(torch.zeros_like(x), x, c), expected)


@pytest.mark.parametrize("c", [C, 1.0])
def test_maps_invert_and_mobius_identities(c: float) -> None:
    g = torch.Generator().manual_seed(1)
    v = torch.randn(10, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(logmap0(expmap0(v, c), c), v)
    x = _points(10, d=5, c=c)
    torch.testing.assert_close(expmap0(logmap0(x, c), c), x)
    torch.testing.assert_close(mobius_add(x, torch.zeros_like(x), c), x)
    torch.testing.assert_close(mobius_add(torch.zeros_like(x), x, c), x)
    torch.testing.assert_close(mobius_add(-x, x, c), torch.zeros_like(x))
    assert (math.sqrt(c) * project(expmap0(10 * v, c), c).norm(dim=1) < 1).all()  # tanh saturates: project


@pytest.mark.parametrize("c", [C, 0.5])
def test_distance_matches_the_arcosh_form_symmetric_and_triangle(c: float) -> None:
    x, y, z = _points(64, c=c, seed=2), _points(64, c=c, seed=3), _points(64, c=c, seed=4)
    reference = arcosh_distance(x, y, c)
    torch.testing.assert_close(distance(x, y, c), reference, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(distance(y, x, c), reference, rtol=1e-6, atol=1e-6)
    assert (distance(x, z, c) <= distance(x, y, c) + distance(y, z, c) + 1e-9).all()
    # float32, the training dtype, within float32 accuracy of the float64 reference
    f32 = distance(x.float(), y.float(), c).double()
    torch.testing.assert_close(f32, reference, rtol=1e-3, atol=1e-3)


def test_pairwise_distance_equals_elementwise() -> None:
    x, y = _points(7, seed=5), _points(9, seed=6)
    expected = distance(x[:, None], y[None], C)
    torch.testing.assert_close(pairwise_distance(x, y, C), expected)
    torch.testing.assert_close(pairwise_distance(x, y, C), arcosh_distance(x[:, None], y[None], C))
    assert pairwise_distance(x, x, C).diagonal().abs().max() < 1e-6


def test_project_clips_to_the_radius() -> None:
    g = torch.Generator().manual_seed(7)
    x = 100 * torch.randn(6, 4, generator=g)
    out = project(x, C, eps=1e-3)
    torch.testing.assert_close(out.norm(dim=1), torch.full((6,), 0.999 / math.sqrt(C)))
    torch.testing.assert_close(out / out.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))
    inside = _points(5).float()
    torch.testing.assert_close(project(inside, C), inside)


def test_gradients_are_finite_at_the_boundary_and_at_zero() -> None:
    g = torch.Generator().manual_seed(8)
    direction = torch.randn(4, 3, generator=g)
    x = (direction / direction.norm(dim=1, keepdim=True) * (1 - 1e-7) / math.sqrt(C)).requires_grad_()
    y = _points(4, d=3, seed=9).float().requires_grad_()
    zero = torch.zeros(4, 3, requires_grad=True)
    total = (
        distance(x, y, C).sum()
        + pairwise_distance(x, y, C).sum()
        + logmap0(x, C).sum()
        + expmap0(zero, C).sum()
        + distance(zero, y, C).sum()
        + pairwise_distance(y, y, C).sum()
    )
    total.backward()
    for t in (x, y, zero):
        assert torch.isfinite(t.grad).all()
    assert torch.isfinite(total)
