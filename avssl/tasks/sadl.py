"""SaDL-CD — Chen, Li, Chen & Shi, "Semantic-aware Dense Representation Learning for Remote Sensing Image
Change Detection", IEEE TGRS 2022: point-level self-supervision on single-date images with semantic masks,
for a change-detection backbone.

* Points: two augmented views of an image, n points per class (background / foreground of its semantic
  mask, n = `data.points_per_class`, 16 in the paper) drawn in the views' overlap, each at the same image
  location in both views (`avssl.data.datasets.semantic_points`).
* Point features: the backbone's stages (`forward_features`) sampled bilinearly at the points and
  concatenated (a hypercolumn; the paper samples an FPN's stride-4 output) → r; a projector MLP with
  BatchNorm → z; a predictor → p (SimSiam: no momentum network, stop-gradient on the targets).
* Loss (`avssl.losses.sadl`): aligned points of the two views pulled together per class, background and
  foreground point features of each view pushed apart, and (`swap_weight` > 0) view 0 with its background
  replaced by another image's (pixels background in both images; the release's "syn" views) must predict
  view 0's foreground projections.

Differences from the paper (our reading, docs/methods.md): hypercolumn of our small backbone's stages instead
of a ResNet-18 FPN; the swapped view is a hard composite (the release blends it with a colour transfer and
a blurred mask); points of a class absent from the overlap are left out (the release samples other pixels).

`embed(batch, "video")`: pooled, L2-normalised backbone features; the change-detection evaluator fine-tunes
`backbone`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.sadl import fg_bg_push, point_pull, swap_pull
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.image_multissl import as_images


@dataclass
class SaDLConfig:
    """Backbone, projector / predictor widths, the weights of the push and swap terms, classes of the masks."""

    backbone: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=16))
    embed_dim: int = 128
    hidden_dim: int = 512
    predictor_hidden_dim: int = 64  # ours; the release sizes it embed_dim / 4
    push_weight: float = 1.0
    swap_weight: float = 0.5
    classes: int = 2

    def __post_init__(self):
        if self.push_weight < 0 or self.swap_weight < 0:
            raise ValueError("model.push_weight and model.swap_weight must be >= 0")
        if self.classes != 2:
            raise ValueError(
                f"model.classes: SaDL-CD's masks are background / foreground (2), got {self.classes}"
            )


def sample_features(levels: list[Tensor], points: Tensor, size: tuple[int, int]) -> Tensor:
    """Each level (B, C_l, h_l, w_l) sampled bilinearly at `points` (B, N, 2) (x, y) in image pixels of an
    image of `size` (H, W) → (B, N, ΣC_l)."""
    h, w = size
    grid = torch.stack([points[..., 0] * 2 / w - 1, points[..., 1] * 2 / h - 1], -1)[:, :, None]  # (B,N,1,2)
    out = [F.grid_sample(f, grid.to(f.dtype), align_corners=False)[..., 0].transpose(1, 2) for f in levels]
    return torch.cat(out, -1)


def swap_backgrounds(images: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """Each image with the pixels that are background in it and in the next image of the batch (cyclically)
    taken from that image: (B, 3, H, W), (B, H, W) foreground masks → (swapped, changed (B,) bool)."""
    donor = torch.roll(torch.arange(len(images), device=images.device), -1)
    keep = ((masks > 0) | (masks[donor] > 0))[:, None].to(images.dtype)
    swapped = images * keep + images[donor] * (1 - keep)
    return swapped, donor != torch.arange(len(images), device=images.device)


class SaDL(nn.Module):
    """`forward(batch)` with `batch["views"]` (two views, each {"video": (B, 3, 1, S, S), "mask": (B, 1, S, S)}),
    `batch["points"]` (B, 2, N, 2), `batch["point_class"]`, `batch["point_valid"]` (B, N) → TaskOutput(loss,
    {"loss/pull", "loss/push", "loss/swap", "points/valid", "cos/fg_bg"})."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: SaDLConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = build_encoder(cfg.backbone)
        with torch.no_grad():
            dims = sum(f.shape[1] for f in self._levels(torch.zeros(1, 3, 32, 32)))
        self.point_dim = dims
        self.projector = MLPHead(dims, cfg.embed_dim, cfg.hidden_dim, 2, batch_norm=True)
        self.predictor = MLPHead(cfg.embed_dim, cfg.embed_dim, cfg.predictor_hidden_dim, 2, batch_norm=True)

    def _levels(self, images: Tensor) -> list[Tensor]:
        forward_features = getattr(self.backbone, "forward_features", None)
        return list(forward_features(images)) if forward_features is not None else [self.backbone(images)]

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, 3, 1, H, W) (or (B, 3, H, W)) → (B, C) unit-norm pooled backbone features."""
        check_modality(self, modality)
        return F.normalize(self.backbone(as_images(batch["video"])).flatten(2).mean(2), dim=1)

    def point_outputs(self, images: Tensor, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(r, z, p) at `points` (B, N, 2) of `images` (B, 3, H, W): features (B, N, C), projections and
        predictions (B, N, D)."""
        r = sample_features(self._levels(images), points, tuple(images.shape[-2:]))
        b, n = r.shape[:2]
        z = self.projector(r.flatten(0, 1))
        p = self.predictor(z)
        return r, z.view(b, n, -1), p.view(b, n, -1)

    def forward(self, batch: dict) -> TaskOutput:
        views, points = batch.get("views"), batch.get("points")
        if not views or len(views) < 2 or points is None or "point_valid" not in batch:
            raise ValueError(
                "sadl needs two views with aligned points: batch['views'], batch['points'] (B, 2, N, 2), "
                "batch['point_class'], batch['point_valid'] (avssl.data.datasets.semantic_points)"
            )
        cfg = self.cfg
        images = [as_images(v["video"]) for v in views[:2]]
        cls, valid = batch["point_class"].long(), batch["point_valid"].bool()
        outs = [self.point_outputs(images[v], points[:, v].float()) for v in range(2)]
        r, z, p = ([o[k] for o in outs] for k in range(3))
        pull = point_pull(p, z, cls, valid, cfg.classes)
        push = fg_bg_push(r, cls, valid)
        loss = pull + cfg.push_weight * push
        logs: dict[str, Tensor | float] = {"loss/pull": pull.detach(), "loss/push": push.detach()}
        if cfg.swap_weight > 0:
            mask = views[0].get("mask")
            if mask is None:
                raise ValueError(
                    "sadl's swapped view needs batch['views'][0]['mask'] (or model.swap_weight=0)"
                )
            swapped, changed = swap_backgrounds(images[0], mask.reshape(len(mask), *mask.shape[-2:]))
            _, _, p_swap = self.point_outputs(swapped, points[:, 0].float())
            swap = swap_pull(p_swap, z[0], cls, valid & changed[:, None])
            loss = loss + cfg.swap_weight * swap
            logs["loss/swap"] = swap.detach()
        with torch.no_grad():
            bg, fg = cls[0] == 0, cls[0] == 1
            cos = (F.normalize(r[0][:, bg], dim=-1) * F.normalize(r[0][:, fg], dim=-1)).sum(-1)
            logs["cos/fg_bg"] = cos.mean()
            logs["points/valid"] = valid.float().mean()
        logs["loss/sadl"] = loss.detach()
        return TaskOutput(loss, logs)
