"""CVRL: contrastive video representation learning with temporally consistent spatial augmentation and
sampling-based temporal augmentation.

Qian, Meng, Gong, Yang, Wang, Belongie & Cui, "Spatiotemporal Contrastive Video Representation Learning",
CVPR 2021:

* two clips of one video are the positive pair; their start-to-start distance is drawn from a monotonically
  decreasing distribution over [0, the video's length] (Sec. 3.2, P(d) ∝ −d + c, the power law of
  `avssl.data.sampling.draw_distance` with exponent 1; `distance: uniform` is its ablation) — the data config's
  two `views`, timing rule `distance`;
* each clip gets one spatial augmentation (crop, flip, colour jitter, grayscale) drawn once and applied to
  every frame (Sec. 3.3, `avssl.transforms.clip.ClipAugment`; `per_frame: true` is the inconsistent
  ablation);
* the loss is InfoNCE over the batch (Sec. 3.1, the NT-Xent of SimCLR: each clip's positive is the other
  clip of its video, its negatives the 2N − 2 other clips of the global batch; τ = 0.1,
  `avssl.losses.ntxent.NTXent`), on a 3-layer MLP projection head over the pooled encoder features (the
  paper's head: hidden width 2048, output 128, BatchNorm).

`embed(batch, "video")`: the pooled, L2-normalised encoder features (the head is dropped for evaluation),
what `avssl eval action` / `video-retrieval` and the `action` / `clip_pairs` evaluators read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, Video3dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.ntxent import NTXent
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.base import TaskOutput, check_modality, two_views


@dataclass
class CVRLConfig:
    """Clip encoder, projection head (`head_layers` linear layers, BatchNorm between them) and the InfoNCE
    temperature. Defaults are the paper's (R3D-50 there; r3d_18 here, `small_3d` at CPU scale)."""

    encoder: AnyEncoderConfig = field(default_factory=lambda: Video3dConfig(name="r3d_18"))
    embed_dim: int = 128
    hidden_dim: int = 2048
    head_layers: int = 3
    temperature: float = 0.1

    def __post_init__(self) -> None:
        if self.head_layers < 1:
            raise ValueError(f"model.head_layers must be >= 1, got {self.head_layers}")


def positive_top1(z1: Tensor, z2: Tensor) -> Tensor:
    """Percentage of the local rows (both orders) whose positive is the most similar of their 2B − 1
    candidates: the pretext accuracy of one batch (B, D) × 2, unit-norm rows."""
    rows = torch.cat([z1, z2])
    sims = rows @ rows.T
    sims.fill_diagonal_(float("-inf"))
    batch = z1.shape[0]
    positive = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(sims.device)
    return 100.0 * (sims.argmax(1) == positive).float().mean()


class CVRL(nn.Module):
    """`forward(batch)` with `batch["views"]` = two clips (B, C, T, H, W) of each video →
    TaskOutput(loss, {"loss/cvrl", "acc/cvrl"})."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: CVRLConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.encoder)
        if getattr(self.encoder, "input_kind", "clip") != "clip":
            raise ValueError(f"cvrl needs a clip encoder, {cfg.encoder.name!r} is not one")
        self.head = MLPHead(self.encoder.out_dim, cfg.embed_dim, cfg.hidden_dim, cfg.head_layers)
        self.loss = NTXent(cfg.temperature)

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, C, T, H, W) → (B, D) unit-norm pooled encoder features."""
        check_modality(self, modality)
        return F.normalize(pool_map(self.encoder(batch["video"])), dim=1)

    def features(self, views: list) -> Tensor:
        """The two clips of each video → (2B, encoder dim) pooled features (with gradient), view 0's rows
        first: one encoder pass over both clips (BatchNorm statistics over the 2B clips)."""
        return pool_map(self.encoder(torch.cat([views[0]["video"], views[1]["video"]])))

    def contrast(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(2B, encoder dim) → (InfoNCE loss, pretext top-1 %) of the projections."""
        z1, z2 = F.normalize(self.head(features), dim=1).chunk(2)
        with torch.no_grad():
            accuracy = positive_top1(z1, z2)
        return self.loss(z1, z2), accuracy

    def forward(self, batch: dict) -> TaskOutput:
        loss, accuracy = self.contrast(self.features(two_views(batch, "cvrl")))
        return TaskOutput(loss, {"loss/cvrl": loss.detach(), "acc/cvrl": accuracy})
