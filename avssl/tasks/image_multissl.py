"""Image multi-SSL: MoCo v2 (global) and DenseCL (dense) as two pretext tasks of one backbone, with the
joint / incremental machinery of the binaural variant (`avssl.tasks.multissl_common`).

* MoCo v2 — Chen, Fan, Girshick & He, "Improved Baselines with Momentum Contrastive Learning", 2020: MLP
  projection of the pooled backbone map, momentum key encoder, queue of keys, τ = 0.2 (MoCo: He, Fan, Wu,
  Xie & Girshick, "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020, Eq. 1-2).
  Loss: `avssl.losses.moco.MoCoLoss`.
* DenseCL — Wang, Zhang, Shen, Kong & Li, "Dense Contrastive Learning for Self-Supervised Visual
  Pre-Training", CVPR 2021: a dense projection head (1×1 conv, ReLU, 1×1 conv) on the backbone map;
  positives matched by backbone-feature similarity between the two views' maps, negatives from a dense
  queue of per-image mean key vectors; joint loss (1 − λ)·L_moco + λ·L_dense with λ = 0.5 (the default
  `strategy.weights`). Loss: `avssl.losses.densecl.DenseCLLoss`.

Paper: Vasudevan, Dai & Van Gool, "Sound and Visual Representation Learning with Multiple Pretraining Tasks",
CVPR 2022: MoCo v2 + DenseCL combined with the multi-SSL scheme (VOC07 / COCO gains).
View 1 feeds the query encoder, view 2 the momentum key encoder (as both papers do). Under DDP the key
encoder runs on the global batch shuffled across ranks and its outputs are unshuffled (MoCo's shuffling BN,
Sec. 3.3; `shuffle_bn`, on by default; `avssl.distributed.shuffle_across_ranks`): without it each rank's
BatchNorm statistics of the keys come from the same sub-batch as the queries', a shortcut MoCo names. In one
process there is nothing to shuffle across (the whole batch shares BN statistics). Incremental stages
distil the pooled backbone features of the previous stage (feature distillation; the contrastive heads
have no class outputs to distil). `embed(batch, "video")` gives pooled, L2-normalised backbone features
(linear probe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import DenseHead, MLPHead
from avssl.losses.densecl import DenseCLLoss, dense_queue_keys
from avssl.losses.moco import MoCoLoss
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.multissl_common import DistillConfig, MultiSSLObjective, StrategyConfig, freeze

IMAGE_PRETEXTS = ("moco", "densecl")


@dataclass
class ImageMultiSSLConfig:
    """Backbone, heads, queues, momentum and temperature; strategy / distillation as for the
    binaural task (the teacher is attached by the stage runner)."""

    backbone: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=16))
    embed_dim: int = 128
    hidden_dim: int = 512
    queue_size: int = 4096
    dense_queue_size: int = 4096
    momentum: float = 0.99
    temperature: float = 0.2
    shuffle_bn: bool = True  # under DDP: the key encoder sees the global batch shuffled across ranks (MoCo)
    strategy: StrategyConfig = field(
        default_factory=lambda: StrategyConfig(weights={"moco": 0.5, "densecl": 0.5})
    )
    distill: DistillConfig = field(default_factory=DistillConfig)


def as_images(video: Tensor) -> Tensor:
    """A batch of one-frame clips (B, C, 1, H, W) as images (B, C, H, W); images pass through."""
    if video.ndim == 5:
        if video.shape[2] != 1:
            raise ValueError(f"image multi-SSL takes one-frame views (T = 1), got shape {tuple(video.shape)}")
        return video[:, :, 0]
    return video


class ImageMultiSSL(nn.Module):
    """`forward(batch)` with `batch["views"]` = two augmented views → TaskOutput(loss, {"loss/moco",
    "loss/densecl", …})."""

    embeds = frozenset({"video"})  # images are one-frame clips in the batch contract

    def __init__(self, cfg: ImageMultiSSLConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = build_encoder(cfg.backbone)
        dim = self.backbone.out_dim
        self.heads = nn.ModuleDict(
            {
                "moco": MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=False),
                "densecl": DenseHead(dim, cfg.hidden_dim, cfg.embed_dim),
            }
        )
        self.key_backbone, self.key_heads = momentum_copy(self.backbone), momentum_copy(self.heads)
        self.queues = nn.ModuleDict(
            {
                "moco": MemoryQueue(cfg.embed_dim, cfg.queue_size, seed=1),
                "densecl": MemoryQueue(cfg.embed_dim, cfg.dense_queue_size, seed=2),
            }
        )
        self.moco_loss, self.dense_loss = MoCoLoss(cfg.temperature), DenseCLLoss(cfg.temperature)
        self.objective = MultiSSLObjective(list(IMAGE_PRETEXTS), cfg.strategy, cfg.distill)
        self.active_pretexts = self.objective.active_pretexts
        self._teacher: list[ImageMultiSSL] = []  # attached by the stage runner, never saved with this model
        for name in set(IMAGE_PRETEXTS) - set(self.active_pretexts):
            freeze(self.heads[name]).train()

    def attach_teacher(self, teacher: ImageMultiSSL) -> None:
        """Distil the backbone's features from `teacher` (the previous stage's frozen model)."""
        self._teacher[:] = [teacher]

    @property
    def teacher(self) -> ImageMultiSSL | None:
        return self._teacher[0] if self._teacher else None

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, 3, 1, H, W) images (or (B, 3, H, W)) → (B, C) unit-norm pooled backbone
        features."""
        check_modality(self, modality)
        return F.normalize(self.backbone(as_images(batch["video"])).flatten(2).mean(2), dim=1)

    @torch.no_grad()
    def _keys(self, view_k: Tensor) -> dict[str, Tensor]:
        """Key encoder outputs of view 2 — backbone maps "maps", MoCo key "moco", DenseCL keys "densecl" —
        computed on the cross-rank shuffled batch when `shuffle_bn` (under DDP) and returned unshuffled."""
        inverse = None
        if self.cfg.shuffle_bn:
            view_k, inverse = distributed.shuffle_across_ranks(view_k)
        maps_k = self.key_backbone(view_k)  # (B, C, h, w)
        out = {"maps": maps_k}
        if "moco" in self.active_pretexts:
            out["moco"] = F.normalize(self.key_heads["moco"](maps_k.flatten(2).mean(2)), dim=1)
        if "densecl" in self.active_pretexts:
            out["densecl"] = self.key_heads["densecl"](maps_k)  # (B, D, S)
        if inverse is not None:
            out = {name: distributed.unshuffle_across_ranks(t, inverse) for name, t in out.items()}
        return out

    def forward(self, batch: dict) -> TaskOutput:
        view_q, view_k = as_images(batch["views"][0]["video"]), as_images(batch["views"][1]["video"])
        maps_q = self.backbone(view_q)  # (B, C, h, w)
        keys = self._keys(view_k)
        losses = {}
        if "moco" in self.active_pretexts:
            q = self.heads["moco"](maps_q.flatten(2).mean(2))
            losses["moco"] = self.moco_loss(q, keys["moco"], self.queues["moco"].keys)
            self.queues["moco"].enqueue(keys["moco"])
        if "densecl" in self.active_pretexts:
            q_dense = self.heads["densecl"](maps_q)  # (B, D, S)
            losses["densecl"] = self.dense_loss(
                q_dense,
                keys["densecl"],
                maps_q.flatten(2),
                keys["maps"].flatten(2),
                self.queues["densecl"].keys,
            )
            self.queues["densecl"].enqueue(dense_queue_keys(keys["densecl"]))
        features = []
        teacher = self.teacher
        if teacher is not None and self.cfg.distill.feature_weight > 0:
            teacher.to(view_q.device).eval()
            with torch.no_grad():
                target = teacher.backbone(view_q).flatten(2).mean(2)
            features = [(maps_q.flatten(2).mean(2), target)]
        return self.objective(losses, {}, [], features)

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of the key encoder after each optimizer step (MoCo Eq. 2; constant momentum, so
        the step and run length are not used)."""
        ema_update(self.key_backbone, self.backbone, self.cfg.momentum)
        ema_update(self.key_heads, self.heads, self.cfg.momentum)
