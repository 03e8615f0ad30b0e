"""Image SSL with view strategies: a base method (MoCo v2, BYOL or SwAV) on two or more views of each image,
the views changed by a background augmentation (BG_RM / BG_Random / BG_Swaps, TOBIAS's compositing) driven
by foreground masks from the data (`data.masks`: annotated masks or unsupervised saliency), or multiplied
by multi-crop, with MoCo's nearest-neighbour positives.

* MoCo v2 — Chen, Fan, Girshick & He, "Improved Baselines with Momentum Contrastive Learning", 2020: MLP
  head, momentum key encoder, queue of keys, τ = 0.2 (`avssl.losses.moco.MoCoLoss`); shuffled BN across
  processes for the keys (MoCo, He et al. CVPR 2020, Sec. 3.3). View 1 is the key; view 0 and every local
  crop are queries.
* BYOL — Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020: online backbone + projector + predictor,
  an EMA target (backbone + projector), the symmetric 2 − 2 cos loss (`avssl.losses.byol.BYOLLoss`); local
  crops predict both global targets. The target's momentum is constant here (`momentum`; the paper raises
  it from 0.996 to 1 with a cosine).
* SwAV — Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
  NeurIPS 2020: projector with BatchNorm, unit-norm projections scored against K unit-norm prototypes
  (renormalised every step), codes of the two global views by Sinkhorn-Knopp (ε 0.05, 3 iterations, over
  the global batch), swapped prediction from every other view (τ 0.1) (`avssl.losses.swav`); optional
  per-view queues of past projections for the codes (`swav_queue_size`, used from `swav_queue_start` once
  full) and frozen prototypes for the first `freeze_prototypes_steps` steps.
* Background augmentations — Ryali, Schwab & Morcos, "Characterizing and Improving the Robustness of
  Self-Supervised Learning through Background Augmentations", 2021 (`avssl.transforms.image_backgrounds`):
  applied to views 0 and 1 before the encoders. BG_Swaps' hard negative (another image's foreground on the
  query's background) is one extra negative logit per query for MoCo; BYOL and SwAV have no negatives and
  use only the swapped positives.
* TOBIAS — a randomly initialised CNN's activations localise objects: `data.masks: saliency_grid` (the
  random-init ResNet-18's saliency over a 4 × 4 grid, 30 % of the cells foreground) with `bg_random` puts
  each image's foreground on other images' backgrounds (`views=tobias`).
* InsLoc — Yang et al., "Instance Localization for Self-supervised Detection Pretraining", CVPR 2021
  (`avssl.transforms.insloc`): views 0 and 1 become two crops of the image pasted at random boxes onto two
  other images (with the view-design switches: crop percentage, IoU constraint, saliency prior, Poisson
  blending, texture flattening, elastic deformation); the base method's projections of those two views are
  RoIAlign features at the pasted boxes (`insloc.roi_size`², averaged; the query's box jittered by
  `insloc.box_jitter`), so the contrast is between instances, not images.
* Spatial cross-attention — Seyfi, Banitalebi-Dehkordi & Zhang, "Spatial Cross-Attention Improves
  Self-Supervised Visual Representation Learning", 2022: SwAV's add-on (`cross_attention`,
  `avssl.heads.cross_attention`): view 0's feature map pooled where it correlates with the samples of its
  cluster predicts view 1's code (weight `cross_weight`); training only, removable without changing a
  weight.
* Multi-crop + nearest neighbours — Van Gansbeke, Vandenhende, Georgoulis & Van Gool, "Revisiting
  Contrastive Methods for Unsupervised Learning of Visual Representations", NeurIPS 2021: MoCo with 2
  global + N local crops (`data.views`, `views=multicrop`) and the key's `nn_positives` nearest queue
  entries as extra positives with weight `nn_weight` (`avssl.losses.moco.nn_positive_loss`; top-20, 0.4).

`embed(batch, "video")`: pooled, L2-normalised backbone features (kNN / linear probe / background suite).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.cross_attention import SpatialCrossAttention
from avssl.heads.projection import MLPHead
from avssl.losses.byol import BYOLLoss
from avssl.losses.moco import MoCoLoss, nearest_keys, nn_positive_loss
from avssl.losses.swav import sinkhorn, swapped_prediction
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.image_multissl import as_images
from avssl.transforms.image_backgrounds import BackgroundAugConfig, augment_backgrounds
from avssl.transforms.insloc import InsLocConfig, instance_views, jitter_boxes

IMAGE_SSL_METHODS = ("moco", "byol", "swav")


@dataclass
class ImageSSLConfig:
    """Base `method` (`IMAGE_SSL_METHODS`), backbone, heads (BYOL: the predictor has `hidden_dim` too),
    queue (MoCo), momentum, temperature (MoCo), the background augmentation of the views, MoCo's
    nearest-neighbour positives, and SwAV's prototypes, Sinkhorn, temperature and queue."""

    method: str = "moco"
    backbone: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=16))
    embed_dim: int = 128
    hidden_dim: int = 512
    queue_size: int = 4096
    momentum: float = 0.99
    temperature: float = 0.2
    shuffle_bn: bool = True  # MoCo under DDP: keys of the global batch shuffled across ranks
    background: BackgroundAugConfig = field(default_factory=BackgroundAugConfig)
    nn_positives: int = 0  # MoCo: the key's k nearest queue entries as extra positives (Revisiting: 20)
    nn_weight: float = 0.4  # their loss weight (Revisiting: 0.4)
    prototypes: int = 3000  # SwAV: K
    epsilon: float = 0.05  # SwAV: Sinkhorn's entropy weight
    sinkhorn_iterations: int = 3
    swav_temperature: float = 0.1
    swav_queue_size: int = 0  # SwAV: past projections per code view, for codes of small batches (0: none)
    swav_queue_start: int = 0  # SwAV: the step from which a full queue is used
    freeze_prototypes_steps: int = 0  # SwAV: prototypes get no gradient before this step (release: 313)
    insloc: InsLocConfig = field(default_factory=InsLocConfig)  # instance views + RoIAlign (InsLoc)
    cross_attention: bool = False  # SwAV: the spatial cross-attention add-on (training only)
    cross_weight: float = 1.0  # its swapped-prediction term's weight
    cross_temperature: float = 0.1  # its attention's temperature

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
    """`forward(batch)` with `batch["views"]` = two or more augmented views (one-frame clips; views 2… are
    multi-crop's local crops) → TaskOutput(loss, {"loss/<method>", "acc/moco", "bg/changed", …})."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: ImageSSLConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = build_encoder(cfg.backbone)
        dim = self.backbone.out_dim
        self.head = MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=cfg.method != "moco")
        self.predictor = (
            MLPHead(cfg.embed_dim, cfg.embed_dim, cfg.hidden_dim, 2) if cfg.method == "byol" else None
        )
        self.key_backbone = self.key_head = self.queue = self.prototypes = None
        if cfg.method in ("moco", "byol"):
            self.key_backbone, self.key_head = momentum_copy(self.backbone), momentum_copy(self.head)
        if cfg.method == "moco":
            self.queue = MemoryQueue(cfg.embed_dim, cfg.queue_size, seed=1)
        self.cross = None
        if cfg.method == "swav":
            self.prototypes = nn.Linear(cfg.embed_dim, cfg.prototypes, bias=False)
            if cfg.cross_attention:
                self.cross = SpatialCrossAttention(dim, cfg.cross_temperature)
            if cfg.swav_queue_size:
                self.swav_queues = nn.ModuleList(
                    [MemoryQueue(cfg.embed_dim, cfg.swav_queue_size, seed=3 + v) for v in range(2)]
                )
                self.register_buffer("swav_queued", torch.zeros((), dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # optimiser steps taken (SwAV)
        self.moco_loss, self.byol_loss = MoCoLoss(cfg.temperature), BYOLLoss()
        if cfg.cross_attention and cfg.method != "swav":
            raise ValueError("model.cross_attention is SwAV's add-on: set model.method=swav")
        if cfg.insloc.enabled and cfg.background.mode == "bg_swaps":
            raise ValueError("InsLoc's pasted views have no hard negative: use bg_rm / bg_random with it")

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, 3, 1, H, W) (or (B, 3, H, W)) → (B, C) unit-norm pooled backbone features."""
        check_modality(self, modality)
        return F.normalize(self.backbone(as_images(batch["video"])).flatten(2).mean(2), dim=1)

    def _pool(self, features: Tensor, images: Tensor, boxes: Tensor | None) -> Tensor:
        """(B, C, h, w) feature maps → (B, C): the mean over the map, or over RoIAlign's `roi_size`² grid at
        each image's box (pixels of `images`, x1 / y1 exclusive)."""
        if boxes is None:
            return features.flatten(2).mean(2)
        rois = torch.cat(
            [torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], 1
        )
        size = self.cfg.insloc.roi_size
        pooled = roi_align(
            features,
            rois.to(features.dtype),
            output_size=size,
            spatial_scale=features.shape[-1] / images.shape[-1],
            sampling_ratio=2,
            aligned=True,
        )
        return pooled.flatten(2).mean(2)

    def _project(self, images: Tensor, boxes: Tensor | None = None) -> Tensor:
        return self.head(self._pool(self.backbone(images), images, boxes))

    @torch.no_grad()
    def _target(self, images: Tensor, shuffle: bool, boxes: Tensor | None = None) -> Tensor:
        """The momentum network's projections (at `boxes` when given), cross-rank shuffled BN when
        `shuffle` (the feature maps are unshuffled before the RoIs are pooled)."""
        inverse, shuffled = None, images
        if shuffle:
            shuffled, inverse = distributed.shuffle_across_ranks(images)
        features = self.key_backbone(shuffled)
        if inverse is not None:
            features = distributed.unshuffle_across_ranks(features, inverse)
        return self.key_head(self._pool(features, images, boxes))

    def views(self, batch: dict) -> tuple[list[Tensor], Tensor | None, Tensor | None, dict]:
        """Every view's images — views 0 and 1 after the background augmentation and InsLoc's pasting —
        the hard negatives (or None), their rows, and {"changed": the fraction of the two views changed,
        "boxes": InsLoc's (query, target) boxes of views 0 and 1, or None}."""
        views = batch.get("views")
        if not views or len(views) < 2:
            raise ValueError(
                "image_ssl needs two views per image: set data.views (or leave it empty for two)"
            )
        images = [as_images(v["video"]) for v in views]
        info: dict = {"changed": 0.0, "boxes": None}
        negatives = rows = None
        insloc = self.cfg.insloc
        needs_masks = self.cfg.background.mode != "none" or (insloc.enabled and insloc.saliency_prior)
        masks = [_masks(v, k) for k, v in enumerate(views[:2])] if needs_masks else None
        if self.cfg.background.mode != "none":
            with torch.no_grad():
                out, negatives, rows = augment_backgrounds(images[:2], masks, self.cfg.background)
            info["changed"] = (
                sum(float((o != i).flatten(1).any(1).float().mean()) for o, i in zip(out, images)) / 2
            )
            images = [*out, *images[2:]]
        if insloc.enabled:
            with torch.no_grad():
                pasted, boxes, _ = instance_views(images[:2], insloc, masks)
            h, w = pasted[0].shape[-2:]
            queries = [jitter_boxes(x, insloc.box_jitter, h, w) for x in boxes]
            info["boxes"] = (queries, boxes)
            images = [*pasted, *images[2:]]
        return images, negatives, rows, info

    def forward(self, batch: dict) -> TaskOutput:
        images, negatives, rows, info = self.views(batch)
        logs: dict[str, Tensor | float] = {"bg/changed": info["changed"]}
        boxes = info["boxes"] or ([None, None], [None, None])
        if self.cfg.method == "byol":
            loss = self._byol(images, boxes)
        elif self.cfg.method == "swav":
            loss = self._swav(images, logs, boxes[0])
        else:
            loss = self._moco(images, negatives, rows, logs, boxes)
        logs[f"loss/{self.cfg.method}"] = loss.detach()
        return TaskOutput(loss, logs)

    def _byol(self, images: list[Tensor], boxes) -> Tensor:
        """The symmetric BYOL loss of the two global views; local crops (views 2…) predict both targets.
        `boxes`: (online, target) boxes of views 0 and 1 (InsLoc) or Nones."""
        online, target = boxes
        targets = [self._target(v, False, target[k]) for k, v in enumerate(images[:2])]
        predictions = [
            self.predictor(self._project(v, online[k] if k < 2 else None)) for k, v in enumerate(images)
        ]
        loss = self.byol_loss.symmetric(predictions[0], predictions[1], targets[0], targets[1])
        for p in predictions[2:]:
            loss = loss + (self.byol_loss(p, targets[0]) + self.byol_loss(p, targets[1])) / 2
        return loss

    def _moco(self, images: list[Tensor], negatives, rows, logs: dict, boxes) -> Tensor:
        """View 1 is the key; view 0 and every local crop a query (InfoNCE against the key and the queue,
        BG_Swaps' hard negative for view 0), plus the nearest-neighbour positives when configured. `boxes`:
        (query, key) boxes of views 0 and 1 (InsLoc) or Nones."""
        cfg = self.cfg
        k = F.normalize(self._target(images[1], cfg.shuffle_bn, boxes[1][1]), dim=1)
        hard = None if negatives is None else F.normalize(self._target(negatives, cfg.shuffle_bn), dim=1)
        queries = [F.normalize(self._project(images[0], boxes[0][0]), dim=1)]
        queries += [F.normalize(self._project(v), dim=1) for v in images[2:]]
        losses = [self.moco_loss(queries[0], k, self.queue.keys, hard, rows)]
        losses += [self.moco_loss(q, k, self.queue.keys) for q in queries[1:]]
        loss = torch.stack(losses).mean()
        if cfg.nn_positives > 0:
            neighbours = nearest_keys(k, self.queue.keys, cfg.nn_positives)
            nn_loss = torch.stack(
                [nn_positive_loss(q, k, self.queue.keys, neighbours, cfg.temperature) for q in queries]
            ).mean()
            logs["loss/nn"] = nn_loss.detach()
            loss = loss + cfg.nn_weight * nn_loss
        with torch.no_grad():
            pos = (queries[0] * k).sum(1, keepdim=True)
            logs["acc/moco"] = (
                (pos > (queries[0] @ self.queue.keys.T).max(1, keepdim=True).values).float().mean()
            )
        self.queue.enqueue(k)
        return loss

    def _swav(self, images: list[Tensor], logs: dict, boxes) -> Tensor:
        """Codes of the two global views (Sinkhorn, with their queues once full) predicted from every other
        view's prototype scores (`avssl.losses.swav`); `boxes`: InsLoc's boxes of views 0 and 1 or Nones."""
        cfg = self.cfg
        with torch.no_grad():  # prototypes on the unit sphere (the release normalises them every step)
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        weight = self.prototypes.weight
        if int(self.step) < cfg.freeze_prototypes_steps:
            weight = weight.detach()
        maps = self.backbone(images[0])  # view 0's feature maps: its projection and the add-on's input
        z = [F.normalize(self.head(self._pool(maps, images[0], boxes[0])), dim=1)]
        z += [
            F.normalize(self._project(v, boxes[k] if k < 2 else None), dim=1)
            for k, v in enumerate(images)
            if k
        ]
        scores = [zi @ weight.T for zi in z]
        use_queue = (
            cfg.swav_queue_size > 0
            and int(self.step) >= cfg.swav_queue_start
            and int(self.swav_queued) >= cfg.swav_queue_size
        )
        codes = []
        for v in range(2):
            s = scores[v].detach()
            if use_queue:
                s = torch.cat([s, self.swav_queues[v].keys @ weight.detach().T])
            codes.append(sinkhorn(s, cfg.epsilon, cfg.sinkhorn_iterations)[: scores[v].shape[0]])
        if cfg.swav_queue_size:
            for v in range(2):
                self.swav_queues[v].enqueue(z[v].detach())
            self.swav_queued += z[0].shape[0] * distributed.world_size()
        logs["swav/queue"] = float(use_queue)
        loss = swapped_prediction(scores, codes, cfg.swav_temperature)
        if self.cross is not None:  # view 0 pooled where it looks like its cluster's samples predicts code 1
            attended = self.cross(maps, codes[0].argmax(1))
            crossed = F.normalize(self.head(attended), dim=1) @ weight.T
            cross = -(codes[1] * F.log_softmax(crossed / cfg.swav_temperature, dim=1)).sum(1).mean()
            logs["loss/cross"] = cross.detach()
            loss = loss + cfg.cross_weight * cross
        return loss

    def remove_cross_attention(self) -> None:
        """Drop the spatial cross-attention add-on (inference, export): the backbone, head and prototypes
        are untouched, so every embedding stays what it was."""
        self.cross = None

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of the key / target network (constant momentum); SwAV: count the steps."""
        self.step.fill_(step)
        if self.key_backbone is not None:
            ema_update(self.key_backbone, self.backbone, self.cfg.momentum)
            ema_update(self.key_head, self.head, self.cfg.momentum)
