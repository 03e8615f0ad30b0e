"""Audio-visual segmentation head as the AVSBench authors released it (Zhou et al., "Audio-Visual
Segmentation", ECCV 2022, Fig. 2): per-stage channel reduction, TPAVI fusion at chosen stages and a
RefineNet-style top-down decoder (the fusion blocks of Ranftl et al., "Vision Transformers for Dense
Prediction", ICCV 2021) to one mask logit map per frame. The visual backbone only supplies 4 stage maps
(``feature_dims`` channels), so ResNet-50, PVT-v2 and the small CPU encoder share this head.

    V_i (B, D_i, T, h_i, w_i) ─ ASPP-like reduction Σ_{r∈3,6,12,18} conv3×3_dil r → (B, C, T, h_i, w_i)
                              ─ TPAVI(·, audio) at `tpavi_stages`
    P_4 = up(RCU(V_4));  P_i = up(RCU(P_{i+1} + RCU(V_i)))     up: bilinear, align_corners=True, to the
                                                              next stage's size (2× at the last)
    logits = conv1×1(relu(conv3×3(up_to_input(conv3×3(P_1)))))   → (B, T, H, W)

RCU(x) = relu(x) + conv3×3(relu(conv3×3(relu(x)))): the released unit applies an in-place ReLU to its
input before the residual sum, so the residual is relu(x), not x. The same in-place ReLU leaves every stage
map the decoder reads rectified, and the released audio-visual mapping loss reads those rectified maps:
:meth:`AVSegmentationHead.forward` returns relu(stage map) at each TPAVI stage for it.

At the released sizes (224 px, stage strides 4..32) every "up" is exactly the released ×2 interpolation;
the explicit target sizes let inputs whose size is not a multiple of 32 work too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from avssl.heads.tpavi import TPAVI

DILATIONS = (3, 6, 12, 18)


class ChannelReduction(nn.Module):
    """Σ of 3×3 convolutions (bias) with dilations 3, 6, 12, 18 (padding = dilation): (N, D, h, w) →
    (N, C, h, w); the released ``Classifier_Module``, weights initialised N(0, 0.01) as released."""

    def __init__(self, in_channels: int, channels: int, dilations: Sequence[int] = DILATIONS) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(in_channels, channels, 3, padding=d, dilation=d, bias=True) for d in dilations
        )
        for conv in self.branches:
            nn.init.normal_(conv.weight, 0.0, 0.01)

    def forward(self, x: Tensor) -> Tensor:
        out = self.branches[0](x)
        for conv in self.branches[1:]:
            out = out + conv(x)
        return out


class ResidualConvUnit(nn.Module):
    """relu(x) + conv3×3(relu(conv3×3(relu(x)))) on (N, C, h, w) (the released unit; see the module docstring)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(x)
        return self.conv2(F.relu(self.conv1(x))) + x


class FuseBlock(nn.Module):
    """Top-down step: RCU(top + RCU(lateral)), then bilinear (align_corners=True) up to ``size``; the
    released ``FeatureFusionBlock`` (``lateral`` = its ``resConfUnit1``, ``out`` = ``resConfUnit2``)."""

    def __init__(self, channels: int, lateral: bool = True) -> None:
        super().__init__()
        self.lateral = ResidualConvUnit(channels) if lateral else None
        self.out = ResidualConvUnit(channels)

    def forward(self, top: Tensor, lateral: Tensor | None, size: tuple[int, int]) -> Tensor:
        if self.lateral is not None and lateral is not None:
            top = top + self.lateral(lateral)
        return F.interpolate(self.out(top), size=size, mode="bilinear", align_corners=True)


def _per_frame(x: Tensor) -> Tensor:
    return rearrange(x, "b c t h w -> (b t) c h w")


class AVSegmentationHead(nn.Module):
    """4 visual stages (B, D_i, T, h_i, w_i) + audio (B, T, D_a) → logits (B, T, H, W).

    :meth:`forward` also returns, per TPAVI stage, the rectified fused map (B·T, C, h, w) and the audio
    feature (B·T, C) (inputs of the audio-visual mapping loss)."""

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
        self.reduce = nn.ModuleList(ChannelReduction(d, channels) for d in stage_dims)
        self.tpavi_stages = tuple(sorted(set(tpavi_stages)))
        self.tpavi = nn.ModuleDict({str(s): TPAVI(channels, audio_dim) for s in self.tpavi_stages})
        self.fuse = nn.ModuleList(FuseBlock(channels, lateral=s < 3) for s in range(4))
        hidden = max(channels // 2, 8)  # 128 at the released 256 channels
        self.output = nn.ModuleList(
            [
                nn.Conv2d(channels, hidden, 3, padding=1),
                nn.Conv2d(hidden, 32, 3, padding=1),
                nn.Conv2d(32, 1, 1),
            ]
        )

    def stage_maps(self, stages: Sequence[Tensor], audio: Tensor) -> tuple[list[Tensor], list[Tensor | None]]:
        """Reduced (and TPAVI-fused) stage maps (B·T, C, h_i, w_i) and the TPAVI audio (B·T, C) per stage."""
        batch = stages[0].shape[0]
        maps, audios = [], []
        for s, (x, reduce) in enumerate(zip(stages, self.reduce)):
            x = rearrange(reduce(_per_frame(x)), "(b t) c h w -> b c t h w", b=batch)
            audio_c = None
            if str(s) in self.tpavi:
                x, audio_c = self.tpavi[str(s)](x, audio)
                audio_c = rearrange(audio_c, "b t c -> (b t) c")
            maps.append(_per_frame(x))
            audios.append(audio_c)
        return maps, audios

    def decode(self, maps: Sequence[Tensor], out_size: tuple[int, int]) -> Tensor:
        """Stage maps (B·T, C, h_i, w_i) → mask logits (B·T, 1, H, W)."""
        targets = [tuple(m.shape[-2:]) for m in maps[:3]]
        p = self.fuse[3](maps[3], None, targets[2])
        for s in (2, 1):
            p = self.fuse[s](p, maps[s], targets[s - 1])
        h, w = targets[0]
        p = self.fuse[0](p, maps[0], (2 * h, 2 * w))
        conv1, conv2, conv3 = self.output
        p = F.interpolate(conv1(p), size=out_size, mode="bilinear", align_corners=False)
        return conv3(F.relu(conv2(p)))

    def forward(
        self, stages: Sequence[Tensor], audio: Tensor, out_size: tuple[int, int]
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """(logits (B, T, H, W), [(relu(fused map) (B·T, C, h, w), audio (B·T, C)) per TPAVI stage])."""
        batch, frames = stages[0].shape[0], stages[0].shape[2]
        maps, audios = self.stage_maps(stages, audio)
        logits = self.decode(maps, out_size)
        fused = [(F.relu(m), a) for m, a in zip(maps, audios) if a is not None]
        return rearrange(logits, "(b t) 1 h w -> b t h w", b=batch, t=frames), fused
