"""MCL: motion-focused contrastive learning on the video MoCo baseline.

Li, Zhang, Qiu, Yao, Liu & Mei, "Motion-Focused Contrastive Learning of Video Representations", ICCV 2021.
Two parts on top of `video_moco` (MoCo v2 on two clips of one video: query encoder, momentum key encoder,
queue, InfoNCE; `avssl.tasks.video_moco`):

* motion-focused augmentation — the clips are tubes that follow the high-motion regions of the video: the
  `flow_tubes` transform of the data pipeline (`avssl.transforms.tubes`), after `optical_flow` /
  `frame_difference` and before `clip_augment`;
* motion-focused feature learning — the Grad-CAM-style gradient map of the query clip's encoder map (the last
  conv layer of the clip encoder) with respect to the contrastive loss is aligned with the clip's motion
  magnitude from the spatial, temporal and spatio-temporal views (`avssl.losses.mcl.MotionAlignmentLoss`,
  three weights; 0 switches a term off). The gradient map is computed with `create_graph=True`, so the
  alignment trains the encoder (a second-order backward through the query encoder).

The query clip's motion input is `views[0]["motion"]` (B, C, T − 1, H, W) (`model.motion` names its kind:
"flow" — 2 channels, the vector length is the magnitude — or "frame_difference"). `embed(batch, "video")` is
video_moco's (the pooled, L2-normalised encoder map); MCL changes training only. Without gradients (evaluation)
the forward is MoCo's loss alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from avssl.losses.mcl import MotionAlignmentLoss, grad_cam, motion_target, score_gradients
from avssl.tasks.base import TaskOutput, two_views
from avssl.tasks.video_moco import VideoMoCo, VideoMoCoConfig
from avssl.transforms.tubes import motion_magnitude


@dataclass
class MCLConfig(VideoMoCoConfig):
    """video_moco's keys plus the motion alignment: `motion` (the kind of `views[0]["motion"]`),
    `spatial_weight`, `temporal_weight`, `spatiotemporal_weight` (each term's weight; 0 = off). The tube
    sampling is the data pipeline's `flow_tubes` transform (`recipes/configs/mcl.yaml`)."""

    motion: Literal["frame_difference", "flow"] = "flow"
    spatial_weight: float = 1.0
    temporal_weight: float = 1.0
    spatiotemporal_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("spatial_weight", "temporal_weight", "spatiotemporal_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"model.{name} must be >= 0, got {getattr(self, name)}")


class MCL(VideoMoCo):
    """`forward(batch)` with `batch["views"]` = two clips (B, C, T, H, W) of each video, the first with its
    `motion` → TaskOutput(InfoNCE + alignment, {"loss/moco", "acc/moco", "loss/align", "align/<view>"})."""

    cfg: MCLConfig

    def __init__(self, cfg: MCLConfig):
        super().__init__(cfg)
        self.alignment = MotionAlignmentLoss(
            cfg.spatial_weight, cfg.temporal_weight, cfg.spatiotemporal_weight
        )

    @property
    def aligns(self) -> bool:
        return any(w > 0 for w in self.alignment.weights.values())

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "mcl")
        if not (self.aligns and torch.is_grad_enabled()):
            return super().forward(batch)
        motion = views[0].get("motion")
        if motion is None:
            raise ValueError(
                "mcl's motion alignment needs views[0]['motion']: put {name: optical_flow} or "
                "{name: frame_difference} first in data.transforms (or set the three alignment weights to 0)"
            )
        features, _, _, nce, logs = self.contrast(views)  # features: (B, D, t, h, w)
        cam = grad_cam(features, score_gradients(nce, features))
        target = motion_target(motion_magnitude(motion, self.cfg.motion), tuple(cam.shape[1:]))
        align, terms = self.alignment(cam, target)
        logs["loss/align"] = align.detach()
        logs.update({name: term.detach() for name, term in terms.items()})
        return TaskOutput(nce + align, logs)
