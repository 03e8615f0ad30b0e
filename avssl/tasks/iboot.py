"""iBoot: a video encoder bootstrapped from a frozen image model, next to a video self-supervised loss.

Saleh, Tan, Bulat, Tzimiropoulos & Martinez, "iBoot: Image-bootstrapped Self-Supervised Video Representation
Learning", arXiv 2206.08339, 2022: a strong image model pretrained elsewhere (self- or language-supervised)
is frozen; the video encoder learns to subsume its semantic content while a video SSL objective keeps it
learning from time. Here (our reading; the paper's exact heads could not be read): the teacher embeds every
frame of a clip, and the student predicts those features from the clip through a BYOL-style predictor
(Grill et al., NeurIPS 2020: an MLP with BatchNorm; loss 2 − 2 cos against the stop-gradient target), next to
CVRL's InfoNCE between two clips of one video (Qian et al., CVPR 2021).

* `distill: frame`: the student's map (B, D, t, h, w) is pooled over space, each of its t time steps
  predicts the mean teacher feature of the frames it covers (T frames split into t equal groups);
  `distill: clip`: the pooled clip feature predicts the mean teacher feature of all frames.
* The teacher is any 2D encoder avssl builds (`model.teacher`, with `weights` from a file or a run
  directory: `weights_source: encoder | classifier | run`); its pooled, per-frame features are the targets.
  It never trains (no gradient, eval mode, excluded from the optimiser).
* The total loss is `distill_weight` · distillation + `video_weight` · InfoNCE (either may be 0).

`embed(batch, "video")`: the pooled, L2-normalised student features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, Video3dConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.byol import BYOLLoss
from avssl.losses.ntxent import NTXent
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.base import TaskOutput, check_modality, two_views
from avssl.tasks.cvrl import positive_top1


@dataclass
class IBootConfig:
    """Student clip encoder, frozen teacher image encoder (weights required), predictor, the video
    InfoNCE head and the two weights."""

    encoder: AnyEncoderConfig = field(default_factory=lambda: Video3dConfig(name="r3d_18"))
    teacher: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="resnet50"))
    distill: Literal["frame", "clip"] = "frame"
    predictor_hidden: int = 1024
    embed_dim: int = 128
    hidden_dim: int = 512
    temperature: float = 0.1
    distill_weight: float = 1.0
    video_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.distill not in ("frame", "clip"):
            raise ValueError(f"model.distill must be frame or clip, got {self.distill!r}")
        if self.distill_weight < 0 or self.video_weight < 0 or self.distill_weight + self.video_weight == 0:
            raise ValueError(
                f"model needs distill_weight, video_weight >= 0, not both 0; got {self.distill_weight}, {self.video_weight}"
            )


def group_mean(frames: Tensor, groups: int) -> Tensor:
    """(B, D, T) per-frame features → (B, D, groups): the mean over T split into `groups` contiguous,
    (nearly) equal groups (frame k goes to group ⌊k · groups / T⌋)."""
    length = frames.shape[2]
    if groups > length:
        raise ValueError(f"cannot split {length} frames into {groups} groups")
    owner = (torch.arange(length, device=frames.device) * groups) // length
    onehot = F.one_hot(owner, groups).to(frames.dtype)  # (T, groups)
    return frames @ onehot / onehot.sum(0)


class IBoot(nn.Module):
    """`forward(batch)` with two clips per video (`batch["views"]`) → TaskOutput(loss, logs)."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: IBootConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.encoder)
        if getattr(self.encoder, "input_kind", "clip") != "clip":
            raise ValueError(f"iboot needs a clip encoder as the student, {cfg.encoder.name!r} is not one")
        # a run rebuilt for inference gets its teacher from the run's weights; training needs pretrained ones
        self.teacher_pretrained = cfg.teacher.weights is not None
        self.teacher = build_encoder(cfg.teacher)
        if getattr(self.teacher, "input_kind", "image") != "image":
            raise ValueError(f"iboot's teacher must be an image encoder, {cfg.teacher.name!r} is not one")
        self.teacher.requires_grad_(False)
        self.teacher.eval()
        dim = self.encoder.out_dim
        self.predictor = MLPHead(dim, self.teacher.out_dim, cfg.predictor_hidden, 2)
        self.head = MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2)
        self.distill_loss, self.video_loss = BYOLLoss(), NTXent(cfg.temperature)

    def train(self, mode: bool = True) -> IBoot:
        super().train(mode)
        self.teacher.eval()  # frozen: BatchNorm statistics stay the pretrained ones
        return self

    def embed(self, batch: dict, modality: str) -> Tensor:
        check_modality(self, modality)
        return F.normalize(pool_map(self.encoder(batch["video"])), dim=1)

    @torch.no_grad()
    def targets(self, clips: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, D_teacher, T): the teacher's spatially pooled feature of every frame."""
        maps = self.teacher(clips)  # (B, D, T, h, w): 2D encoders run per frame on clips
        return maps.flatten(3).mean(3)

    def distillation(self, student: Tensor, clips: Tensor) -> Tensor:
        """2 − 2 cos between the predictor's outputs and the teacher's (grouped) frame features."""
        target = self.targets(clips)  # (B, Dt, T)
        pooled = student.flatten(3).mean(3)  # (B, D, t)
        if self.cfg.distill == "clip":
            return self.distill_loss(self.predictor(pooled.mean(2)), target.mean(2))
        target = group_mean(target, pooled.shape[2])
        steps = pooled.transpose(1, 2).reshape(-1, pooled.shape[1])  # (B·t, D)
        goals = target.transpose(1, 2).reshape(-1, target.shape[1])
        return self.distill_loss(self.predictor(steps), goals)

    def forward(self, batch: dict) -> TaskOutput:
        if not self.teacher_pretrained:
            raise ValueError(
                "iboot needs a pretrained teacher: set model.teacher.weights (a weights file or a run directory)"
            )
        views = two_views(batch, "iboot")
        clips = torch.cat([views[0]["video"], views[1]["video"]])
        maps = self.encoder(clips)  # (2B, D, t, h, w)
        logs = {}
        loss = clips.new_zeros(())
        if self.cfg.distill_weight > 0:
            distill = self.distillation(maps, clips)
            logs["loss/distill"] = distill.detach()
            loss = loss + self.cfg.distill_weight * distill
        if self.cfg.video_weight > 0:
            z1, z2 = F.normalize(self.head(pool_map(maps)), dim=1).chunk(2)
            video = self.video_loss(z1, z2)
            logs["loss/video"] = video.detach()
            with torch.no_grad():
                logs["acc/video"] = positive_top1(z1, z2)
            loss = loss + self.cfg.video_weight * video
        return TaskOutput(loss, logs)
