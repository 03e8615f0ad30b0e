"""3D video CNNs truncated before global pooling: clips (B, C, T, H, W) → maps (B, D, t, h, w).

- R3D-18 and R(2+1)D-18 (Tran et al., "A closer look at spatiotemporal convolutions for action
  recognition", CVPR 2018), from torchvision: D = 512, t = ⌈T/8⌉, h = ⌈H/16⌉ (stem stride (1, 2, 2), then
  stride 2 in time and space at the start of stages 2-4).
- X3D-S (Feichtenhofer, "X3D: expanding architectures for efficient video recognition", CVPR 2020) and
  Slow-R50 (the Slow pathway of Feichtenhofer et al., "SlowFast Networks for Video Recognition", ICCV 2019),
  built by pytorchvideo's ``create_x3d`` / ``create_resnet`` with the hub's architecture numbers (nothing is
  downloaded), head block removed: X3D-S D = 192 (the last stage; the head's 432-channel pre-pool conv is part
  of the removed head), Slow-R50 D = 2048; both t = T, h = ⌈H/32⌉.

pytorchvideo is imported inside the two builders only, so importing :mod:`avssl.encoders` stays fast and
works for the other families without it.

Module names follow the source library, so the full classifier's checkpoint loads with
``weights_source="classifier"`` (``fc.*`` / the head block ignored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torchvision.models.video as tvv
from torch import Tensor, nn

from avssl.encoders.weights import ClassifierLayout

VideoResNetArch = Literal["r3d_18", "r2plus1d_18"]
PyTorchVideoArch = Literal["x3d_s", "slow_r50"]

_TORCHVISION: dict[str, Callable[..., tvv.VideoResNet]] = {
    "r3d_18": tvv.r3d_18,
    "r2plus1d_18": tvv.r2plus1d_18,
}


def _check_clip(x: Tensor) -> None:
    if x.ndim != 5:
        raise ValueError(f"expected a clip (B, C, T, H, W), got shape {tuple(x.shape)}")


class VideoResNetEncoder(nn.Module):
    """Torchvision R3D-18 / R(2+1)D-18 without avgpool and fc: (B, C, T, H, W) → (B, 512, T/8, H/16, W/16)."""

    input_kind = "clip"
    classifier_layout = ClassifierLayout(module="", head=("fc.",), first_conv="stem.0.weight")

    def __init__(self, arch: VideoResNetArch = "r3d_18", in_channels: int = 3) -> None:
        super().__init__()
        if arch not in _TORCHVISION:
            raise ValueError(f"unknown video ResNet {arch!r}; choose from {sorted(_TORCHVISION)}")
        net = _TORCHVISION[arch](weights=None)
        if in_channels != 3:
            old = net.stem[0]
            net.stem[0] = nn.Conv3d(
                in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False
            )
            nn.init.kaiming_normal_(net.stem[0].weight, mode="fan_out", nonlinearity="relu")
        self.stem = net.stem
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.in_channels = in_channels
        self.out_dim: int = 512

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, 512, t, h, w)."""
        _check_clip(x)
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _x3d_s(in_channels: int) -> nn.Module:
    from pytorchvideo.models.x3d import create_x3d  # imported only where its models are built (slow import)

    # X3D-S = X3D-XS architecture (width ×2, depth ×2.2) fed 13 frames at 160 px; clip length and crop
    # only size the (removed) head's pooling.
    return create_x3d(
        input_channel=in_channels,
        input_clip_length=13,
        input_crop_size=160,
        width_factor=2.0,
        depth_factor=2.2,
    )


def _slow_r50(in_channels: int) -> nn.Module:
    from pytorchvideo.models.resnet import create_resnet  # imported only where its models are built

    # Slow pathway: no temporal stem kernel, temporal kernels (3) only in res4/res5 (create_resnet's default).
    return create_resnet(
        input_channel=in_channels,
        model_depth=50,
        stem_conv_kernel_size=(1, 7, 7),
        head_pool_kernel_size=(8, 7, 7),
    )


_PYTORCHVIDEO: dict[str, tuple[Callable[[int], nn.Module], int, str]] = {
    # name: (builder, feature dim, first conv key)
    "x3d_s": (_x3d_s, 192, "blocks.0.conv.conv_t.weight"),
    "slow_r50": (_slow_r50, 2048, "blocks.0.conv.weight"),
}


class PyTorchVideoEncoder(nn.Module):
    """X3D-S / Slow-R50 blocks up to the head: (B, C, T, H, W) → (B, 192 | 2048, T, H/32, W/32)."""

    input_kind = "clip"

    def __init__(self, arch: PyTorchVideoArch = "x3d_s", in_channels: int = 3) -> None:
        super().__init__()
        if arch not in _PYTORCHVIDEO:
            raise ValueError(f"unknown pytorchvideo model {arch!r}; choose from {sorted(_PYTORCHVIDEO)}")
        build, dim, first_conv = _PYTORCHVIDEO[arch]
        blocks = build(in_channels).blocks
        self.blocks = nn.ModuleList(blocks[:-1])
        self.classifier_layout = ClassifierLayout(
            module="", head=(f"blocks.{len(blocks) - 1}.",), first_conv=first_conv
        )
        self.in_channels = in_channels
        self.out_dim: int = dim

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, out_dim, T, H/32, W/32)."""
        _check_clip(x)
        for block in self.blocks:
            x = block(x)
        return x
