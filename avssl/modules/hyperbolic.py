"""The Poincaré ball of curvature −c (c > 0): the hyperbolic space of HCL's scene embeddings.

Ge, Ma, Zhang, Mahajan, Tseng, Brauer & Yu, "Hyperbolic Contrastive Learning for Visual Representations
beyond Objects", CVPR 2023; the gyrovector operations as in Ganea, Bécigneul & Hofmann, "Hyperbolic Neural
Networks", NeurIPS 2018. The ball is B_c = {x ∈ R^D : c‖x‖² < 1}, of radius 1/√c.

* Möbius addition    x ⊕_c y = ((1 + 2c⟨x,y⟩ + c‖y‖²) x + (1 − c‖x‖²) y) / (1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖²)
* exponential map    expmap0(v) = tanh(√c‖v‖) v / (√c‖v‖)       (tangent space at 0 → ball)
* logarithmic map    logmap0(y) = artanh(√c‖y‖) y / (√c‖y‖)      (ball → tangent space at 0)
* distance           d_c(x, y) = (2/√c) artanh(√c ‖(−x) ⊕_c y‖)
* projection         points clipped to the radius (1 − eps)/√c

Numerics: norms are computed as √max(‖x‖², 1e-30) (≥ 1e-15, finite gradients at 0), artanh's argument is
clamped to ≤ 1 − 1e-5, so values and gradients stay finite up to the boundary. Every function takes points
on the last axis and broadcasts over the others; `pairwise_distance` gives the (N, M) matrix without
materialising the N × M × D Möbius sums (‖(−x) ⊕ y‖ in closed form from ⟨x,y⟩, ‖x‖², ‖y‖²).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

MIN_NORM = 1e-15
ARTANH_MAX = 1.0 - 1e-5


def _check(c: float) -> float:
    if not c > 0:
        raise ValueError(f"the Poincaré ball needs a curvature c > 0, got {c}")
    return float(c)


def _norm(x: Tensor) -> Tensor:
    """‖x‖ over the last axis, keepdim, ≥ MIN_NORM with finite gradients at 0."""
    return x.pow(2).sum(-1, keepdim=True).clamp_min(MIN_NORM**2).sqrt()


def artanh(x: Tensor) -> Tensor:
    """artanh with the argument clamped to [−(1 − 1e-5), 1 − 1e-5]."""
    x = x.clamp(-ARTANH_MAX, ARTANH_MAX)
    return 0.5 * (torch.log1p(x) - torch.log1p(-x))


def mobius_add(x: Tensor, y: Tensor, c: float) -> Tensor:
    """x ⊕_c y for points (..., D) of the ball (broadcast) → (..., D)."""
    c = _check(c)
    xy = (x * y).sum(-1, keepdim=True)
    x2, y2 = x.pow(2).sum(-1, keepdim=True), y.pow(2).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c**2 * x2 * y2
    return num / den.clamp_min(MIN_NORM)


def expmap0(v: Tensor, c: float) -> Tensor:
    """Tangent vectors at the origin (..., D) → points of the ball: tanh(√c‖v‖) v / (√c‖v‖)."""
    sc = math.sqrt(_check(c))
    norm = _norm(v)
    return torch.tanh(sc * norm) * v / (sc * norm)


def logmap0(y: Tensor, c: float) -> Tensor:
    """Points of the ball (..., D) → tangent vectors at the origin: artanh(√c‖y‖) y / (√c‖y‖)."""
    sc = math.sqrt(_check(c))
    norm = _norm(y)
    return artanh(sc * norm) * y / (sc * norm)


def project(x: Tensor, c: float, eps: float = 1e-3) -> Tensor:
    """Points (..., D) rescaled onto the ball of radius (1 − eps)/√c where they lie outside it."""
    radius = (1 - eps) / math.sqrt(_check(c))
    norm = _norm(x)
    return torch.where(norm > radius, x / norm * radius, x)


def distance(x: Tensor, y: Tensor, c: float) -> Tensor:
    """d_c(x, y) = (2/√c) artanh(√c ‖(−x) ⊕_c y‖) of points (..., D) (broadcast) → (...)."""
    sc = math.sqrt(_check(c))
    return 2 / sc * artanh(sc * _norm(mobius_add(-x, y, c)))[..., 0]


def pairwise_distance(x: Tensor, y: Tensor, c: float) -> Tensor:
    """d_c between every row of x (N, D) and of y (M, D) → (N, M).

    With s = ⟨x,y⟩, a = ‖x‖², b = ‖y‖²: (−x) ⊕_c y = (A(−x) + B y) / den with A = 1 − 2cs + cb,
    B = 1 − ca, den = 1 − 2cs + c²ab, so ‖(−x) ⊕_c y‖² = (A²a − 2ABs + B²b) / den².
    """
    c = _check(c)
    s = x @ y.T
    a, b = x.pow(2).sum(1, keepdim=True), y.pow(2).sum(1)[None]
    big_a, big_b = 1 - 2 * c * s + c * b, 1 - c * a
    num = (big_a.pow(2) * a - 2 * big_a * big_b * s + big_b.pow(2) * b).clamp_min(MIN_NORM**2)
    den = (1 - 2 * c * s + c**2 * a * b).clamp_min(MIN_NORM)
    sc = math.sqrt(c)
    return 2 / sc * artanh(sc * num.sqrt() / den)
