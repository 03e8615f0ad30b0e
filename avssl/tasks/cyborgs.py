"""CYBORGS — Wang, Zhao & Gao, "CYBORGS: Contrastively Bootstrapping Object Representations by Grounding in
Segmentation", ECCV 2022: representation and segmentation learned together. The representation learns with
a mask-dependent contrastive loss (DetCon_B: Hénaff et al., "Efficient Visual Pretraining with Contrastive
Detection", ICCV 2021; `avssl.losses.detcon`): features pooled inside each segment of each view, the same
segment matched across the two views of an image. The segments start as unsupervised superpixels
(Felzenszwalb–Huttenlocher, `avssl.modules.segments.superpixels`) and are then bootstrapped from the
partially trained model: k-means over each image's dense features of the momentum (EMA) network
(`kmeans_segments`, `clusters` clusters; ours: voted within superpixels when `snap`, `snap_to_regions`),
refreshed every `refresh_every` steps from `bootstrap_start` on.

Batch: `views` 0 and 1 are the augmented crops (their `geometry` records map them to the image), view 2 the
whole image resized to the segment bank's square (`avssl.runner.cyborgs_data`), `index` the images' dataset
indices. Segment bank: `bank` (N, S, S) uint8 labels of every training image (labels by decreasing area,
at most `max_segments`), `bank_round` (N,) the refresh round each was made in (−1: never). Round 0 is the
superpixels; round r ≥ 1 starts at step `bootstrap_start + (r − 1) · refresh_every`. An image whose entry is
older than the current round is segmented again when it is next seen, from view 2 (so with `refresh_every`
a multiple of the epoch every image is refreshed once per period, as the release's regeneration of the
whole dataset every `boot_freq` epochs, but with the momentum network as it is at that image's visit). The
bank is module state: saved with every checkpoint, restored on resume; under DDP each rank's new entries
are gathered so that every rank holds the same bank.

Each view's masks: the bank's one-hot labels warped through the view's geometry (`apply_geometry_to_maps`)
and area-pooled to the feature map; a segment is used when it covers `min_area` of a feature cell or more
in both views. `embed(batch, "video")`: the pooled, L2-normalised backbone features; `segment_images(images)`: the
momentum network's k-means segmentation of whole images (what the bootstrapping would store).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avssl import distributed
from avssl.encoders import AnyEncoderConfig, Visual2dConfig, build_encoder
from avssl.heads.projection import MLPHead
from avssl.losses.detcon import MaskContrastLoss, mask_pool
from avssl.modules.momentum import ema_update, momentum_copy
from avssl.modules.segments import kmeans_segments, snap_to_regions, superpixels
from avssl.tasks.base import TaskOutput, check_modality
from avssl.tasks.image_multissl import as_images
from avssl.transforms.functional.geometry import apply_geometry_to_maps

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass
class SuperpixelConfig:
    """Felzenszwalb–Huttenlocher's parameters (scikit-image's `scale`, `sigma`, `min_size`)."""

    scale: float = 100.0
    sigma: float = 0.8
    min_size: int = 20


@dataclass
class CYBORGSConfig:
    """Backbone, projector / predictor (BYOL-style, `hidden_dim`), momentum, temperature τ, the masks (at
    most `max_segments` per image, `min_area` of a feature cell to count), the superpixel start and the
    bootstrapping schedule (`bootstrap_start` step, `refresh_every` steps, `clusters` k of k-means); the
    bank's image count `bank_images` (0: grown on demand)."""

    backbone: AnyEncoderConfig = field(default_factory=lambda: Visual2dConfig(name="small", output_stride=8))
    embed_dim: int = 128
    hidden_dim: int = 512
    momentum: float = 0.99
    temperature: float = 0.1
    max_segments: int = 16
    min_area: float = 0.5
    superpixels: SuperpixelConfig = field(default_factory=SuperpixelConfig)
    bootstrap_start: int = 100
    refresh_every: int = 100
    clusters: int = 4
    bank_images: int = 0
    mask_size: int = 64
    snap: bool = True  # ours: bootstrapped clusters voted within each superpixel (False: the paper's)

    def __post_init__(self):
        if self.refresh_every < 1 or self.bootstrap_start < 0:
            raise ValueError("model.refresh_every must be ≥ 1 and model.bootstrap_start ≥ 0")
        if not 2 <= self.clusters <= self.max_segments <= 255:
            raise ValueError("need 2 ≤ model.clusters ≤ model.max_segments ≤ 255")


