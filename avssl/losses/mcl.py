"""MCL's motion alignment: the query's gradient map on a conv layer aligned with the clip's motion map.

Li, Zhang, Qiu, Yao, Liu & Mei, "Motion-Focused Contrastive Learning of Video Representations", ICCV 2021
(MCL), Sec. 3.3 "motion-focused feature learning": the gradient of the contrastive loss with respect to a
convolutional layer's feature map says where the network looks; a motion alignment loss pulls that map onto
the optical-flow magnitude of the clip, from three views — spatial (maps pooled over time), temporal (pooled
over space) and spatio-temporal (the full map) — added to InfoNCE and optimised end to end.

Our form of the gradient map is Grad-CAM's (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
Networks via Gradient-based Localization", ICCV 2017) with the contrastive objective as the score: for a
feature map F (B, C, t, h, w) and the gradient G = ∂S/∂F of the score S = −L_NCE (what raises the positive's
similarity against the negatives),

    α_bc = mean_{t,h,w} G_bc         (channel weights)
    M_b  = ReLU(Σ_c α_bc F_bc)       (B, t, h, w)

The target is the motion magnitude (flow vector length or mean |frame difference|) average-pooled to the
map's (t, h, w). Each view scales both maps to a maximum of 1 over its positions (`peak_normalise`) and
takes the mean squared difference:

    L_s  = mean_b mean_{h,w} (N(mean_t M_b) − N(mean_t V_b))²
    L_t  = mean_b mean_t     (N(mean_{h,w} M_b) − N(mean_{h,w} V_b))²
    L_st = mean_b mean_{t,h,w} (N(M_b) − N(V_b))²
    L    = w_s L_s + w_t L_t + w_st L_st      (a weight of 0 switches its term off: not computed)

The gradient map stays in the graph (computed with `create_graph=True` by the task), so the alignment
trains the encoder through both F and G; the motion target carries no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

VIEWS = ("spatial", "temporal", "spatiotemporal")


def grad_cam(features: Tensor, grads: Tensor) -> Tensor:
    """Grad-CAM of a clip map: features and their score gradients (B, C, t, h, w) → (B, t, h, w)
    ReLU(Σ_c mean_{t,h,w}(grads_c) · features_c)."""
    if features.shape != grads.shape or features.ndim < 3:
        raise ValueError(
            f"grad_cam needs features and gradients of one shape (B, C, ...), got "
            f"{tuple(features.shape)} and {tuple(grads.shape)}"
        )
    weights = grads.flatten(2).mean(2)  # (B, C)
    cam = (weights.view(*weights.shape, *([1] * (features.ndim - 2))) * features).sum(1)
    return F.relu(cam)


def motion_target(magnitude: Tensor, shape: tuple[int, ...]) -> Tensor:
    """(B, T', H, W) motion magnitude → (B, t, h, w) average-pooled onto the gradient map's grid."""
    if magnitude.ndim != 4:
        raise ValueError(f"motion magnitude must be (B, T', H, W), got {tuple(magnitude.shape)}")
    return F.adaptive_avg_pool3d(magnitude.float().unsqueeze(1), tuple(shape)).squeeze(1)


def peak_normalise(x: Tensor, dims: tuple[int, ...], eps: float = 1e-8) -> Tensor:
    """`x` divided by its maximum over `dims` (maps are ≥ 0): each map peaks at 1."""
    return x / (x.amax(dim=dims, keepdim=True) + eps)


def view_maps(cam: Tensor, target: Tensor, view: str) -> tuple[Tensor, Tensor]:
    """The (cam, target) pair of one view, both peak-normalised: spatial (B, h, w), temporal (B, t),
    spatio-temporal (B, t, h, w)."""
    if view == "spatial":
        a, b, dims = cam.mean(1), target.mean(1), (1, 2)
    elif view == "temporal":
        a, b, dims = cam.mean((2, 3)), target.mean((2, 3)), (1,)
    elif view == "spatiotemporal":
        a, b, dims = cam, target, (1, 2, 3)
    else:
        raise ValueError(f"unknown alignment view {view!r}; one of {', '.join(VIEWS)}")
    return peak_normalise(a, dims), peak_normalise(b, dims)


class MotionAlignmentLoss(nn.Module):
    """`forward(cam (B, t, h, w), target (B, t, h, w))` → (weighted sum, {"align/<view>": term}) over the
    views with a non-zero weight (see the module doc)."""

    def __init__(self, spatial: float = 1.0, temporal: float = 1.0, spatiotemporal: float = 1.0):
        super().__init__()
        self.weights = {"spatial": spatial, "temporal": temporal, "spatiotemporal": spatiotemporal}
        if any(w < 0 for w in self.weights.values()):
            raise ValueError(f"alignment weights must be >= 0, got {self.weights}")

    def forward(self, cam: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if cam.shape != target.shape or cam.ndim != 4:
            raise ValueError(
                f"cam and motion target must both be (B, t, h, w), got {tuple(cam.shape)} and {tuple(target.shape)}"
            )
        target = target.detach()
        total = cam.new_zeros(())
        terms: dict[str, Tensor] = {}
        for view, weight in self.weights.items():
            if weight == 0:
                continue
            a, b = view_maps(cam, target, view)
            term = (a - b).pow(2).flatten(1).mean(1).mean()
            terms[f"align/{view}"] = term
            total = total + weight * term
        return total, terms


def score_gradients(loss: Tensor, features: Tensor, create_graph: bool = True) -> Tensor:
    """∂(−loss)/∂features: the gradient of the contrastive score w.r.t. a conv map, kept in the graph
    (`create_graph`) so a loss on it trains the encoder."""
    (grad,) = torch.autograd.grad(-loss, features, create_graph=create_graph, retain_graph=True)
    return grad
