"""MaCLR: motion-aware contrastive learning of video representations, on MoCo.

Xiao, Tighe & Modolo, "MaCLR: Motion-aware Contrastive Learning of Representations for Videos", ECCV 2022.
Two pathways see the same two clips of a video: the visual pathway the RGB clips (`views[i]["video"]`),
the motion pathway their motion input (`views[i]["motion"]`: frame differences by default, dense flow
with `motion: flow`; written by the `frame_difference` / `optical_flow` transforms of
`avssl.transforms.motion`, cropped with the clip by `clip_augment`). Each pathway is a MoCo pathway (query
encoder + MLP head, momentum key encoder + head, a queue of its keys; He et al., CVPR 2020, MoCo v2 head);
the objective is `avssl.losses.maclr.MaCLRLoss`: visual ↔ visual and motion ↔ motion between the two clips
(intra-modal) plus visual ↔ motion across the pathways (cross-modal), each term with its weight (0 = off).

Only the visual encoder is used downstream: `embed(batch, "video")` is its pooled, L2-normalised map of
`batch["video"]`, exactly as `video_moco`, so `avssl eval action` / `video-retrieval` and the `action` and
`clip_pairs` evaluators read MaCLR runs unchanged (no motion input needed at evaluation).

The motion encoder is built with the motion input's channels (3 for frame differences, 2 for flow) unless
its config sets `in_channels`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Video3dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.maclr import MaCLRLoss
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.base import TaskOutput, check_modality, two_views

MOTION_CHANNELS = {"frame_difference": 3, "flow": 2}


@dataclass
class MaCLRConfig:
    """Visual and motion clip encoders, MLP heads onto one `embed_dim`, a queue per pathway, momentum,
    temperature and the three loss weights. Defaults are the paper's (τ 0.1, m 0.999, 65,536 keys);
    CPU-scale runs shrink the queue and momentum (`recipes/configs/maclr.yaml`)."""

    encoder: AnyEncoderConfig = field(default_factory=lambda: Video3dConfig(name="r3d_18"))
    motion_encoder: AnyEncoderConfig = field(default_factory=lambda: Video3dConfig(name="r3d_18"))
    motion: Literal["frame_difference", "flow"] = "frame_difference"
    embed_dim: int = 128
    hidden_dim: int = 512
    queue_size: int = 65536
    momentum: float = 0.999
    temperature: float = 0.1
    visual_weight: float = 1.0  # visual ↔ visual (intra-modal)
    motion_weight: float = 1.0  # motion ↔ motion (intra-modal)
    cross_weight: float = 1.0  # visual ↔ motion (cross-modal, both directions)
    shuffle_bn: bool = True  # under DDP: the key encoders see the global batch shuffled across ranks


class _Pathway(nn.Module):
    """One MoCo pathway: query encoder + head, momentum key encoder + head, a queue of its keys."""

    def __init__(self, encoder: nn.Module, cfg: MaCLRConfig, seed: int):
        super().__init__()
        self.encoder = encoder
        self.head = MLPHead(encoder.out_dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=False)
        self.key_encoder, self.key_head = momentum_copy(self.encoder), momentum_copy(self.head)
        self.queue = MemoryQueue(cfg.embed_dim, cfg.queue_size, seed=seed)
        self.shuffle_bn = cfg.shuffle_bn

    def query(self, clips: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, E) unit-norm queries (with gradient)."""
        return F.normalize(self.head(pool_map(self.encoder(clips))), dim=1)

    @torch.no_grad()
    def keys(self, clips: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, E) unit-norm momentum keys (shuffling BN under DDP), in batch order."""
        inverse = None
        if self.shuffle_bn:
            clips, inverse = distributed.shuffle_across_ranks(clips)
        k = F.normalize(self.key_head(pool_map(self.key_encoder(clips))), dim=1)
        return k if inverse is None else distributed.unshuffle_across_ranks(k, inverse)

    def momentum_update(self, m: float) -> None:
        ema_update(self.key_encoder, self.encoder, m)
        ema_update(self.key_head, self.head, m)


def _with_channels(cfg: AnyEncoderConfig, channels: int) -> AnyEncoderConfig:
    if getattr(cfg, "in_channels", None) is None and hasattr(cfg, "in_channels"):
        return dataclasses.replace(cfg, in_channels=channels)
    return cfg


class MaCLR(nn.Module):
    """`forward(batch)` with `batch["views"]` = two clips of each video, each with "video" (B, 3, T, H, W)
    and "motion" (B, C, T − 1, H, W) → TaskOutput(loss, {"loss/maclr", "loss/visual", "loss/motion",
    "loss/cross", "acc/visual"} — the switched-on terms); `on_step_end` moves both key encoders."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: MaCLRConfig):
        super().__init__()
        self.cfg = cfg
        self.loss = MaCLRLoss(cfg.temperature, cfg.visual_weight, cfg.motion_weight, cfg.cross_weight)
        channels = MOTION_CHANNELS[cfg.motion]
        visual, motion = (
            build_encoder(cfg.encoder),
            build_encoder(_with_channels(cfg.motion_encoder, channels)),
        )
        for name, enc in (("encoder", visual), ("motion_encoder", motion)):
            if getattr(enc, "input_kind", "clip") != "clip":
                raise ValueError(f"maclr needs clip encoders, model.{name} {enc!r:.40} is not one")
        self.visual = _Pathway(visual, cfg, seed=1)
        self.motion = _Pathway(motion, cfg, seed=2)
        self.motion_channels = getattr(cfg.motion_encoder, "in_channels", None) or channels

    @property
    def encoder(self) -> nn.Module:
        """The visual encoder: what is kept downstream (export, probes)."""
        return self.visual.encoder

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, C, T, H, W) → (B, D) unit-norm pooled visual-encoder features."""
        check_modality(self, modality)
        return F.normalize(pool_map(self.visual.encoder(batch["video"])), dim=1)

    def _motion_of(self, view: dict, index: int) -> Tensor:
        motion = view.get("motion")
        if motion is None:
            raise ValueError(
                f"maclr needs a motion input in view {index}: put a {self.cfg.motion!r} transform "
                "(frame_difference / optical_flow) first in data.transforms"
            )
        if motion.dim() != 5 or motion.shape[1] != self.motion_channels:
            raise ValueError(
                f"maclr's motion encoder takes {self.motion_channels} channels (model.motion="
                f"{self.cfg.motion!r}), view {index} has motion of shape {tuple(motion.shape)}"
            )
        return motion

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "maclr")
        cfg = self.cfg
        need_motion = bool(cfg.motion_weight or cfg.cross_weight)
        need_visual = bool(cfg.visual_weight or cfg.cross_weight)
        q_v = k_v = q_m = k_m = None
        if need_visual:
            q_v, k_v = self.visual.query(views[0]["video"]), self.visual.keys(views[1]["video"])
        if need_motion:
            q_m = self.motion.query(self._motion_of(views[0], 0))
            k_m = self.motion.keys(self._motion_of(views[1], 1))
        queue_v, queue_m = self.visual.queue.keys.clone(), self.motion.queue.keys.clone()
        terms = self.loss(q_v, q_m, k_v, k_m, queue_v, queue_m)
        logs = {"loss/maclr": terms.total.detach()}
        for name in ("visual", "motion", "cross"):
            value = getattr(terms, name)
            if value is not None:
                logs[f"loss/{name}"] = value.detach()
        if q_v is not None:
            with torch.no_grad():  # the visual positive beats every visual negative: the pretext accuracy
                hit = (q_v * k_v).sum(1) > (q_v @ queue_v.T).max(1).values
                logs["acc/visual"] = 100.0 * hit.float().mean()
            self.visual.queue.enqueue(k_v)
        if k_m is not None:
            self.motion.queue.enqueue(k_m)
        return TaskOutput(terms.total, logs)

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of both pathways' key encoders and heads (MoCo Eq. 2, constant m)."""
        self.visual.momentum_update(self.cfg.momentum)
        self.motion.momentum_update(self.cfg.momentum)
