"""MaCLR's loss (Xiao et al., ECCV 2022) against a per-sample loop written from the paper's terms: visual
and motion instance discrimination between two clips and the cross-modal visual ↔ motion term, each an
InfoNCE over a MoCo queue of the key pathway; weights switch terms off."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.maclr import MaCLRLoss


def nce_loop(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float) -> float:
    """Mean over i of -log exp(q_i·k_i/τ) / (exp(q_i·k_i/τ) + Σ_n exp(q_i·n/τ)), all vectors unit norm."""
    total = 0.0
    for i in range(q.shape[0]):
        qi, ki = q[i] / q[i].norm(), k[i] / k[i].norm()
        pos = math.exp(float(qi @ ki) / tau)
        neg = sum(math.exp(float(qi @ (n / n.norm())) / tau) for n in queue)
        total += -math.log(pos / (pos + neg))
    return total / q.shape[0]


def _inputs(seed: int = 0, b: int = 5, d: int = 6, k: int = 7) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64) for n in (b, b, b, b, k, k)]


def test_terms_and_total_equal_the_per_sample_loop() -> None:
    q_v, q_m, k_v, k_m, queue_v, queue_m = _inputs()
    tau, w = 0.1, (0.7, 1.3, 0.4)
    terms = MaCLRLoss(tau, *w)(q_v, q_m, k_v, k_m, queue_v, queue_m)
    visual = nce_loop(q_v, k_v, queue_v, tau)
    motion = nce_loop(q_m, k_m, queue_m, tau)
    # cross-modal: the visual query finds the video's motion key among the motion queue, and the reverse
    cross = 0.5 * (nce_loop(q_v, k_m, queue_m, tau) + nce_loop(q_m, k_v, queue_v, tau))
    assert terms.visual.item() == pytest.approx(visual, rel=1e-9)
    assert terms.motion.item() == pytest.approx(motion, rel=1e-9)
    assert terms.cross.item() == pytest.approx(cross, rel=1e-9)
    assert terms.total.item() == pytest.approx(w[0] * visual + w[1] * motion + w[2] * cross, rel=1e-9)


@pytest.mark.parametrize("off", ["visual", "motion", "cross"])
def test_a_zero_weight_switches_its_term_off(off: str) -> None:
    q_v, q_m, k_v, k_m, queue_v, queue_m = _inputs(1)
    weights = {"visual_weight": 1.0, "motion_weight": 1.0, "cross_weight": 1.0, f"{off}_weight": 0.0}
    terms = MaCLRLoss(0.2, **weights)(q_v, q_m, k_v, k_m, queue_v, queue_m)
    full = MaCLRLoss(0.2)(q_v, q_m, k_v, k_m, queue_v, queue_m)
    assert getattr(terms, off) is None
    assert terms.total.item() == pytest.approx(full.total.item() - getattr(full, off).item(), rel=1e-9)


def test_only_the_queries_get_gradient_through_the_cross_term() -> None:
    q_v, q_m, k_v, k_m, queue_v, queue_m = _inputs(2)
    for t in (q_v, q_m):
        t.requires_grad_(True)
    MaCLRLoss(0.1, 0.0, 0.0, 1.0)(q_v, q_m, k_v, k_m, queue_v, queue_m).total.backward()
    assert q_v.grad is not None and q_v.grad.abs().sum() > 0
    assert q_m.grad is not None and q_m.grad.abs().sum() > 0


def test_bad_weights_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        MaCLRLoss(visual_weight=-1.0)
    with pytest.raises(ValueError, match="at least one"):
        MaCLRLoss(visual_weight=0.0, motion_weight=0.0, cross_weight=0.0)
