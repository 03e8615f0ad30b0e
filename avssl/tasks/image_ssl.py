"""Image SSL with view strategies: a base method (MoCo v2 or BYOL) on two views of each image, with the
views changed by a background augmentation (BG_RM / BG_Random / BG_Swaps, TOBIAS's compositing) driven by
foreground masks from the data (`data.masks`: annotated masks or unsupervised saliency).

* MoCo v2 — Chen, Fan, Girshick & He, "Improved Baselines with Momentum Contrastive Learning", 2020: MLP
  head, momentum key encoder, queue of keys, τ = 0.2 (`avssl.losses.moco.MoCoLoss`); shuffled BN across
  processes for the keys (MoCo, He et al. CVPR 2020, Sec. 3.3).
* BYOL — Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020: online backbone + projector + predictor,
  an EMA target (backbone + projector), the symmetric 2 − 2 cos loss (`avssl.losses.byol.BYOLLoss`). The
  target's momentum is constant here (`momentum`; the paper raises it from 0.996 to 1 with a cosine).
* Background augmentations — Ryali, Schwab & Morcos, "Characterizing and Improving the Robustness of
  Self-Supervised Learning through Background Augmentations", 2021 (`avssl.transforms.image_backgrounds`):
  applied to the collated views before the encoders. BG_Swaps' hard negative (another image's foreground
  on the query's background) is one extra negative logit per query for MoCo; BYOL has no negatives and
  uses only the swapped positives.
* TOBIAS — a randomly initialised CNN's activations localise objects: `data.masks: saliency_grid` (the
  random-init ResNet-18's saliency over a 4 × 4 grid, 30 % of the cells foreground) with `bg_random` on
  both views puts each image's foreground on other images' backgrounds (`recipes/configs/image_ssl_tobias.yaml`).

View 1 feeds the query / online network, view 2 the key / target network (BYOL: and the other way round).
`embed(batch, "video")`: pooled, L2-normalised backbone features (kNN / linear probe / background suite).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.byol import BYOLLoss
from avssl.losses.moco import MoCoLoss
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.image_multissl import as_images
from avssl.transforms.image_backgrounds import BackgroundAugConfig, augment_backgrounds

IMAGE_SSL_METHODS = ("moco", "byol")


@dataclass
class ImageSSLConfig:
    """Base `method` (`IMAGE_SSL_METHODS`), backbone, heads (BYOL: the predictor has `hidden_dim` too),
    queue (MoCo), momentum, temperature (MoCo) and the background augmentation of the views."""

    method: str = "moco"
    backbone: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=16))
    embed_dim: int = 128
    hidden_dim: int = 512
    queue_size: int = 4096
    momentum: float = 0.99
    temperature: float = 0.2
    shuffle_bn: bool = True  # MoCo under DDP: keys of the global batch shuffled across ranks
    background: BackgroundAugConfig = field(default_factory=BackgroundAugConfig)

    def __post_init__(self):
        if self.method not in IMAGE_SSL_METHODS:
            raise ValueError(f"model.method must be one of {IMAGE_SSL_METHODS}, got {self.method!r}")


def _masks(view: dict, k: int) -> Tensor:
    mask = view.get("mask")
    if mask is None:
        raise ValueError(
            f"background augmentation needs foreground masks in view {k}: set data.masks "
            "(annotations, saliency or saliency_grid)"
        )
    return mask.reshape(mask.shape[0], *mask.shape[-2:])  # (B, 1, H, W) one-frame masks → (B, H, W)


class ImageSSL(nn.Module):
    """`forward(batch)` with `batch["views"]` = two augmented views (one-frame clips) → TaskOutput(loss,
    {"loss/<method>", "acc/moco" (MoCo), "bg/changed" (fraction of augmented rows)})."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: ImageSSLConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = build_encoder(cfg.backbone)
        dim = self.backbone.out_dim
        byol = cfg.method == "byol"
        self.head = MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=byol)
        self.predictor = MLPHead(cfg.embed_dim, cfg.embed_dim, cfg.hidden_dim, 2) if byol else None
        self.key_backbone, self.key_head = momentum_copy(self.backbone), momentum_copy(self.head)
        self.queue = None if byol else MemoryQueue(cfg.embed_dim, cfg.queue_size, seed=1)
        self.moco_loss, self.byol_loss = MoCoLoss(cfg.temperature), BYOLLoss()

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, 3, 1, H, W) (or (B, 3, H, W)) → (B, C) unit-norm pooled backbone features."""
        check_modality(self, modality)
        return F.normalize(self.backbone(as_images(batch["video"])).flatten(2).mean(2), dim=1)

    def _project(self, images: Tensor) -> Tensor:
        return self.head(self.backbone(images).flatten(2).mean(2))

    @torch.no_grad()
    def _target(self, images: Tensor, shuffle: bool) -> Tensor:
        """The momentum network's projections (unit norm for MoCo), cross-rank shuffled BN when `shuffle`."""
        inverse = None
        if shuffle:
            images, inverse = distributed.shuffle_across_ranks(images)
        out = self.key_head(self.key_backbone(images).flatten(2).mean(2))
        if inverse is not None:
            out = distributed.unshuffle_across_ranks(out, inverse)
        return out

    def views(self, batch: dict) -> tuple[list[Tensor], Tensor | None, Tensor | None, float]:
        """The two views' images after the background augmentation, the hard negatives (or None), their
        rows, and the fraction of views changed."""
        views = batch.get("views")
        if not views or len(views) < 2:
            raise ValueError(
                "image_ssl needs two views per image: set data.views (or leave it empty for two)"
            )
        images = [as_images(v["video"]) for v in views[:2]]
        if self.cfg.background.mode == "none":
            return images, None, None, 0.0
        masks = [_masks(v, k) for k, v in enumerate(views[:2])]
        with torch.no_grad():
            out, negatives, rows = augment_backgrounds(images, masks, self.cfg.background)
        changed = sum(float((o != i).flatten(1).any(1).float().mean()) for o, i in zip(out, images)) / 2
        return out, negatives, rows, changed

    def forward(self, batch: dict) -> TaskOutput:
        (view_q, view_k), negatives, rows, changed = self.views(batch)
        logs: dict[str, Tensor | float] = {"bg/changed": changed}
        if self.cfg.method == "byol":
            p1, p2 = self.predictor(self._project(view_q)), self.predictor(self._project(view_k))
            z1, z2 = self._target(view_q, False), self._target(view_k, False)
            loss = self.byol_loss.symmetric(p1, p2, z1, z2)
            logs["loss/byol"] = loss.detach()
            return TaskOutput(loss, logs)
        q = F.normalize(self._project(view_q), dim=1)
        k = F.normalize(self._target(view_k, self.cfg.shuffle_bn), dim=1)
        hard = None
        if negatives is not None:
            hard = F.normalize(self._target(negatives, self.cfg.shuffle_bn), dim=1)
        loss = self.moco_loss(q, k, self.queue.keys, hard, rows)
        with torch.no_grad():
            pos = (q * k).sum(1, keepdim=True)
            neg = q @ self.queue.keys.T
            logs["acc/moco"] = (pos > neg.max(1, keepdim=True).values).float().mean()
        self.queue.enqueue(k)
        logs["loss/moco"] = loss.detach()
        return TaskOutput(loss, logs)

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of the key / target network after each optimizer step (constant momentum)."""
        ema_update(self.key_backbone, self.backbone, self.cfg.momentum)
        ema_update(self.key_head, self.head, self.cfg.momentum)
