"""Audio-conditioned similarity maps: the localization head of LVS, EZ-VSL and SSL-TIE.

A visual feature map ``v`` (B, D_v, h, w) and an audio feature ``a`` (B, D_a) (or an audio map (B, D_a, f, t),
pooled first) are optionally projected (1x1 conv ``P_v``, linear ``P_a``) and L2-normalised::

    v_hat_j(x) = P_v v_j(x) / ||P_v v_j(x)||,     a_hat_i = P_a a_i / ||P_a a_i||
    S_ij(x)    = <a_hat_i, v_hat_j(x)>  in [-1, 1]                      (cosine at location x)

The paired map ``S_ii`` (B, h, w) says where clip i's own sound is; the all-pairs maps ``S`` (B_a, B_v, h, w)
feed the contrastive losses. Papers (and their released code): Chen et al., "Localizing Visual Sounds the
Hard Way" (LVS, CVPR 2021: no projection, audio max-pooled); Mo & Morgado, "Localizing Visual Sounds the
Easy Way" (EZ-VSL, ECCV 2022: 1x1-conv / linear projections to 512-d, audio max-pooled); Liu et al.,
"Exploiting Transformation Invariance and Equivariance for Self-supervised Sound Localisation" (SSL-TIE, ACM
MM 2022: as LVS).

Clips with T > 1 frames: ``reduce_time`` either keeps the middle frame (index T // 2) or averages the
per-frame feature maps over T. The tasks pick the middle frame *before* encoding (one frame encoded, as the
papers train on single frames) and use ``"mean"`` only when asked to pool a clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FrameMode = Literal["middle", "mean"]
AudioPool = Literal["max", "mean"]


def reduce_time(features: Tensor, mode: FrameMode) -> Tensor:
    """(B, D, h, w) unchanged; (B, D, T, h, w) -> (B, D, h, w): frame T // 2 (``"middle"``) or mean over T."""
    if features.ndim == 4:
        return features
    if features.ndim != 5:
        raise ValueError(f"expected (B, D, h, w) or (B, D, T, h, w) features, got {tuple(features.shape)}")
    if mode == "middle":
        return features[:, :, features.shape[2] // 2]
    if mode == "mean":
        return features.mean(dim=2)
    raise ValueError(f"frame mode must be 'middle' or 'mean', got {mode!r}")


def pool_audio(features: Tensor, mode: AudioPool = "max") -> Tensor:
    """(B, D) unchanged; (B, D, ...) -> (B, D) by max (LVS / EZ-VSL: adaptive max pool) or mean over the rest."""
    if features.ndim == 2:
        return features
    flat = features.flatten(2)  # (B, D, f*t)
    if mode == "max":
        return flat.amax(dim=2)
    if mode == "mean":
        return flat.mean(dim=2)
    raise ValueError(f"audio pooling must be 'max' or 'mean', got {mode!r}")


@dataclass
class MapRenderConfig:
    """How ``localize`` renders the paired cosine map it returns (``model.render``; training never sees it).

    ``temperature``: the map becomes a distribution over its locations, ``softmax(S(x) / temperature)``
    (``None``: the cosine map as it is). ``blur_sigma``: then a Gaussian blur of this many map cells (zero
    padding: mass outside the frame is lost; 0: none). The evaluation protocols keep the upper half of a map's
    pixels, so only the map's *order* counts: a from-scratch encoder's map is right at its peak but its
    off-peak order is texture noise, and the rendered map (the source distribution spread over the peak's
    neighbourhood) keeps that half around the source. Off by default, as every paper (and published run)
    scores the raw map.
    """

    temperature: float | None = None
    blur_sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"render.temperature must be > 0 (or null), got {self.temperature}")
        if not self.blur_sigma >= 0:
            raise ValueError(f"render.blur_sigma must be >= 0, got {self.blur_sigma}")

    @property
    def active(self) -> bool:
        return self.temperature is not None or self.blur_sigma > 0


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> Tensor:
    """Normalised 1-D Gaussian of standard deviation ``sigma`` over ``[-r, r]``, r = int(truncate·sigma + 0.5)
    (scipy.ndimage's support)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def blur_maps(maps: Tensor, sigma: float) -> Tensor:
    """(B, h, w) maps convolved with a separable Gaussian of ``sigma`` cells, zero padding; same shape."""
    if sigma <= 0:
        return maps
    kernel = gaussian_kernel1d(sigma).to(device=maps.device, dtype=maps.dtype)
    r = (kernel.numel() - 1) // 2
    x = maps.unsqueeze(1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0)), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r)), kernel.view(1, 1, -1, 1))
    return x.squeeze(1)


def render_map(maps: Tensor, cfg: MapRenderConfig) -> Tensor:
    """(B, h, w) cosine maps rendered as ``cfg`` says (see :class:`MapRenderConfig`); unchanged when off."""
    if cfg.temperature is not None:
        maps = torch.softmax(maps.flatten(1) / cfg.temperature, dim=1).view_as(maps)
    return blur_maps(maps, cfg.blur_sigma)


def cosine_map(visual: Tensor, audio: Tensor) -> Tensor:
    """Paired maps ``S_ii(x) = <a_i, v_i(x)>``: visual (B, D, h, w), audio (B, D), unit norm -> (B, h, w)."""
    return torch.einsum("bdhw,bd->bhw", visual, audio)


def cosine_map_all_pairs(visual: Tensor, audio: Tensor) -> Tensor:
    """All pairs ``S_ij(x) = <a_i, v_j(x)>``: visual (B_v, D, h, w), audio (B_a, D) -> (B_a, B_v, h, w)."""
    return torch.einsum("vdhw,ad->avhw", visual, audio)


class AudioVisualSimilarity(nn.Module):
    """Projection + L2 normalisation of both streams, and the cosine maps between them.

    Args:
        visual_dim: channels D_v of the visual map.
        audio_dim: channels D_a of the audio feature.
        embed_dim: projection width; ``None`` = no projection (LVS / SSL-TIE), then D_v must equal D_a.
        audio_pool: how an audio map (B, D_a, f, t) is pooled to (B, D_a) before the projection.
    """

    def __init__(
        self, visual_dim: int, audio_dim: int, embed_dim: int | None = None, audio_pool: AudioPool = "max"
    ) -> None:
        super().__init__()
        if embed_dim is None and visual_dim != audio_dim:
            raise ValueError(
                f"without a projection the widths must match: visual {visual_dim}, audio {audio_dim}"
            )
        self.visual_proj: nn.Module = (
            nn.Identity() if embed_dim is None else nn.Conv2d(visual_dim, embed_dim, kernel_size=1)
        )
        self.audio_proj: nn.Module = nn.Identity() if embed_dim is None else nn.Linear(audio_dim, embed_dim)
        self.audio_pool = audio_pool
        self.out_dim: int = visual_dim if embed_dim is None else embed_dim

    def visual(self, features: Tensor) -> Tensor:
        """(B, D_v, h, w) -> (B, D, h, w), unit norm at every location."""
        return F.normalize(self.visual_proj(features), dim=1)

    def audio(self, features: Tensor) -> Tensor:
        """(B, D_a) or (B, D_a, f, t) -> (B, D), unit norm."""
        return F.normalize(self.audio_proj(pool_audio(features, self.audio_pool)), dim=1)

    def forward(self, visual_features: Tensor, audio_features: Tensor) -> Tensor:
        """Paired cosine maps (B, h, w) from raw encoder features."""
        return cosine_map(self.visual(visual_features), self.audio(audio_features))
