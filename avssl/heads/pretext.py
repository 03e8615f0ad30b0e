"""Pretext-task classifiers: position-keeping pooling of visual maps and an MLP over fused features.

The binaural pretext tasks (spatial alignment, temporal synchronisation, temporal gap; see
`avssl.tasks.binaural_pretext`) ask *where* things are in the frame: global average pooling throws the
position away, so visual maps are first reduced by a 1×1 conv and average-pooled onto a coarse grid
(`GridPool`), which keeps left/right and up/down. `PretextClassifier` is the MLP on the concatenation.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class GridPool(nn.Module):
    """(B, D, h, w) or per frame (B, D, T, h, w) → (B, reduce_dim · grid²): 1×1 conv, ReLU, average pool
    onto a grid × grid layout (frames averaged), flattened row-major."""

    def __init__(self, in_dim: int, reduce_dim: int = 32, grid: int = 4):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_dim, reduce_dim, 1), nn.ReLU(inplace=True))
        self.grid = grid
        self.out_dim = reduce_dim * grid * grid

    def forward(self, maps: Tensor) -> Tensor:
        if maps.ndim == 5:
            maps = maps.mean(2)  # (B, D, h, w): frames of a short clip averaged
        pooled = F.adaptive_avg_pool2d(self.reduce(maps), self.grid)  # (B, r, g, g)
        return pooled.flatten(1)


class PretextClassifier(nn.Module):
    """Linear → ReLU → Linear on concatenated features: (B, in_dim) → (B, num_classes) logits."""

    def __init__(self, in_dim: int, num_classes: int, hidden_dim: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, num_classes)
        )
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
