"""Spatial sound super-resolution head: mono mix + visual features → complex mask → left−right STFT.

After Gao & Grauman, "2.5D Visual Sound", CVPR 2019 (Mono2Binaural): the mixture X = STFT(L + R) as real
and imaginary channels (B, 2, F, T) goes through a small convolutional U-Net whose bottleneck is
concatenated with the visual feature vector (broadcast over frequency and time); the output is a complex
mask M (tanh-bounded real/imag parts) and the predicted difference D̂ = M · X (complex product). The
binaural pair follows as L̂ = (X + D̂)/2, R̂ = (X − D̂)/2. Trained with the MSE between D̂ and STFT(L − R).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SpatialSuperResolution(nn.Module):
    """(mixture (B, 2, F, T) real/imag, visual (B, Dv)) → complex mask (B, 2, F, T)."""

    def __init__(self, visual_dim: int, width: int = 32, visual_proj: int = 64):
        super().__init__()
        self.down = nn.ModuleList([_down(2, width), _down(width, 2 * width), _down(2 * width, 4 * width)])
        self.visual = nn.Linear(visual_dim, visual_proj)
        self.fuse = _up(4 * width + visual_proj, 4 * width)
        self.up = nn.ModuleList([_up(8 * width, 2 * width), _up(4 * width, width), _up(2 * width, width)])
        self.out = nn.Conv2d(width, 2, 1)

    def forward(self, mixture: Tensor, visual: Tensor) -> Tensor:
        x, skips = mixture, []
        for block in self.down:
            x = block(x)
            skips.append(x)
        v = self.visual(visual)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        x = self.fuse(torch.cat([x, v], dim=1))
        for block, skip in zip(self.up, reversed(skips)):
            x = (
                F.interpolate(x, size=skip.shape[-2:], mode="nearest")
                if x.shape[-2:] != skip.shape[-2:]
                else x
            )
            x = F.interpolate(block(torch.cat([x, skip], dim=1)), scale_factor=2, mode="nearest")
        x = F.interpolate(x, size=mixture.shape[-2:], mode="nearest")
        return torch.tanh(self.out(x))


def apply_mask(mask: Tensor, mixture: Tensor) -> Tensor:
    """Complex product of a real/imag mask and mixture, both (B, 2, F, T) → (B, 2, F, T)."""
    mr, mi = mask[:, 0], mask[:, 1]
    xr, xi = mixture[:, 0], mixture[:, 1]
    return torch.stack([mr * xr - mi * xi, mr * xi + mi * xr], dim=1)
