"""CARL: frame-wise action representations for long videos by sequence contrastive learning.

Chen, Wei, Li & Cai, "Frame-wise Action Representations for Long Videos via Sequence Contrastive
Learning", CVPR 2022 (settings from the authors' release):

* the frame encoder is a 2D backbone applied to every frame, spatially max-pooled, a per-frame MLP
  (Linear → BN → ReLU, twice, then Linear to `frame_dim`), sine-cosine positional encoding of the frame's
  position in the sampled sequence and a pre-norm transformer encoder over time (`layers`, `heads`,
  `ff_dim`), then a linear embedding (`embed_dim`, 128): one embedding per frame;
* two views of one video are two windows of it (the data config's two `views`; overlapping when the second
  view's timing keeps it near the first), each with one augmentation draw for all its frames; with the
  `frame_subset` transform each view is instead a random sorted subset of the frames of one long window, as
  the authors sample Penn Action and Pouring (frames past the video's end masked out of the loss);
* training projects every frame embedding by an MLP (Linear → BN → ReLU → Linear) and minimises the
  sequence contrastive loss (`avssl.losses.sequence_contrast`): a Gaussian prior on the distance between the
  frames' timestamps (σ² = 10 frames²) against the softmax of cosine / τ (0.1) over the other view's frames.
  Timestamps are the views' recorded frame times (`frame_s`) in frames of the sampled rate;
* `weak_weight` > 0 adds the weakly supervised variant (ours, as the issue names it; not in the authors'
  release): each video with another video of its label in the batch is aligned to it by dynamic time
  warping on 1 − cos of their view-0 frame embeddings (`avssl.modules.dtw`, no gradient); the aligned
  positions are its frames' timestamps on the partner's frame axis, and the same loss pulls them together.

`embed(batch, "video")`: the mean of the L2-normalised frame embeddings, normalised (action probes,
retrieval); `embed_frames(batch)`: the (B, T, embed_dim) frame embeddings the frame-level protocols read
(`avssl.evaluation.frames`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.sequence_contrast import SequenceContrast
from avssl.modules.dtw import aligned_positions
from avssl.tasks.base import TaskOutput, check_modality, two_views


@dataclass
class CARLConfig:
    """Frame backbone, temporal transformer, embedding and loss settings (defaults: the authors' PennAction
    model with a ResNet-50; `small` at CPU scale)."""

    encoder: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="resnet50"))
    frame_hidden: int = 512
    frame_dim: int = 256
    layers: int = 3
    heads: int = 8
    ff_dim: int = 1024
    dropout: float = 0.1
    embed_dim: int = 128
    projection_dim: int = 128
    temperature: float = 0.1
    variance: float = 10.0
    weak_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.frame_dim % self.heads:
            raise ValueError(
                f"model.frame_dim ({self.frame_dim}) must be a multiple of model.heads ({self.heads})"
            )
        if self.layers < 1 or self.weak_weight < 0:
            raise ValueError(
                f"model needs layers >= 1 and weak_weight >= 0, got {self.layers}, {self.weak_weight}"
            )


def sinusoid_positions(length: int, dim: int, device=None) -> Tensor:
    """(length, dim) sine-cosine encoding of positions 0 … length − 1 (Vaswani et al., NeurIPS 2017):
    PE(p, 2i) = sin(p / 10000^(2i/dim)), PE(p, 2i + 1) = cos(…)."""
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
    return table


def frame_timestamps(frame_s: Tensor) -> Tensor:
    """(B, T) frame times (s) → timestamps in frames of the sampled rate (one frame = the views' frame
    spacing), on a common axis for both views of a video."""
    if frame_s.shape[1] < 2:
        return frame_s
    period = (frame_s[:, 1] - frame_s[:, 0]).median().clamp_min(1e-9)
    return frame_s / period


class CARL(nn.Module):
    """`forward(batch)` with two views (B, C, T, H, W) each with `frame_s` (B, T) → TaskOutput(loss, logs)."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: CARLConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.encoder)
        if getattr(self.encoder, "input_kind", "image") != "image":
            raise ValueError(f"carl needs a per-frame 2D encoder, {cfg.encoder.name!r} is not one")
        width = self.encoder.out_dim
        self.frame_mlp = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(width, cfg.frame_hidden),
            nn.BatchNorm1d(cfg.frame_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.frame_hidden, cfg.frame_hidden),
            nn.BatchNorm1d(cfg.frame_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.frame_hidden, cfg.frame_dim),
        )
        layer = nn.TransformerEncoderLayer(
            cfg.frame_dim, cfg.heads, cfg.ff_dim, cfg.dropout, batch_first=True, norm_first=True
        )
        self.temporal = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.embedding = nn.Linear(cfg.frame_dim, cfg.embed_dim)
        self.projection = MLPHead(cfg.embed_dim, cfg.projection_dim, cfg.projection_dim, 2)
        self.loss = SequenceContrast(cfg.temperature, cfg.variance)

    def frames(self, video: Tensor) -> Tensor:
        """(B, C, T, H, W) → (B, T, embed_dim) frame embeddings (with gradient)."""
        maps = self.encoder(video)  # (B, D, T, h, w)
        pooled = maps.flatten(3).amax(3).transpose(1, 2)  # (B, T, D)
        b, t, d = pooled.shape
        x = self.frame_mlp(pooled.reshape(b * t, d)).reshape(b, t, -1)
        x = x + sinusoid_positions(t, x.shape[2], x.device).to(x.dtype)
        return self.embedding(self.temporal(x))

    def embed_frames(self, batch: dict) -> Tensor:
        """`batch["video"]` (B, C, T, H, W) → (B, T, embed_dim) L2-normalised frame embeddings."""
        return F.normalize(self.frames(batch["video"]), dim=2)

    def embed(self, batch: dict, modality: str) -> Tensor:
        """(B, embed_dim): the normalised mean of the normalised frame embeddings."""
        check_modality(self, modality)
        return F.normalize(self.embed_frames(batch).mean(1), dim=1)

    def _project(self, frames: Tensor) -> Tensor:
        b, t, d = frames.shape
        return self.projection(frames.reshape(b * t, d)).reshape(b, t, -1)

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "carl")
        if any("frame_s" not in view for view in views):
            raise ValueError("carl needs each view's frame_s (clip views from a video dataset)")
        lengths = {view["video"].shape[2] for view in views}
        both = torch.cat([views[0]["video"], views[1]["video"]]) if len(lengths) == 1 else None
        if both is not None:  # one encoder pass (BatchNorm statistics over both views)
            f1, f2 = self.frames(both).chunk(2)
        else:
            f1, f2 = self.frames(views[0]["video"]), self.frames(views[1]["video"])
        z1, z2 = self._project(f1), self._project(f2)
        stamps = frame_timestamps(torch.cat([views[0]["frame_s"], views[1]["frame_s"]], dim=1).double())
        t1, t2 = stamps[:, : f1.shape[1]].to(z1.device), stamps[:, f1.shape[1] :].to(z1.device)
        masks = [view.get("frame_valid") for view in views]  # `frame_subset`: repeats of a short video
        m1, m2 = (None if m is None else m.to(z1.device) for m in masks)
        sequence = self.loss(z1, t1, z2, t2, m1, m2)
        logs = {"loss/sequence": sequence.detach()}
        loss = sequence
        if self.cfg.weak_weight > 0:
            weak = self.weak_loss(f1, z1, batch.get("label"))
            logs["loss/weak"] = weak.detach()
            loss = loss + self.cfg.weak_weight * weak
        return TaskOutput(loss, logs)

    def weak_loss(self, frames: Tensor, projected: Tensor, labels: Tensor | None) -> Tensor:
        """The DTW-paired term over the batch's videos that have a partner of their label (0 when none)."""
        if labels is None:
            raise ValueError("carl weak_weight > 0 needs labels in the batch (a labelled layout)")
        labels = labels.tolist()
        anchors, partners = [], []
        for a, label in enumerate(labels):
            b = next((k for k in range(len(labels)) if k != a and labels[k] == label), None)
            if b is not None:
                anchors.append(a)
                partners.append(b)
        if not anchors:
            return projected.sum() * 0.0
        unit = F.normalize(frames.detach().float(), dim=2)
        positions = torch.stack(
            [aligned_positions(1.0 - unit[a] @ unit[b].T) for a, b in zip(anchors, partners)]
        )
        own_axis = torch.arange(frames.shape[1], dtype=torch.float64).expand(len(partners), -1)
        index_a, index_b = torch.tensor(anchors), torch.tensor(partners)
        device = projected.device
        return self.loss(projected[index_a], positions.to(device), projected[index_b], own_axis.to(device))
