"""PVT-v2 (Wang et al., "PVT v2: Improved Baselines with Pyramid Vision Transformer", CVM 2022) through
`timm`, an optional dependency: the AVS paper's stronger backbone (pvt_v2_b5, Zhou et al., ECCV 2022).

``forward_features`` returns the 4 stage maps (strides 4, 8, 16, 32; dims 64, 128, 320, 512 for b2-b5);
``forward`` the last one. Nothing is downloaded: weights come from a local file through the encoder
config (``weights_source="encoder"``: a state dict of timm's ``features_only`` model, e.g. timm's
converted ImageNet checkpoint saved with ``model.state_dict()``).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

PVT_ARCHS = ("pvt_v2_b2", "pvt_v2_b5")


def _timm():
    try:
        import timm
    except ImportError:
        raise ImportError(
            "the PVT-v2 encoders need the optional package timm: pip install timm "
            "(or use the resnet50 visual encoder)"
        ) from None
    return timm


class PVTv2Encoder(nn.Module):
    """Images (B, 3, H, W) → (B, 512, H/32, W/32); clips per frame (B, 3, T, H, W) → (B, 512, T, …)."""

    input_kind = "image"
    classifier_layout = None

    def __init__(self, arch: str = "pvt_v2_b5") -> None:
        super().__init__()
        if arch not in PVT_ARCHS:
            raise ValueError(f"unknown PVT-v2 {arch!r}; choose from {PVT_ARCHS}")
        self.net = _timm().create_model(arch, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3))
        self.feature_dims: tuple[int, ...] = tuple(self.net.feature_info.channels())
        self.out_dim: int = self.feature_dims[-1]
        self.in_channels = 3

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """The 4 stage maps, 4-D or (per frame) 5-D like the input."""
        clip = x.ndim == 5
        if clip:
            batch = x.shape[0]
            x = rearrange(x, "b c t h w -> (b t) c h w")
        maps = list(self.net(x))
        if clip:
            maps = [rearrange(m, "(b t) d h w -> b d t h w", b=batch) for m in maps]
        return maps

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)[-1]
