"""ConST-CL: contextualized spatio-temporal contrastive learning — a holistic clip contrast and a region
term in which instance features of one view, attending to the context of the other view, must become that
view's instance features.

Yuan, Qian, Cui, Gong, Schroff, Yang, Adam & Liu, "Contextualized Spatio-Temporal Contrastive Learning with
Self-Supervision", CVPR 2022; settings from the authors' release (TensorFlow Model Garden,
`official/projects/const_cl`):

* **holistic**: CVRL's NT-Xent (τ 0.1) between the two clips of a video on a 3-layer MLP head over the
  pooled map (`avssl.tasks.cvrl`);
* **instances**: `num_boxes` random boxes per clip, drawn independently in each view (x0, y0 uniform, width
  uniform in `box_width` of the frame, height = width × an aspect uniform in `box_aspect`, clipped to the
  frame); RoIAlign (`roi_size`², then averaged) on the key (middle) time slice of the L2-normalised map;
* **context**: the other view's normalised map around its key slice (`context_frames` slices), every cell a
  token with a learned embedding of its relative time and (y, x) (`position_dim` each, concatenated);
* **transformation**: `decoder_layers` cross-attention layers (queries: the instances of one view; keys and
  values: the context tokens of the other; `decoder_heads` heads of `decoder_dim`; residual onto the
  projected queries, LayerNorm, a GELU MLP), then a linear map back to the feature width; both directions
  share the weights;
* **region loss**: boxes carry no correspondence between views; each instance's target is the other view's
  instance most similar to it (cosine of the RoI features, chosen without gradient). InfoNCE (τ 0.2) of the
  transformed instance against the targets of the whole batch, the other instances of its own video masked
  out; averaged over instances, ½ (a→b + b→a);
* loss = `holistic_weight` · holistic + `local_weight` · region (the release: 1 and 0.001); either weight 0
  switches its term off.

`embed(batch, "video")`: the pooled, normalised encoder features; the dense map (`encoder`) is what
`avssl eval tracking` reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

from avssl import distributed
from avssl.tasks.av_contrastive import pool_map
from avssl.tasks.base import TaskOutput, two_views
from avssl.tasks.cvrl import CVRL, CVRLConfig


@dataclass
class ConSTCLConfig(CVRLConfig):
    """CVRL's encoder, head and temperature (the holistic term) plus the region term's settings."""

    num_boxes: int = 8
    box_width: tuple[float, float] = (0.1, 0.5)
    box_aspect: tuple[float, float] = (0.5, 2.0)
    roi_size: int = 4
    context_frames: int = 5
    position_dim: int = 8
    decoder_layers: int = 3
    decoder_heads: int = 3
    decoder_dim: int = 128
    local_temperature: float = 0.2
    holistic_weight: float = 1.0
    local_weight: float = 0.001

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.holistic_weight < 0 or self.local_weight < 0 or self.holistic_weight + self.local_weight == 0:
            raise ValueError(
                f"model needs holistic_weight, local_weight >= 0, not both 0; got {self.holistic_weight}, "
                f"{self.local_weight}"
            )
        if self.num_boxes < 1 or self.roi_size < 1 or self.context_frames < 1 or self.decoder_layers < 1:
            raise ValueError("model.num_boxes, roi_size, context_frames and decoder_layers must be >= 1")


def sample_boxes(count: int, clips: int, width: tuple, aspect: tuple, generator=None) -> Tensor:
    """(clips, count, 4) random x0, y0, x1, y1 boxes in [0, 1] (fractions of the frame)."""
    u = torch.rand(clips, count, 4, generator=generator)
    w = width[0] + (width[1] - width[0]) * u[..., 2]
    h = w * (aspect[0] + (aspect[1] - aspect[0]) * u[..., 3])
    x0, y0 = u[..., 0], u[..., 1]
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=-1).clamp(
        max=0.999
    )  # clipped to the frame (the release)


def instance_features(keyframe: Tensor, boxes: Tensor, size: int) -> Tensor:
    """(C, D, h, w) maps and (C, N, 4) fractional boxes → (C, N, D): RoIAlign `size`² averaged."""
    c, n = boxes.shape[:2]
    h, w = keyframe.shape[-2:]
    scale = torch.tensor([w, h, w, h], dtype=keyframe.dtype, device=keyframe.device)
    rois = torch.cat(
        [torch.arange(c, device=keyframe.device).repeat_interleave(n)[:, None].to(keyframe.dtype),
         boxes.reshape(-1, 4).to(keyframe) * scale], dim=1
    )  # fmt: skip
    pooled = roi_align(keyframe, rois, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    return pooled.mean((2, 3)).reshape(c, n, -1)


def region_infonce(pred: Tensor, targets: Tensor, match: Tensor, tau: float) -> Tensor:
    """Pred (B, N, D) transformed instances, targets (B, N, D) the other view's instances, match (B, N) the
    index of each instance's target in its own video → mean over the B·N local instances of
    −log exp(s⁺/τ) / (exp(s⁺/τ) + Σ_{other videos' targets} exp(s/τ)), cosine s. Under several processes the
    targets of the global batch are gathered (with gradient), as the release's replicas do."""
    b, n, d = pred.shape
    p = F.normalize(pred, dim=-1).reshape(b * n, d)
    t = distributed.gather_with_grad(F.normalize(targets, dim=-1).reshape(b * n, d))  # (W·B·N, D)
    logits = p @ t.T / tau
    video = (distributed.rank() * b + torch.arange(b, device=pred.device)).repeat_interleave(n)
    column_video = torch.arange(t.shape[0] // n, device=pred.device).repeat_interleave(n)
    positive = (video * n + match.reshape(-1)).long()
    keep = video[:, None] != column_video[None, :]  # other videos' targets
    keep[torch.arange(b * n, device=pred.device), positive] = True  # and the positive
    logits = logits.masked_fill(~keep, float("-inf"))
    return F.cross_entropy(logits, positive)


class CrossAttentionLayer(nn.Module):
    """Queries attend to context tokens: LN(Wq x + Attn(Wq x, ctx, ctx)) → GELU MLP."""

    def __init__(self, query_dim: int, context_dim: int, dim: int, heads: int) -> None:
        super().__init__()
        width = dim * heads
        self.query = nn.Linear(query_dim, width)
        self.attention = nn.MultiheadAttention(
            width, heads, kdim=context_dim, vdim=context_dim, batch_first=True
        )
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        self.out_dim = width

    def forward(self, queries: Tensor, context: Tensor) -> Tensor:
        q = self.query(queries)
        attended, _ = self.attention(q, context, context, need_weights=False)
        return self.mlp(self.norm(q + attended))


class ConSTCL(CVRL):
    """`forward(batch)` with two clips per video (`batch["views"]`) → TaskOutput(loss, logs)."""

    def __init__(self, cfg: ConSTCLConfig):
        super().__init__(cfg)
        dim = self.encoder.out_dim
        self.time_embed = nn.Sequential(
            nn.Linear(1, cfg.position_dim), nn.ReLU(), nn.Linear(cfg.position_dim, cfg.position_dim)
        )
        self.space_embed = nn.Sequential(
            nn.Linear(2, cfg.position_dim), nn.ReLU(), nn.Linear(cfg.position_dim, cfg.position_dim)
        )
        context_dim = dim + 2 * cfg.position_dim
        layers, width = [], dim
        for _ in range(cfg.decoder_layers):
            layers.append(CrossAttentionLayer(width, context_dim, cfg.decoder_dim, cfg.decoder_heads))
            width = layers[-1].out_dim
        self.decoder = nn.ModuleList(layers)
        self.to_feature = nn.Linear(width, dim)

    def context_tokens(self, maps: Tensor) -> Tensor:
        """(C, D, t, h, w) normalised maps → (C, L, D + 2 · position_dim) tokens around the key slice."""
        c, d, t, h, w = maps.shape
        key, span = t // 2, min(self.cfg.context_frames, t)
        start = min(max(0, key - span // 2), t - span)
        window = maps[:, :, start : start + span]  # (C, D, s, h, w)
        dt = torch.arange(start, start + span, device=maps.device, dtype=maps.dtype) - key
        ys = (torch.arange(h, device=maps.device, dtype=maps.dtype) + 0.5) / h
        xs = (torch.arange(w, device=maps.device, dtype=maps.dtype) + 0.5) / w
        grid_t, grid_y, grid_x = torch.meshgrid(dt / max(1, t), ys, xs, indexing="ij")
        position = torch.cat(
            [
                self.time_embed(grid_t.reshape(-1, 1)),
                self.space_embed(torch.stack([grid_y, grid_x], -1).reshape(-1, 2)),
            ],
            dim=1,
        )  # (s·h·w, 2P)
        tokens = window.flatten(2).transpose(1, 2)  # (C, s·h·w, D)
        return torch.cat([tokens, position.expand(c, -1, -1)], dim=2)

    def transform(self, instances: Tensor, context: Tensor) -> Tensor:
        x = instances
        for layer in self.decoder:
            x = layer(x, context)
        return self.to_feature(x)

    def region_loss(self, maps: Tensor, boxes: Tensor) -> Tensor:
        """(2B, D, t, h, w) maps, (2B, N, 4) boxes (view 0's clips first) → the region InfoNCE."""
        unit = F.normalize(maps, dim=1)
        inst = instance_features(unit[:, :, unit.shape[2] // 2], boxes, self.cfg.roi_size)  # (2B, N, D)
        ctx = self.context_tokens(unit)
        ia, ib = inst.chunk(2)
        ca, cb = ctx.chunk(2)
        with torch.no_grad():
            sim = torch.einsum("bnd,bmd->bnm", F.normalize(ia, dim=-1), F.normalize(ib, dim=-1))
            match_ab, match_ba = sim.argmax(2), sim.argmax(1)
        tau = self.cfg.local_temperature
        loss_ab = region_infonce(self.transform(ia, cb), ib, match_ab, tau)
        loss_ba = region_infonce(self.transform(ib, ca), ia, match_ba, tau)
        return 0.5 * (loss_ab + loss_ba)

    def forward(self, batch: dict, boxes: Tensor | None = None) -> TaskOutput:
        """`boxes` (2B, N, 4) overrides the random boxes (view 0's clips first)."""
        views = two_views(batch, "constcl")
        maps = self.encoder(torch.cat([views[0]["video"], views[1]["video"]]))  # (2B, D, t, h, w)
        logs, loss = {}, maps.new_zeros(())
        if self.cfg.holistic_weight > 0:
            holistic, accuracy = self.contrast(pool_map(maps))
            logs.update({"loss/holistic": holistic.detach(), "acc/holistic": accuracy})
            loss = loss + self.cfg.holistic_weight * holistic
        if self.cfg.local_weight > 0:
            if boxes is None:
                boxes = sample_boxes(
                    self.cfg.num_boxes, maps.shape[0], self.cfg.box_width, self.cfg.box_aspect
                )
            local = self.region_loss(maps, boxes.to(maps.device))
            logs["loss/local"] = local.detach()
            loss = loss + self.cfg.local_weight * local
        return TaskOutput(loss, logs)
