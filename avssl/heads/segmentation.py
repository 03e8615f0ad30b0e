"""Audio-visual segmentation head: per-stage channel reduction, TPAVI fusion at chosen stages and an
FPN-style top-down decoder to one mask logit map per frame (Zhou et al., "Audio-Visual Segmentation",
ECCV 2022, Fig. 2; the decoder is a Panoptic-FPN / RefineNet-style fusion of the 4 stages).

    stages V_1..V_4 (B, D_i, T, h_i, w_i) ─ 3×3 conv → (B, C, T, h_i, w_i) ─ TPAVI(·, audio) at `tpavi_stages`
    P_4 = RCU(V_4);  P_i = RCU(RCU(V_i) + up(P_{i+1}))        (RCU: x + conv(relu(conv(relu(x)))))
    logits = conv1×1(relu(conv3×3(up_to_input(conv3×3(P_1)))))   → (B, T, H, W)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from avssl.heads.tpavi import TPAVI


class ResidualConvUnit(nn.Module):
    """x + conv3×3(relu(conv3×3(relu(x)))) on (N, C, h, w)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FuseBlock(nn.Module):
    """Top-down step: RCU(lateral + upsampled top) with the lateral refined first; (N, C, h, w)."""

    def __init__(self, channels: int, lateral: bool = True) -> None:
        super().__init__()
        self.lateral = ResidualConvUnit(channels) if lateral else None
        self.out = ResidualConvUnit(channels)

    def forward(self, top: Tensor, lateral: Tensor | None = None) -> Tensor:
        if self.lateral is None or lateral is None:
            return self.out(top)
        top = F.interpolate(top, size=lateral.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(self.lateral(lateral) + top)


def _per_frame(x: Tensor) -> Tensor:
    return rearrange(x, "b c t h w -> (b t) c h w")


class AVSegmentationHead(nn.Module):
    """4 visual stages (B, D_i, T, h_i, w_i) + audio (B, T, D_a) → logits (B, T, H, W).

    :meth:`forward` also returns, per TPAVI stage, the fused map (B·T, C, h, w) and the audio feature
    (B·T, C) (inputs of the audio-visual mapping loss)."""

    def __init__(
        self,
        stage_dims: Sequence[int],
        audio_dim: int,
        channels: int = 256,
        tpavi_stages: Sequence[int] = (0, 1, 2, 3),
    ) -> None:
        super().__init__()
        if len(stage_dims) != 4:
            raise ValueError(f"the decoder needs 4 visual stages, got {len(stage_dims)}")
        if any(s not in range(4) for s in tpavi_stages):
            raise ValueError(f"tpavi_stages must be in 0..3, got {list(tpavi_stages)}")
        self.reduce = nn.ModuleList(nn.Conv2d(d, channels, 3, padding=1, bias=False) for d in stage_dims)
        self.tpavi_stages = tuple(sorted(set(tpavi_stages)))
        self.tpavi = nn.ModuleDict({str(s): TPAVI(channels, audio_dim) for s in self.tpavi_stages})
        self.fuse = nn.ModuleList(FuseBlock(channels, lateral=s < 3) for s in range(4))
        self.output = nn.ModuleList(
            [
                nn.Conv2d(channels, max(channels // 2, 8), 3, padding=1),
                nn.Conv2d(max(channels // 2, 8), 32, 3, padding=1),
                nn.Conv2d(32, 1, 1),
            ]
        )

    def forward(
        self, stages: Sequence[Tensor], audio: Tensor, out_size: tuple[int, int]
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """(logits (B, T, H, W), [(fused map (B·T, C, h, w), audio (B·T, C)) per TPAVI stage])."""
        batch, frames = stages[0].shape[0], stages[0].shape[2]
        maps, fused = [], []
        for s, (x, reduce) in enumerate(zip(stages, self.reduce)):
            x = rearrange(reduce(_per_frame(x)), "(b t) c h w -> b c t h w", b=batch)
            if str(s) in self.tpavi:
                x, audio_c = self.tpavi[str(s)](x, audio)
                fused.append((_per_frame(x), rearrange(audio_c, "b t c -> (b t) c")))
            maps.append(_per_frame(x))
        p = self.fuse[3](maps[3])
        for s in (2, 1, 0):
            p = self.fuse[s](p, maps[s])
        conv1, conv2, conv3 = self.output
        p = F.interpolate(conv1(p), size=out_size, mode="bilinear", align_corners=False)
        logits = conv3(F.relu(conv2(p)))  # (B·T, 1, H, W)
        return rearrange(logits, "(b t) 1 h w -> b t h w", b=batch, t=frames), fused
