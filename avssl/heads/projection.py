"""Projection and prediction heads: MLPs on pooled features (SimCLR / MoCo v2 / BYOL) and DenseCL's dense
projection on feature maps."""

from __future__ import annotations

from torch import Tensor, nn


class MLPHead(nn.Module):
    """Linear → [BatchNorm] → ReLU → … → Linear: `num_layers` linear layers, hidden width `hidden_dim`.

    With `num_layers=1` it is a plain linear projection. Used as the projection head (Chen et al.,
    "A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR), ICML 2020: 2 layers;
    MoCo v2) and as BYOL's predictor (Grill et al., "Bootstrap Your Own Latent: A New Approach to
    Self-Supervised Learning", NeurIPS 2020: 2 layers with BN, hidden 4096).
    Input (B, in_dim) → output (B, out_dim).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden_dim: int = 2048, num_layers: int = 2, batch_norm: bool = True
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(width, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class DenseHead(nn.Module):
    """DenseCL's dense projection: (B, C, h, w) → (B, D, h·w) by 1×1 conv, ReLU, 1×1 conv.

    Wang, Zhang, Shen, Kong & Li, "Dense Contrastive Learning for Self-Supervised Visual Pre-Training",
    CVPR 2021 (Sec. 3.2: the dense projection head replaces the global MLP's linear layers by 1×1 convs).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_dim, hidden_dim, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden_dim, out_dim, 1)
        )

    def forward(self, maps: Tensor) -> Tensor:
        """(B, C, h, w) → (B, D, h·w), positions in row-major order."""
        return self.net(maps).flatten(2)
