"""2D frame CNNs: torchvision ResNet-18 / ResNet-50 (He et al., "Deep Residual Learning
for Image Recognition", CVPR 2016) truncated before global pooling.

``(B, C, H, W) → (B, D, H/s, W/s)`` and, frame by frame, ``(B, C, T, H, W) → (B, D, T, H/s, W/s)``, with
D = 512 (ResNet-18) or 2048 (ResNet-50) and output stride s = 32, or 16 with the last stage dilated
(DeepLab v3: Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017): 14×14 maps
at 224 px, as sound-localization methods use (SSL-TIE, LVS); ``dilate=False`` keeps the last stage at stride
1 *without* dilation, as the LVS / SSL-TIE released ResNet-18 is built. :meth:`ResNet2dEncoder.forward_features` returns
the stage outputs C2..C5 (strides 4, 8, 16, 32|16) for multi-scale decoders (AVS/TPAVI: Zhou et al.,
"Audio-Visual Segmentation", ECCV 2022). Module names are torchvision's, so a torchvision checkpoint loads
with ``fc.*`` ignored (``weights_source="classifier"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torchvision.models as tvm
from einops import rearrange
from torch import Tensor, nn

from avssl.encoders.weights import ClassifierLayout

ResNetArch = Literal["resnet18", "resnet50"]

_BUILDERS: dict[str, Callable[..., tvm.ResNet]] = {"resnet18": tvm.resnet18, "resnet50": tvm.resnet50}
STAGE_DIMS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (64, 128, 256, 512),
    "resnet50": (256, 512, 1024, 2048),
}


def undilate_last_stage(stage: nn.Sequential) -> None:
    """Give ``stage``'s strided convs (first block's 3×3 and its 1×1 shortcut) stride 1, in place, without
    dilating anything after them: the LVS / SSL-TIE released ResNet-18 (``layer4`` built with stride 1)."""
    for conv in stage.modules():
        if isinstance(conv, nn.Conv2d) and conv.stride == (2, 2):
            conv.stride = (1, 1)


def dilate_last_stage(stage: nn.Sequential) -> None:
    """Replace ``stage``'s stride 2 by dilation 2, in place, keeping every weight's shape.

    The strided conv gets stride 1 and every 3×3 conv after it dilation 2 (padding 2), so each later
    filter sees the same input extent as at stride 32. For Bottleneck stages this equals torchvision's
    ``replace_stride_with_dilation``; torchvision refuses it for BasicBlock (ResNet-18), hence this function.
    """
    after_stride = False
    for conv in stage.modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        if conv.stride == (2, 2):
            conv.stride, after_stride = (1, 1), True
        elif after_stride and conv.kernel_size == (3, 3):
            conv.dilation, conv.padding = (2, 2), (2, 2)


class ResNet2dEncoder(nn.Module):
    """Truncated torchvision ResNet: images (B, C, H, W) → (B, D, h, w); clips (B, C, T, H, W) → (B, D, T, h, w)."""

    input_kind = "image"
    classifier_layout = ClassifierLayout(module="", head=("fc.",), first_conv="conv1.weight")

    def __init__(
        self,
        arch: ResNetArch = "resnet18",
        in_channels: int = 3,
        output_stride: int = 32,
        dilate: bool = True,
    ) -> None:
        super().__init__()
        if arch not in _BUILDERS:
            raise ValueError(f"unknown ResNet {arch!r}; choose from {sorted(_BUILDERS)}")
        if output_stride not in (16, 32):
            raise ValueError(f"output_stride must be 32 or 16, got {output_stride}")
        net = _BUILDERS[arch](weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        if output_stride == 16:
            (dilate_last_stage if dilate else undilate_last_stage)(net.layer4)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.in_channels = in_channels
        self.output_stride = output_stride
        self.feature_dims: tuple[int, ...] = STAGE_DIMS[arch]
        self.out_dim: int = STAGE_DIMS[arch][-1]

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Stage outputs [C2, C3, C4, C5] with ``feature_dims`` channels; 4D or (per frame) 5D like the input."""
        if x.ndim not in (4, 5):
            raise ValueError(f"expected (B, C, H, W) or (B, C, T, H, W), got shape {tuple(x.shape)}")
        batch, clip = x.shape[0], x.ndim == 5
        if clip:
            x = rearrange(x, "b c t h w -> (b t) c h w")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        maps = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            maps.append(x)
        if clip:  # frames back on their own axis
            maps = [rearrange(m, "(b t) d h w -> b d t h w", b=batch) for m in maps]
        return maps

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → (B, out_dim, H/s, W/s) or (B, C, T, H, W) → (B, out_dim, T, H/s, W/s)."""
        return self.forward_features(x)[-1]
