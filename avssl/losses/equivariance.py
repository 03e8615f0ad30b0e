"""Geometric equivariance of localization maps (SSL-TIE's transformation-equivariance loss).

Liu et al., "Exploiting Transformation Invariance and Equivariance for Self-supervised Sound Localisation",
ACM MM 2022: the map of a geometrically transformed frame must equal the transformed map,
``Phi(T(x)) = T(Phi(x))``. With ``pred = Phi(T(x))``, ``target = T(Phi(x))`` (B, h, w) and ``valid`` (B, h, w)
marking the locations whose content came from inside the original frame
(:func:`avssl.transforms.functional.geometry.geometry_valid_mask`)::

    L = sum_{b,x} valid_b(x) * d(pred_b(x), target_b(x)) / sum_{b,x} valid_b(x)
    d = (p - t)^2   ("mse", the paper's and code's choice)   or   |p - t|   ("l1")

Without a mask (``valid=None``) it is the plain mean over every location, which is what the released code
computes (there ``T(Phi(x))`` is zero where the warp filled). Gradients flow into both maps (the code's
default; detach ``target`` for a stop-gradient variant).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

Distance = Literal["mse", "l1"]


class MapEquivarianceLoss(nn.Module):
    """Masked mean distance between ``Phi(T(x))`` and ``T(Phi(x))``; see the module docstring."""

    def __init__(self, distance: Distance = "mse") -> None:
        super().__init__()
        if distance not in ("mse", "l1"):
            raise ValueError(f"distance must be 'mse' or 'l1', got {distance!r}")
        self.distance = distance

    def forward(self, pred: Tensor, target: Tensor, valid: Tensor | None = None) -> Tensor:
        """pred, target (B, h, w) (or any equal shapes); valid bool/float of the same shape or None."""
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        dtype = torch.promote_types(pred.dtype, torch.float32)  # half -> float32
        diff = pred.to(dtype) - target.to(dtype)
        dist = diff.square() if self.distance == "mse" else diff.abs()
        if valid is None:
            return dist.mean()
        weights = valid.to(dist.dtype)
        return (weights * dist).sum() / weights.sum().clamp_min(1.0)
