"""Background augmentations of still images, batched on the collated views inside a task's `forward`.

Ryali, Schwab & Morcos, "Characterizing and Improving the Robustness of Self-Supervised Learning through
Background Augmentations", 2021: with a foreground mask per image (here from the data: ground-truth masks
or the unsupervised saliency of `avssl.transforms.saliency`), a view's background is changed so that two
views of an image share only their foreground:

* BG_RM — the background is removed: replaced by 0 (in normalised units: the dataset's mean colour);
* BG_Random — the background is another image's background;
* BG_Swaps — the query and its positive get two *different* other backgrounds, and a hard negative shows
  *another* image's foreground on the *query's* background (same background, other object), so matching by
  background is penalised outright.

TOBIAS (a randomly initialised CNN's activations localise objects) uses the same compositing with the
random-init saliency over a cell grid (`avssl.transforms.saliency.grid_mask`) to put each image's
foreground on other backgrounds.

An image's *background plate* is the image with its foreground filled in from its own background by
normalised convolution (a box filter of about a quarter of the image, applied `passes` times to the
background pixels and their weights; a pixel far from any background falls back to the image's mean
background colour), so pasting a foreground onto it leaves no trace of the plate's own object. Donors
come from a random derangement of the batch (no image receives its own background; a batch needs ≥ 2
images). Every draw comes from the `generator` given (None: torch's global RNG, which a resumed run restores).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.transforms.background import derangement, second_derangement

BACKGROUND_MODES = ("none", "bg_rm", "bg_random", "bg_swaps")


@dataclass
class BackgroundAugConfig:
    """`mode` (`BACKGROUND_MODES`) acting per sample with probability `p` on the views in `views` (BG_RM,
    BG_Random: each view on its own; BG_Swaps: the query-positive pair, views 0 and 1, with its hard
    negative); `p_remove` adds BG_RM with that probability on top of BG_Random / BG_Swaps (the paper combines
    them). Defaults are ours: the paper tunes the probabilities per method."""

    mode: str = "none"
    p: float = 0.5
    p_remove: float = 0.0
    views: list[int] = field(default_factory=lambda: [0, 1])

    def __post_init__(self):
        if self.mode not in BACKGROUND_MODES:
            raise ValueError(f"background mode must be one of {BACKGROUND_MODES}, got {self.mode!r}")
        for name in ("p", "p_remove"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"background.{name} must be in [0, 1], got {getattr(self, name)}")


def _check(images: Tensor, masks: Tensor) -> Tensor:
    """(B, C, H, W) images and (B, H, W) / (B, 1, H, W) masks → bool (B, 1, H, W) masks."""
    if masks.dim() == 4:
        masks = masks[:, :1]
    elif masks.dim() == 3:
        masks = masks[:, None]
    if images.dim() != 4 or masks.shape[0] != images.shape[0] or masks.shape[-2:] != images.shape[-2:]:
        raise ValueError(
            f"expected images (B, C, H, W) and masks (B, H, W), got {images.shape}, {masks.shape}"
        )
    return masks > 0


def background_plates(images: Tensor, masks: Tensor, passes: int = 3) -> Tensor:
    """(B, C, H, W), masks (B, H, W) foreground → (B, C, H, W): background pixels kept, foreground pixels
    filled by normalised convolution of the background (see the module docstring)."""
    fg = _check(images, masks)
    bg = (~fg).to(images.dtype)
    k = max(3, (min(images.shape[-2:]) // 4) | 1)
    total = (images * bg).sum((2, 3), keepdim=True)
    count = bg.sum((2, 3), keepdim=True)
    mean = total / count.clamp_min(1.0)  # all-foreground images: 0, the normalised mean colour
    values, weights = images * bg, bg
    for _ in range(passes):
        values = F.avg_pool2d(values, k, stride=1, padding=k // 2, count_include_pad=False)
        weights = F.avg_pool2d(weights, k, stride=1, padding=k // 2, count_include_pad=False)
    filled = torch.where(weights > 1e-6, values / weights.clamp_min(1e-6), mean)
    return torch.where(fg, filled, images)


def composite(images: Tensor, masks: Tensor, backgrounds: Tensor) -> Tensor:
    """Foreground of `images` (masks (B, H, W)) over `backgrounds` (B, C, H, W)."""
    fg = _check(images, masks)
    return torch.where(fg, images, backgrounds)


def _chosen(n: int, p: float, generator: torch.Generator | None, device) -> Tensor:
    return (torch.rand(n, generator=generator) < p).to(device).view(n, 1, 1, 1)


def augment_backgrounds(
    views: list[Tensor],
    masks: list[Tensor],
    cfg: BackgroundAugConfig,
    generator: torch.Generator | None = None,
) -> tuple[list[Tensor], Tensor | None, Tensor | None]:
    """Images of each view (B, C, H, W) and their masks (B, H, W) → (new views, hard negatives (B, C, H, W)
    for view 0 or None, bool (B,) rows that have one, or None)."""
    out = list(views)
    if cfg.mode == "none":
        return out, None, None
    b, device = views[0].shape[0], views[0].device
    negatives = chosen_pairs = None
    if cfg.mode == "bg_swaps":
        plates = [background_plates(views[k], masks[k]) for k in (0, 1)]
        first = derangement(b, generator).to(device)
        second = second_derangement(first, generator)
        chosen_pairs = _chosen(b, cfg.p, generator, device)
        out[0] = torch.where(chosen_pairs, composite(views[0], masks[0], plates[0][first]), views[0])
        out[1] = torch.where(chosen_pairs, composite(views[1], masks[1], plates[1][second]), views[1])
        # the hard negative: another image's foreground on the query's (new) background
        donor = derangement(b, generator).to(device)
        negatives = composite(views[0][donor], masks[0][donor], out[0])
        chosen_pairs = chosen_pairs.view(b)
    elif cfg.mode == "bg_random":
        for k in cfg.views:
            chosen = _chosen(b, cfg.p, generator, device)
            donor = derangement(b, generator).to(device)
            out[k] = torch.where(
                chosen, composite(views[k], masks[k], background_plates(views[k], masks[k])[donor]), out[k]
            )
    p_remove = cfg.p if cfg.mode == "bg_rm" else cfg.p_remove
    if p_remove > 0:
        for k in cfg.views:
            chosen = _chosen(b, p_remove, generator, device)
            out[k] = torch.where(chosen, composite(out[k], masks[k], torch.zeros_like(out[k])), out[k])
    return out, negatives, chosen_pairs
