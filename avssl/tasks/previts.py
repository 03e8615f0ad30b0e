"""PreViTS: video MoCo with tracking supervision of the query's Grad-CAM attention.

Chen, Selvaraju, Chang, Niebles & Naik, "PreViTS: Contrastive Pretraining with Video Tracking Supervision",
arXiv 2112.00804 (2021; WACV 2023). On top of `video_moco` (MoCo on two clips of one video;
`avssl.tasks.video_moco`):

* tracking and constrained crops — the data pipeline's `object_track` transform follows the clip's dominant
  moving object (motion saliency seeding OpenCV's MIL tracker, cached beside the run) and `track_crop`
  (`clip_augment` whose crop keeps the tracked boxes) writes each view's `track_mask` (T, H, W)
  (`avssl.transforms.tracking`);
* attention supervision — the Grad-CAM map of the query clip's encoder map with respect to the positive
  logit q·k⁺ is pushed onto the query view's tracked region by a cosine distance
  (`avssl.losses.previts.attention_loss`), weighted by `attention_weight` (3 in the paper; 0 switches it off
  and the loss is video_moco's). The map is computed with `create_graph=True`, so the term trains the
  encoder (a second-order backward through the query encoder).

`embed(batch, "video")` is video_moco's; PreViTS changes training only. Without gradients (evaluation) the
forward is MoCo's loss alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from avssl.losses.mcl import grad_cam, motion_target, score_gradients
from avssl.losses.previts import attention_loss
from avssl.tasks.base import TaskOutput, two_views
from avssl.tasks.video_moco import VideoMoCo, VideoMoCoConfig


@dataclass
class PreViTSConfig(VideoMoCoConfig):
    """video_moco's keys plus `attention_weight`, the weight of the Grad-CAM supervision (0 = off). The
    tracking and the constrained crops are the data pipeline's `object_track` and `track_crop` transforms
    (`recipes/configs/previts.yaml`)."""

    attention_weight: float = 3.0

    def __post_init__(self) -> None:
        if self.attention_weight < 0:
            raise ValueError(f"model.attention_weight must be >= 0, got {self.attention_weight}")


class PreViTS(VideoMoCo):
    """`forward(batch)` with `batch["views"]` = two clips (B, C, T, H, W) of each video, the first with its
    `track_mask` (B, T, H, W) → TaskOutput(InfoNCE + weight × attention, {"loss/moco", "acc/moco",
    "loss/attention", "attention/tracked"})."""

    cfg: PreViTSConfig

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "previts")
        if not (self.cfg.attention_weight > 0 and torch.is_grad_enabled()):
            return super().forward(batch)
        mask = views[0].get("track_mask")
        if mask is None:
            raise ValueError(
                "previts' attention supervision needs views[0]['track_mask']: put {name: object_track} first "
                "and {name: track_crop} in data.transforms (or set model.attention_weight=0)"
            )
        features, q, k, nce, logs = self.contrast(views)  # features: (B, D, t, h, w)
        positive = (q * k).sum()  # Σ_b q_b·k_b: each query's logit with its key (before τ)
        cam = grad_cam(features, score_gradients(-positive, features))
        attention, tracked = attention_loss(cam, motion_target(mask, tuple(cam.shape[1:])))
        logs["loss/attention"] = attention.detach()
        logs["attention/tracked"] = torch.tensor(float(tracked))
        return TaskOutput(nce + self.cfg.attention_weight * attention, logs)
