"""MCL's motion alignment (Li et al., ICCV 2021): Grad-CAM against an autograd-by-hand reference on a tiny
network (a 1×1×1 conv, global pool, linear head, L2 normalisation and MoCo's InfoNCE: every derivative written
out by hand), and each alignment view — spatial, temporal, spatio-temporal — against a naive loop over
samples and positions, with the switches (weight 0: term absent)."""

from __future__ import annotations

import math

import pytest
import torch

from avssl.losses.mcl import MotionAlignmentLoss, grad_cam, motion_target, score_gradients
from avssl.losses.moco import MoCoLoss


def test_grad_cam_equals_the_hand_derived_gradient_of_the_contrastive_score() -> None:
    torch.manual_seed(0)
    B, Cin, C, T, H, W, E, K, tau = 3, 2, 4, 2, 3, 3, 5, 6, 0.2
    x = torch.randn(B, Cin, T, H, W, dtype=torch.float64)
    conv = torch.randn(C, Cin, dtype=torch.float64)  # a 1×1×1 conv
    head = torch.randn(E, C, dtype=torch.float64)
    keys = torch.nn.functional.normalize(torch.randn(B, E, dtype=torch.float64), dim=1)
    queue = torch.nn.functional.normalize(torch.randn(K, E, dtype=torch.float64), dim=1)

    # autograd through the library
    features = torch.einsum("oc,bcthw->bothw", conv, x).requires_grad_(True)
    z = features.flatten(2).mean(2) @ head.T
    loss = MoCoLoss(tau)(torch.nn.functional.normalize(z, dim=1), keys, queue)
    cam = grad_cam(features, score_gradients(loss, features, create_graph=False))

    # by hand: S = −L, L = mean_b −log softmax(logits_b)[0], logits_b = q_b·[k_b, Q]/τ, q = z/|z|,
    # z = A · mean_pos F  ⇒  ∂S/∂F_b,c,pos = −(1/B) (Aᵀ (I − q qᵀ)/|z| · Σ_j (p_j − e0_j) c_j/τ)_c / N
    N = T * H * W
    with torch.no_grad():
        F_ = torch.einsum("oc,bcthw->bothw", conv, x)
        cam_ref = torch.zeros(B, T, H, W, dtype=torch.float64)
        for b in range(B):
            zb = head @ F_[b].reshape(C, N).mean(1)
            qb = zb / zb.norm()
            candidates = torch.cat([keys[b : b + 1], queue])  # (1 + K, E)
            logits = [float(qb @ c) / tau for c in candidates]
            top = max(logits)
            exps = [math.exp(v - top) for v in logits]
            p = [e / sum(exps) for e in exps]
            dl_dq = sum((p[j] - (1.0 if j == 0 else 0.0)) * candidates[j] / tau for j in range(1 + K))
            dl_dz = (torch.eye(E, dtype=torch.float64) - torch.outer(qb, qb)) @ dl_dq / zb.norm()
            dl_dpooled = head.T @ dl_dz  # (C,)
            grad_score = -dl_dpooled / (B * N)  # the same at every position
            alpha = grad_score  # mean over positions of a constant
            for t in range(T):
                for i in range(H):
                    for j in range(W):
                        cam_ref[b, t, i, j] = max(
                            0.0, float(sum(alpha[c] * F_[b, c, t, i, j] for c in range(C)))
                        )
    assert torch.allclose(cam, cam_ref, atol=1e-12, rtol=1e-9)
    assert (cam_ref > 0).any() and (cam_ref == 0).any()  # both sides of the ReLU exercised