def to_uint8(images: Tensor) -> Tensor:
    """Normalised images (B, 3, H, W) → (B, H, W, 3) uint8 (the data's ImageNet normalisation undone)."""
    pixels = images.detach().float().cpu() * _STD + _MEAN
    return (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


class CYBORGS(nn.Module):
    """`forward(batch)` → TaskOutput(loss, {"loss/detcon", "masks/valid", "masks/round", "masks/new"})."""

    embeds = frozenset({"video"})

    def __init__(self, cfg: CYBORGSConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = build_encoder(cfg.backbone)
        dim = self.backbone.out_dim
        self.head = MLPHead(dim, cfg.embed_dim, cfg.hidden_dim, 2)
        self.predictor = MLPHead(cfg.embed_dim, cfg.embed_dim, cfg.hidden_dim, 2)
        self.key_backbone, self.key_head = momentum_copy(self.backbone), momentum_copy(self.head)
        self.loss_fn = MaskContrastLoss(cfg.temperature)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer(
            "bank", torch.zeros(cfg.bank_images, cfg.mask_size, cfg.mask_size, dtype=torch.uint8)
        )
        self.register_buffer("bank_round", torch.full((cfg.bank_images,), -1, dtype=torch.long))

    # ---- the segment bank -------------------------------------------------------------------------------

    def round_at(self, step: int) -> int:
        """The refresh round of `step`: 0 (superpixels) before `bootstrap_start`, then 1, 2, … every
        `refresh_every` steps."""
        if step < self.cfg.bootstrap_start:
            return 0
        return 1 + (step - self.cfg.bootstrap_start) // self.cfg.refresh_every

    def _fit_bank(self, images: int, size: tuple[int, int]) -> None:
        """Grow the bank to `images` entries of `size` (a new size empties it: every entry is made again)."""
        n = self.bank.shape[0]
        if tuple(self.bank.shape[1:]) != tuple(size):
            self.bank = torch.zeros(n, *size, dtype=torch.uint8, device=self.bank.device)
            self.bank_round.fill_(-1)
        if images > n:
            grow = torch.zeros(images - n, *size, dtype=torch.uint8, device=self.bank.device)
            self.bank = torch.cat([self.bank, grow])
            self.bank_round = torch.cat([self.bank_round, self.bank_round.new_full((images - n,), -1)])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A saved bank of another size than this one (grown on demand) is taken as it is."""
        for name in ("bank", "bank_round"):
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(saved, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def segment_images(self, images: Tensor, seed: Tensor | None = None, snap: bool | None = None) -> Tensor:
        """Whole normalised images (B, 3, H, W) → (B, H, W) uint8 k-means segments of the momentum
        network's feature maps (k-means seeded by `seed` (B,), else 0), voted within each superpixel when
        `snap` (None: `cfg.snap`; `snap_to_regions`)."""
        was_training = self.key_backbone.training
        self.key_backbone.eval()  # its EMA statistics: a segment does not depend on the batch it is made in
        try:
            features = self.key_backbone(images)
        finally:
            self.key_backbone.train(was_training)
        size = tuple(images.shape[-2:])
        seeds = [0] * len(images) if seed is None else [int(s) for s in seed]
        labels = torch.stack(
            [
                kmeans_segments(f, size, self.cfg.clusters, self.cfg.max_segments, seed=s)
                for f, s in zip(features.cpu(), seeds)
            ]
        )
        if self.cfg.snap if snap is None else snap:
            regions = self.superpixels(images).cpu()
            labels = torch.stack(
                [snap_to_regions(x, r, self.cfg.max_segments) for x, r in zip(labels, regions)]
            )
        return labels.to(images.device)

    def superpixels(self, images: Tensor) -> Tensor:
        """Whole normalised images (B, 3, H, W) → (B, H, W) uint8 superpixel labels."""
        sp = self.cfg.superpixels
        pixels = to_uint8(images)
        return torch.stack(
            [superpixels(p, self.cfg.max_segments, sp.scale, sp.sigma, sp.min_size) for p in pixels]
        ).to(images.device)

    @torch.no_grad()
    def refresh(self, images: Tensor, index: Tensor) -> int:
        """Segment again the images (whole, (B, 3, S, S)) whose bank entries are older than the current
        round, and store them (every rank's); → how many entries were made, over all ranks."""
        current = self.round_at(int(self.step))
        index = index.to(self.bank.device).long()
        every_index = distributed.all_gather_no_grad(index)
        self._fit_bank(max(int(every_index.max()) + 1, self.bank.shape[0]), tuple(images.shape[-2:]))
        stale = self.bank_round[index] != current
        labels = self.bank[index].clone()
        if bool(stale.any()):
            if current == 0:
                labels[stale] = self.superpixels(images[stale])
            else:  # seeded by (image, round): the same entry again after a resume
                labels[stale] = self.segment_images(images[stale], index[stale] * 1009 + current)
        every_stale = distributed.all_gather_no_grad(stale)
        every_labels = distributed.all_gather_no_grad(labels)
        rows = every_index[every_stale]
        self.bank[rows] = every_labels[every_stale]
        self.bank_round[rows] = current
        return int(every_stale.sum())

    def view_masks(self, labels: Tensor, view: dict, size: tuple[int, int]) -> Tensor:
        """The bank's labels (B, S, S) of the images → (B, M, h, w) soft masks of `view` on a feature map of
        `size`: one-hot labels warped through the view's geometry, then area-averaged per feature cell (in
        cells: 1 = the whole cell inside the segment)."""
        onehot = F.one_hot(labels.long(), self.cfg.max_segments).permute(0, 3, 1, 2).float()
        images = view["video"]
        out_size = tuple(images.shape[-2:])
        records = view.get("geometry") or [[] for _ in range(len(labels))]
        records = [r if r else [] for r in records]
        if any(records):
            warped = apply_geometry_to_maps(records, onehot, out_size)
        else:
            warped = F.interpolate(onehot, size=out_size, mode="nearest")
        return F.adaptive_avg_pool2d(warped, size)

    # ---- training ---------------------------------------------------------------------------------------

    def forward(self, batch: dict) -> TaskOutput:
        views = batch.get("views")
        if not views or len(views) < 3 or batch.get("index") is None:
            raise ValueError(
                "cyborgs needs views 0 and 1 (crops), view 2 (the whole image) and the images' index: use "
                "the cyborgs recipe's dataset (avssl.runner.cyborgs_data)"
            )
        made = self.refresh(as_images(views[2]["video"]), torch.as_tensor(batch["index"]))
        labels = self.bank[torch.as_tensor(batch["index"]).to(self.bank.device).long()]
        images = [as_images(v["video"]) for v in views[:2]]
        maps = [self.backbone(x) for x in images]
        size = tuple(maps[0].shape[-2:])
        masks = [self.view_masks(labels, {**v, "video": x}, size) for v, x in zip(views, images)]
        areas = [m.flatten(2).sum(2) for m in masks]
        valid = (areas[0] >= self.cfg.min_area) & (areas[1] >= self.cfg.min_area)
        q, k = [], []
        for feature_map, m, x in zip(maps, masks, images):
            pooled, _ = mask_pool(feature_map, m)
            q.append(self._rows(pooled, valid, lambda z: self.predictor(self.head(z))))
            with torch.no_grad():
                key_pooled, _ = mask_pool(self.key_backbone(x), m)
                k.append(self._rows(key_pooled, valid, self.key_head))
        loss = self.loss_fn(q[0], q[1], k[0], k[1], valid)
        logs = {
            "loss/detcon": loss.detach(),
            "masks/valid": valid.float().sum(1).mean(),
            "masks/round": float(self.round_at(int(self.step))),
            "masks/new": float(made),
        }
        return TaskOutput(loss, logs)

    @staticmethod
    def _rows(pooled: Tensor, valid: Tensor, fn) -> Tensor:
        """`fn` on the valid masks' pooled features (B, M, C) only (no empty mask in BatchNorm's statistics);
        the others are zero rows (they take no part in the loss)."""
        enough = int(valid.sum()) >= 2  # BatchNorm needs two rows
        rows = fn(pooled[valid] if enough else pooled.flatten(0, 1))
        out = rows.new_zeros(*valid.shape, rows.shape[-1]) + 0.0 * rows.sum()  # in the graph even if unused
        if enough:
            out[valid] = rows
        return out

    def embed(self, batch: dict, modality: str) -> Tensor:
        """`batch["video"]` (B, 3, 1, H, W) or (B, 3, H, W) → (B, C) unit-norm pooled backbone features."""
        check_modality(self, modality)
        return F.normalize(self.backbone(as_images(batch["video"])).flatten(2).mean(2), dim=1)

    def on_step_end(self, step: int, max_steps: int) -> None:
        """Momentum update of the target network (constant momentum); the step drives the refresh rounds."""
        self.step.fill_(step)
        ema_update(self.key_backbone, self.backbone, self.cfg.momentum)
        ema_update(self.key_head, self.head, self.cfg.momentum)
