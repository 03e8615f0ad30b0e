"""FAME: foreground-background merging on the video MoCo baseline.

Ding et al., "Motion-aware Contrastive Video Representation Learning via Foreground-background Merging",
CVPR 2022. Everything is `video_moco` (MoCo v2 on two clips of one video: query encoder, momentum key
encoder, queue, InfoNCE; `avssl.tasks.video_moco`) except the key clip: the second clip's moving
foreground — estimated from its frame differences and colour statistics, no detector
(`avssl.transforms.background.foreground_masks`, rule and foreground ratio from the config) — is pasted onto
the static background of another video of the batch (`fuse`, a random derangement of the batch). The
original first clip and the fused second clip are the positive pair: they share the moving foreground and
not the background, so matching by background no longer solves the pretext.

`embed(batch, "video")` is video_moco's (the pooled, L2-normalised encoder map); FAME changes training only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avssl.tasks.base import TaskOutput, two_views
from avssl.tasks.video_moco import VideoMoCo, VideoMoCoConfig
from avssl.transforms.background import MaskRule, derangement, foreground_masks, fuse


@dataclass
class FAMEConfig(VideoMoCoConfig):
    """video_moco's keys plus the merging: `foreground_ratio` (fraction of pixels kept as foreground; the
    paper ≈ 0.5), `mask_rule` ("difference" or "difference_colour"), `colour_bins` (levels per channel of
    the colour histograms), `colour_weight` (share of the colour term in the mask score),
    `background_frame` (the frame of the other video used as its static background; None: the middle)."""

    foreground_ratio: float = 0.5
    mask_rule: MaskRule = "difference_colour"
    colour_bins: int = 8
    colour_weight: float = 0.5
    background_frame: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.foreground_ratio <= 1.0:
            raise ValueError(f"model.foreground_ratio must be in (0, 1], got {self.foreground_ratio}")
        if self.colour_bins < 2:
            raise ValueError(f"model.colour_bins must be >= 2, got {self.colour_bins}")


class FAME(VideoMoCo):
    """`forward(batch)` with `batch["views"]` = two clips (B, C, T, H, W) of each video: the query is clip 1,
    the key is clip 2's foreground over another video's static background → TaskOutput(loss,
    {"loss/moco", "acc/moco"})."""

    cfg: FAMEConfig

    def merge(self, clips: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, C, T, H, W) → the fused clips (each clip's estimated foreground over another's background)."""
        cfg = self.cfg
        with torch.no_grad():
            masks = foreground_masks(
                clips, cfg.foreground_ratio, cfg.mask_rule, cfg.colour_bins, cfg.colour_weight
            )
            return fuse(clips, masks, derangement(clips.shape[0], generator), cfg.background_frame)

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "fame")
        fused = self.merge(views[1]["video"])
        return super().forward({**batch, "views": [views[0], {**views[1], "video": fused}]})
