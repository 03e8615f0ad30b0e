"""Projection and prediction MLPs (SimCLR / MoCo v2 / BYOL style heads on pooled features)."""

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