def test_grad_cam_weights_are_spatially_averaged_gradients() -> None:
    torch.manual_seed(1)
    features, grads = torch.randn(2, 3, 2, 4, 4), torch.randn(2, 3, 2, 4, 4)
    cam = grad_cam(features, grads)
    for b in range(2):
        alpha = [grads[b, c].mean() for c in range(3)]
        ref = torch.relu(sum(alpha[c] * features[b, c] for c in range(3)))
        assert torch.allclose(cam[b], ref, atol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        grad_cam(features, grads[:, :2])


def _peak(values: list[float]) -> list[float]:
    top = max(values)
    return [v / (top + 1e-8) for v in values]


def naive_alignment(cam: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """The three views by loops: pool, scale each map to peak 1, mean squared difference, mean over the batch."""
    B, T, H, W = cam.shape
    out = {"spatial": 0.0, "temporal": 0.0, "spatiotemporal": 0.0}
    for b in range(B):
        a_s = _peak([sum(float(cam[b, t, i, j]) for t in range(T)) / T for i in range(H) for j in range(W)])
        b_s = _peak(
            [sum(float(target[b, t, i, j]) for t in range(T)) / T for i in range(H) for j in range(W)]
        )
        out["spatial"] += sum((u - v) ** 2 for u, v in zip(a_s, b_s)) / (H * W) / B
        a_t = _peak(
            [sum(float(cam[b, t, i, j]) for i in range(H) for j in range(W)) / (H * W) for t in range(T)]
        )
        b_t = _peak(
            [sum(float(target[b, t, i, j]) for i in range(H) for j in range(W)) / (H * W) for t in range(T)]
        )
        out["temporal"] += sum((u - v) ** 2 for u, v in zip(a_t, b_t)) / T / B
        a_st = _peak([float(cam[b, t, i, j]) for t in range(T) for i in range(H) for j in range(W)])
        b_st = _peak([float(target[b, t, i, j]) for t in range(T) for i in range(H) for j in range(W)])
        out["spatiotemporal"] += sum((u - v) ** 2 for u, v in zip(a_st, b_st)) / (T * H * W) / B
    return out


def test_each_alignment_term_equals_a_naive_loop_and_the_weights_switch_them() -> None:
    g = torch.Generator().manual_seed(2)
    cam = torch.rand(3, 2, 4, 5, generator=g, dtype=torch.float64)
    target = torch.rand(3, 2, 4, 5, generator=g, dtype=torch.float64)
    ref = naive_alignment(cam, target)
    total, terms = MotionAlignmentLoss(1.0, 1.0, 1.0)(cam, target)
    for view, value in ref.items():
        assert terms[f"align/{view}"].item() == pytest.approx(value, rel=1e-9)
    assert total.item() == pytest.approx(sum(ref.values()), rel=1e-9)
    total, terms = MotionAlignmentLoss(0.5, 0.0, 2.0)(cam, target)
    assert set(terms) == {"align/spatial", "align/spatiotemporal"}
    assert total.item() == pytest.approx(0.5 * ref["spatial"] + 2.0 * ref["spatiotemporal"], rel=1e-9)
    total, terms = MotionAlignmentLoss(0.0, 0.0, 0.0)(cam, target)
    assert terms == {} and total.item() == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        MotionAlignmentLoss(-1.0)


def test_aligned_maps_cost_nothing_and_the_target_carries_no_gradient() -> None:
    g = torch.Generator().manual_seed(3)
    target = torch.rand(2, 2, 3, 3, generator=g)
    total, _ = MotionAlignmentLoss()(3.0 * target, target)  # the scale does not matter
    assert total.item() == pytest.approx(0.0, abs=1e-10)
    cam = torch.rand(2, 2, 3, 3, generator=g, requires_grad=True)
    moving = target.clone().requires_grad_(True)
    MotionAlignmentLoss()(cam, moving)[0].backward()
    assert cam.grad is not None and moving.grad is None


def test_motion_target_is_the_average_over_each_cell() -> None:
    magnitude = torch.arange(2 * 4 * 6 * 6, dtype=torch.float32).view(2, 4, 6, 6)
    target = motion_target(magnitude, (2, 3, 3))
    assert target.shape == (2, 2, 3, 3)
    assert target[1, 1, 2, 0].item() == pytest.approx(magnitude[1, 2:4, 4:6, 0:2].mean().item())
