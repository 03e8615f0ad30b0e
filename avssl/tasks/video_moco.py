"""Video MoCo: MoCo v2 on two clips of one video, the baseline of the video self-supervised methods.

* MoCo — He, Fan, Wu, Xie & Girshick, "Momentum Contrast for Unsupervised Visual Representation Learning",
  CVPR 2020: a query encoder, a momentum key encoder θ_k ← m θ_k + (1 − m) θ_q (Eq. 2), a queue of K past
  keys as negatives and the InfoNCE loss of Eq. 1 (`avssl.losses.moco.MoCoLoss`); shuffling BN across
  processes (Sec. 3.3).
* MoCo v2 — Chen, Fan, Girshick & He, "Improved Baselines with Momentum Contrastive Learning", 2020: an MLP
  projection head (hidden layer + ReLU) and τ = 0.2.
* For video, the positive pair is two clips of the same video at a sampled temporal distance, each with its
  own temporally consistent augmentation (Qian et al., "Spatiotemporal Contrastive Video Representation
  Learning", CVPR 2021; Feichtenhofer et al., "A Large-Scale Study on Unsupervised Spatiotemporal
  Representation Learning", CVPR 2021, ρMoCo with ρ = 2): the data config's two `views`
  (`avssl.data.sampling` timing rule `distance`, `avssl.transforms.clip.ClipAugment`).

The encoder is any clip encoder of the registry (`r3d_18`, `r2plus1d_18`, `x3d_s`, `slow_r50`, the CPU-scale
`small_3d`); its map (B, D, t, h, w) is average-pooled over time and space. View 1 feeds the query encoder,
view 2 the key encoder. `embed(batch, "video")`: the pooled, L2-normalised backbone features (the linear
probe, kNN and retrieval of `avssl eval action` / `avssl eval video-retrieval` read them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Video3dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.moco import MoCoLoss
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.base import TaskOutput, check_modality, two_views


@dataclass
class VideoMoCoConfig:
    """Clip encoder, MLP head (MoCo v2), queue, momentum and temperature. The defaults are MoCo v2's
    (τ 0.2, m 0.999) with a 16,384-key queue; CPU-scale runs shrink the queue and the momentum
    (`recipes/configs/video_moco.yaml`)."""

    encoder: AnyEncoderConfig = field(default_factory=lambda: Video3dConfig(name="r3d_18"))
    embed_dim: int = 128
    hidden_dim: int = 512
    queue_size: int = 16384
    momentum: float = 0.999
    temperature: float = 0.2
    shuffle_bn: bool = True  # under DDP: the key encoder sees the global batch shuffled across ranks (MoCo)


class VideoMoCo(nn.Module):
    """`forward(batch)` with `batch["views"]` = two clips (B, C, T, H, W) of each video →
    TaskOutput(loss, {"loss/moco", "acc/moco"}); `on_step_end` moves the key encoder (Eq. 2)."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: VideoMoCoConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.encoder)
        if getattr(self.encoder, "input_kind", "clip") != "clip":
            raise ValueError(f"video_moco needs a clip encoder, {cfg.encoder.name!r} is not one")
        self.head = MLPHead(self.encoder.out_dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=False)
        self.key_encoder, self.key_head = momentum_copy(self.encoder), momentum_copy(self.head)
        self.queue = MemoryQueue(cfg.embed_dim, cfg.queue_size, seed=1)
        self.loss = MoCoLoss(cfg.temperature)

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, C, T, H, W) → (B, D) unit-norm pooled encoder features."""
        check_modality(self, modality)
        return F.normalize(pool_map(self.encoder(batch["video"])), dim=1)

    def query(self, clips: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, embed_dim) unit-norm queries (with gradient)."""
        return F.normalize(self.head(pool_map(self.encoder(clips))), dim=1)

    @torch.no_grad()
    def keys(self, clips: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, embed_dim) unit-norm keys of the momentum encoder, computed on the
        cross-rank shuffled batch when `shuffle_bn` (under DDP) and returned in the batch's order."""
        inverse = None
        if self.cfg.shuffle_bn:
            clips, inverse = distributed.shuffle_across_ranks(clips)
        k = F.normalize(self.key_head(pool_map(self.key_encoder(clips))), dim=1)
        return k if inverse is None else distributed.unshuffle_across_ranks(k, inverse)

    def contrast(self, views: list[dict]) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """The InfoNCE of a clip pair (view 0 queries, view 1 keys) → (the query encoder's map (B, D, t, h, w),
        q, k, loss, {"loss/moco", "acc/moco"}); the batch's keys then go into the queue. The map stays in the
        graph for the methods that supervise it (MCL, PreViTS)."""
        k = self.keys(views[1]["video"])  # (B, E)
        negatives = self.queue.keys.clone()  # (K, E): the queue before this batch's keys go in
        features = self.encoder(views[0]["video"])
        q = F.normalize(self.head(pool_map(features)), dim=1)  # (B, E)
        loss = self.loss(q, k, negatives)
        with torch.no_grad():  # the positive beats every negative: the pretext accuracy
            accuracy = ((q * k).sum(1) > (q @ negatives.T).max(1).values).float().mean()
        self.queue.enqueue(k)
        return features, q, k, loss, {"loss/moco": loss.detach(), "acc/moco": 100.0 * accuracy}

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "video_moco")
        *_, loss, logs = self.contrast(views)
        return TaskOutput(loss, logs)

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of the key encoder and head after each optimizer step (MoCo Eq. 2, constant m)."""
        ema_update(self.key_encoder, self.encoder, self.cfg.momentum)
        ema_update(self.key_head, self.head, self.cfg.momentum)
