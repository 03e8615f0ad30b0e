"""HCL — Ge, Ma, Zhang, Mahajan, Tseng, Brauer & Yu, "Hyperbolic Contrastive Learning for Visual
Representations beyond Objects", CVPR 2023: objects in Euclidean space, scenes in hyperbolic space.

* Objects: crops of object boxes (`avssl.data.datasets.image_objects`: annotated boxes or, label-free,
  unsupervised saliency boxes), two augmented views each, contrasted MoCo v2-style: backbone → mean pool →
  MLP head, momentum key network, a queue of keys (one key per image and step: its first object), InfoNCE
  with τ = `temperature` (`avssl.losses.moco.MoCoLoss`).
* Scenes: the whole image → backbone → mean pool → the hyperbolic MLP head → `expmap0` → `project` onto
  the Poincaré ball of curvature −`curvature` (`avssl.modules.hyperbolic`). The objects' first views go
  through the same hyperbolic head (online network, with gradient); the hyperbolic term pulls each scene
  towards its own objects against the other scenes' objects (`avssl.losses.hcl`: InfoNCE over
  −d_c(scene, object)/`hyp_temperature`, averaged over the scene's objects), gathered with gradients over
  processes (padding slots masked).
* L = L_euc + `hyp_weight` · L_hyp (`avssl.losses.hcl.HCLLoss`).

Differences from the paper (our reading, see docs/methods.md): the hyperbolic term's negatives are the
batch's objects (no hyperbolic queue); no shuffled BN for the object keys (their count differs between
processes); object crops are cut from the image (not RoIAlign), resized to `data.object_size`.

`embed(batch, "video")`: pooled, L2-normalised backbone features (probes, cosine scene→object retrieval);
`embed_ball(batch)`: the hyperbolic embedding of `batch["video"]` (scenes or object crops).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.hcl import HCLLoss
from avssl.modules.hyperbolic import expmap0, project
from avssl.modules.momentum import MemoryQueue, ema_update, momentum_copy
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.image_multissl import as_images


@dataclass
class HCLConfig:
    """Backbone, the object (Euclidean, MoCo v2) head, queue, momentum and temperature; the curvature,
    temperature and weight of the hyperbolic scene term."""

    backbone: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=16))
    embed_dim: int = 128
    hidden_dim: int = 512
    queue_size: int = 4096
    momentum: float = 0.99
    temperature: float = 0.2
    curvature: float = 0.05  # c of the Poincaré ball (radius 1/√c)
    hyp_weight: float = 0.1  # λ of the hyperbolic term
    hyp_temperature: float = 0.2

    def __post_init__(self):
        if self.curvature <= 0:
            raise ValueError(f"model.curvature must be > 0, got {self.curvature}")


class HCL(nn.Module):
    """`forward(batch)` with `batch["video"]` (B, 3, 1, H, W) scenes, `batch["objects"]` (B, K, 2, 3, 1, s, s)
    object views and `batch["object_valid"]` (B, K) → TaskOutput(loss, {"loss/hcl", "loss/euclidean",
    "loss/hyperbolic", "acc/moco", "hyp/scene_radius", "objects/per_scene"})."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: HCLConfig):
        super().__init__()
        self.cfg = cfg
        self.curvature = cfg.curvature
        self.backbone = build_encoder(cfg.backbone)
        dim = self.backbone.out_dim
        self.head = MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=False)
        self.hyp_head = MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=False)
        self.key_backbone, self.key_head = momentum_copy(self.backbone), momentum_copy(self.head)
        self.queue = MemoryQueue(cfg.embed_dim, cfg.queue_size, seed=1)
        self.loss = HCLLoss(cfg.temperature, cfg.curvature, cfg.hyp_temperature, cfg.hyp_weight)

    def _pooled(self, images: Tensor) -> Tensor:
        return self.backbone(as_images(images)).flatten(2).mean(2)

    def _ball(self, pooled: Tensor) -> Tensor:
        """(N, C) pooled features → (N, embed_dim) points of the ball: project(expmap0(hyp_head(·)))."""
        return project(expmap0(self.hyp_head(pooled), self.curvature), self.curvature)

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, 3, 1, H, W) (or (B, 3, H, W)) → (B, C) unit-norm pooled backbone features."""
        check_modality(self, modality)
        return F.normalize(self._pooled(batch["video"]), dim=1)

    def embed_ball(self, batch: dict) -> Tensor:
        """`batch["video"]` (scenes or object crops) → (B, embed_dim) points of the Poincaré ball."""
        return self._ball(self._pooled(batch["video"]))

    def forward(self, batch: dict) -> TaskOutput:
        objects, valid = batch.get("objects"), batch.get("object_valid")
        if objects is None or valid is None or objects.dim() != 7 or objects.shape[2] < 2:
            raise ValueError(
                "hcl needs batch['objects'] (B, K, 2, 3, 1, s, s) and batch['object_valid'] (B, K): "
                "two views of each object crop (avssl.data.datasets.image_objects)"
            )
        valid = valid.bool()
        b, k = valid.shape
        slots = valid.flatten().nonzero()[:, 0]  # (M,) the filled slots, image-major
        views = objects.flatten(0, 1)[slots]  # (M, V, 3, 1, s, s)
        obj_pooled = self._pooled(views[:, 0])
        q = F.normalize(self.head(obj_pooled), dim=1)
        with torch.no_grad():
            key = self.key_backbone(as_images(views[:, 1])).flatten(2).mean(2)
            key = F.normalize(self.key_head(key), dim=1)
        scenes = self._ball(self._pooled(batch["video"]))
        obj_ball = self._ball(obj_pooled)
        padded = obj_ball.new_zeros(b * k, obj_ball.shape[1]).index_copy(0, slots, obj_ball)
        offset = distributed.rank() * b
        owner = torch.arange(b, device=valid.device).repeat_interleave(k) + offset
        loss, parts = self.loss(
            q,
            key,
            self.queue.keys,
            scenes,
            distributed.gather_with_grad(padded),
            distributed.all_gather_no_grad(owner),
            torch.arange(b, device=valid.device) + offset,
            distributed.all_gather_no_grad(valid.flatten()),
        )
        with torch.no_grad():
            pos = (q * key).sum(1, keepdim=True)
            acc = (pos > (q @ self.queue.keys.T).max(1, keepdim=True).values).float().mean()
            first = (slots % k == 0).nonzero()[:, 0]  # each image's first object (slot 0 is always filled)
            self.queue.enqueue(key[first])
        logs = {
            "loss/hcl": loss.detach(),
            "loss/euclidean": parts["euclidean"],
            "loss/hyperbolic": parts["hyperbolic"],
            "acc/moco": acc,
            "hyp/scene_radius": (scenes.detach().norm(dim=1) * self.curvature**0.5).mean(),
            "objects/per_scene": valid.float().sum(1).mean(),
        }
        return TaskOutput(loss, logs)

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of the object key network (constant momentum)."""
        ema_update(self.key_backbone, self.backbone, self.cfg.momentum)
        ema_update(self.key_head, self.head, self.cfg.momentum)
