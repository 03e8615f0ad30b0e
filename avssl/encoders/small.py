"""Small convolutional encoders for CPU-scale work: tests, the demo, laptops, quick ablations.

`SmallConvNet`: 3×3 conv → BatchNorm → ReLU blocks, each halving the resolution (stride 2), widths
`width·(1, 2, 4, 8)` (3 blocks for output stride 8, 4 for 16, a fifth of width 8·width for 32); with output stride 16 a 224-px
frame gives a 14×14 map like the localization papers' ResNets with output stride 16, at about 2% of
ResNet-18's cost. `SmallVisualEncoder` applies it per frame
((B, C, H, W) → (B, D, h, w); (B, C, T, H, W) → (B, D, T, h, w)); `SmallAudioEncoder` puts the log-mel front
end in front of it ((B, ch, S) → (B, D, n_mels/16, frames/16)). `SmallVideoEncoder` is its 3D sibling for
clips: 3×3×3 conv → BatchNorm → ReLU blocks that also see time (a per-frame encoder averaged over frames
cannot tell "left" from "right": both show the same set of positions). `SmallVisualEncoder.forward_features`
returns the outputs of the last four blocks (strides 2-16 at output stride 16, 4-32 at 32) for multi-scale
decoders (audio-visual segmentation).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from avssl.encoders.audio import build_frontend
from avssl.encoders.config import AudioFrontEndConfig


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ContextBlock(nn.Module):
    """Residual dilated 3×3 conv → BatchNorm → ReLU at constant resolution: widens the receptive field
    without lowering the map's resolution (the role of dilation in output-stride-16 ResNets; Yu & Koltun,
    "Multi-Scale Context Aggregation by Dilated Convolutions", ICLR 2016)."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return (x + self.bn(self.conv(x))).relu()


class SmallConvNet(nn.Module):
    """(B, in_channels, H, W) → (B, 8·width, H/s, W/s), s = output_stride (8, 16 or 32).

    `context` > 0 appends that many `ContextBlock`s (dilations 2, 4, 8, …) on the last map: at output
    stride 8 two of them take the receptive field from 15 px to about 111 px, so a 14×14 map of a 112-px
    frame sees whole objects (the plain stride-8 net only sees 15-px patches: noisy localization maps)."""

    def __init__(self, in_channels: int = 3, width: int = 32, output_stride: int = 16, context: int = 0):
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        widths = [width, 2 * width, 4 * width, 8 * width, 8 * width][: {8: 3, 16: 4, 32: 5}[output_stride]]
        self.blocks = nn.Sequential(
            *[_block(c_in, c_out) for c_in, c_out in zip([in_channels, *widths[:-1]], widths)]
        )
        self.out_dim: int = widths[-1]
        self.context = nn.Sequential(*[ContextBlock(widths[-1], 2 ** (i + 1)) for i in range(context)])

    def forward(self, x: Tensor) -> Tensor:
        return self.context(self.blocks(x))


class SmallVisualEncoder(nn.Module):
    """Per-frame SmallConvNet: images (B, C, H, W) → (B, D, h, w); videos (B, C, T, H, W) → (B, D, T, h, w)."""

    def __init__(self, in_channels: int = 3, width: int = 32, output_stride: int = 16, context: int = 0):
        super().__init__()
        self.net = SmallConvNet(in_channels, width, output_stride, context)
        self.out_dim: int = self.net.out_dim
        self.in_channels, self.input_kind = in_channels, "image"
        self.feature_dims: tuple[int, ...] = tuple(b[0].out_channels for b in self.net.blocks)[-4:]

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Outputs of the last 4 blocks ((B, D_i, h_i, w_i), or per frame (B, D_i, T, h_i, w_i) for clips),
        finest first, `feature_dims` channels; at output stride 8 (3 blocks) the 3 there are."""
        clip = x.ndim == 5
        if clip:
            batch = x.shape[0]
            x = rearrange(x, "b c t h w -> (b t) c h w")
        maps = []
        for block in self.net.blocks:
            x = block(x)
            maps.append(x)
        maps[-1] = self.net.context(maps[-1])
        maps = maps[-4:]
        if clip:
            maps = [rearrange(m, "(b t) d h w -> b d t h w", b=batch) for m in maps]
        return maps

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 4:
            return self.net(x)
        b, c, t, h, w = x.shape
        maps = self.net(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B·T, D, h', w')
        return maps.reshape(b, t, *maps.shape[1:]).transpose(1, 2)


def _block3d(cin: int, cout: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class SmallVideoEncoder(nn.Module):
    """A 4-block 3D CNN for CPU-scale video work: (B, C, T, H, W) → (B, 8·width, ⌈T/4⌉, ⌈H/16⌉, ⌈W/16⌉).

    Widths `width·(1, 2, 4, 8)`; every block halves the resolution, blocks 2 and 3 also halve time (the
    R3D layout of Tran et al., "A closer look at spatiotemporal convolutions for action recognition",
    CVPR 2018, shrunk to 0.29 M parameters at width 16): an 8-frame 64-px clip gives a (128, 2, 4, 4) map."""

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        strides = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)]
        self.blocks = nn.Sequential(
            *[
                _block3d(c_in, c_out, s)
                for c_in, c_out, s in zip([in_channels, *widths[:-1]], widths, strides)
            ]
        )
        self.out_dim: int = widths[-1]
        self.in_channels, self.input_kind = in_channels, "clip"

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, D, t, h, w)."""
        if x.ndim != 5:
            raise ValueError(f"expected a clip (B, C, T, H, W), got shape {tuple(x.shape)}")
        return self.blocks(x)


class SmallAudioEncoder(nn.Module):
    """Log-mel front end + SmallConvNet: waveform (B, ch, S) → (B, D, n_mels/16, frames/16)."""

    def __init__(self, cfg: AudioFrontEndConfig, width: int = 32, output_stride: int = 16):
        super().__init__()
        self.frontend = build_frontend(cfg)
        self.net = SmallConvNet(1, width, output_stride)
        self.out_dim: int = self.net.out_dim
        self.in_channels, self.input_kind = 1, "waveform"

    def forward(self, wave: Tensor) -> Tensor:
        return self.net(self.frontend(wave))
