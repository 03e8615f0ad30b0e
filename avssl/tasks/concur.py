"""ConCur: contrastive video learning with a curriculum over the temporal span of positives and an auxiliary
head that predicts how far apart the two positive clips are.

Roy & Etemad, "Temporal Contrastive Learning with Curriculum", ICASSP 2023:

* the positives are two clips of one video; training starts with near (easy) clips and the largest allowed
  distance grows as training goes, so later positives are far apart (hard). That is the data config's second
  view, timing rule `distance` with `curriculum_start_s` / `curriculum_epochs`
  (`avssl.data.sampling.curriculum_span`: a linear schedule by epoch, ours; the paper's exact schedule could
  not be read here). `curriculum_epochs: 0` is the no-curriculum ablation;
* the contrastive part is CVRL's (`avssl.tasks.cvrl`: one augmentation draw per clip, InfoNCE over the 2B
  clips on a projection head);
* the auxiliary task predicts the temporal distance between the two clips of a positive pair from their
  pooled encoder features. Ours: the distance |start₁ − start₀| (s, from the batch's recorded windows) is
  classified into `distance_bins` equal bins over [0, `distance_max_s`] (larger distances fall in the last
  bin) by an MLP on the concatenated features [h₀, h₁], cross-entropy weighted by `distance_weight`.

Logs: `loss/contrast`, `acc/contrast` (pretext top-1 %), `loss/distance`, `acc/distance` (bin accuracy %).
`embed(batch, "video")` is CVRL's: the pooled, L2-normalised encoder features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.heads.projection import MLPHead
from avssl.tasks.base import TaskOutput, two_views
from avssl.tasks.cvrl import CVRL, CVRLConfig


@dataclass
class ConCurConfig(CVRLConfig):
    """CVRL's encoder, head and temperature, plus the distance head: `distance_bins` classes over
    [0, `distance_max_s`] (set it to the longest clip distance the data allows: video length − clip
    duration), an MLP of `distance_layers` linear layers (hidden `distance_hidden`), loss weight
    `distance_weight` (0: CVRL with the curriculum only)."""

    distance_bins: int = 4
    distance_max_s: float = 8.0
    distance_hidden: int = 512
    distance_layers: int = 2
    distance_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.distance_bins < 2 or self.distance_max_s <= 0 or self.distance_weight < 0:
            raise ValueError(
                "model needs distance_bins >= 2, distance_max_s > 0 and distance_weight >= 0, got "
                f"{self.distance_bins}, {self.distance_max_s}, {self.distance_weight}"
            )
        if self.distance_layers < 1:
            raise ValueError(f"model.distance_layers must be >= 1, got {self.distance_layers}")


def distance_bin(distance_s: Tensor, bins: int, max_s: float) -> Tensor:
    """(B,) distances (s) → (B,) long bin indices: equal bins of width max_s / bins, the last one open."""
    return (distance_s / (max_s / bins)).floor().clamp(0, bins - 1).long()


class ConCur(CVRL):
    """`forward(batch)` with `batch["views"]` = two clips (B, C, T, H, W) of each video, each with its
    window's `start_s` (B,) → TaskOutput(contrast + distance_weight · distance loss, logs)."""

    def __init__(self, cfg: ConCurConfig):
        super().__init__(cfg)
        dim = self.encoder.out_dim
        self.distance_head = MLPHead(2 * dim, cfg.distance_bins, cfg.distance_hidden, cfg.distance_layers)

    def forward(self, batch: dict) -> TaskOutput:
        views = two_views(batch, "concur")
        if any("start_s" not in view for view in views):
            raise ValueError("concur needs each view's start_s (clip views from a video dataset)")
        features = self.features(views)
        contrast, accuracy = self.contrast(features)
        distance = (views[1]["start_s"] - views[0]["start_s"]).abs().float().to(features.device)
        target = distance_bin(distance, self.cfg.distance_bins, self.cfg.distance_max_s)
        logits = self.distance_head(torch.cat(features.chunk(2), dim=1))
        distance_loss = F.cross_entropy(logits, target)
        loss = contrast + self.cfg.distance_weight * distance_loss
        with torch.no_grad():
            hit = 100.0 * (logits.argmax(1) == target).float().mean()
        return TaskOutput(
            loss,
            {
                "loss/contrast": contrast.detach(),
                "acc/contrast": accuracy,
                "loss/distance": distance_loss.detach(),
                "acc/distance": hit,
            },
        )
