"""Foreground-background merging (FAME), batched on the collated clips inside a task's `forward`.

Ding, Yang, Chen, Chen, Wu, Wang & Yuan, "Motion-aware Contrastive Video Representation Learning via
Foreground-background Merging", CVPR 2022: without a detector, a clip's moving foreground is estimated from
frame differences and colour statistics, pasted onto the static background of another video of the batch,
and the fused clip is used as the positive of the original — the only thing the two share is the moving
foreground, so a contrastive model can no longer match clips by their background.

Here, for clips x (B, C, T, H, W) (any normalisation: only differences and colour bins are used):

* motion energy  E_b(p)   = mean over channels c and steps t of |x_b[c, t + 1, p] − x_b[c, t, p]|;
* rule "difference": the foreground is the `ratio` fraction of pixels with the largest E_b (one 2-D mask
  per clip, the region the object sweeps);
* rule "difference_colour" (default): E_b's top-`ratio` pixels are a seed; each pixel's colour (each
  channel quantised into `bins` levels over the clip's own range, a joint RGB bin) gets the probability
  P(fg | colour) = h_fg / (h_fg + h_bg) from the clip's colour histograms inside / outside the seed over all
  frames, and the mask is the top-`ratio` fraction of (1 − w) Ê_b + w · mean_t P(fg | colour(x_b[:, t, p]))
  (Ê_b: E_b divided by its maximum, w = `colour_weight`): pixels of the moving object's colours that barely
  change (its inside, a slow frame) join the foreground and background texture edges drop out;
* the static background of video j is one of its frames (`background_frame`, default the middle one)
  repeated over time; the fused clip of video b is  M_b ⊙ x_b + (1 − M_b) ⊙ bg_{π(b)}  with π a random
  derangement of the batch (no video receives its own background).

FAME's default ratio is about half of the pixels; the synthetic action sets' objects cover less, their
config sets a smaller ratio (see `recipes/configs/fame.yaml`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

MaskRule = Literal["difference", "difference_colour"]
MASK_RULES = ("difference", "difference_colour")


def _check_clips(clips: Tensor) -> None:
    if clips.dim() != 5 or clips.shape[2] < 2:
        raise ValueError(f"FAME needs clips (B, C, T, H, W) with T >= 2 frames, got {tuple(clips.shape)}")


def motion_energy(clips: Tensor) -> Tensor:
    """(B, C, T, H, W) → (B, H, W): the mean absolute frame difference over channels and time."""
    _check_clips(clips)
    return (clips[:, :, 1:] - clips[:, :, :-1]).abs().mean(dim=(1, 2))


def top_fraction(score: Tensor, ratio: float) -> Tensor:
    """(B, H, W) → bool (B, H, W): each map's round(ratio · H · W) highest pixels (at least one)."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"foreground ratio must be in (0, 1], got {ratio}")
    flat = score.flatten(1)
    k = max(1, round(ratio * flat.shape[1]))
    idx = flat.topk(k, dim=1).indices
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, idx, True)
    return mask.view_as(score)


def colour_bins(clips: Tensor, bins: int) -> Tensor:
    """(B, C, T, H, W) → long (B, T, H, W): each pixel's joint colour bin, every channel quantised into
    `bins` levels between the clip's own minimum and maximum of that channel."""
    b, c = clips.shape[:2]
    flat = clips.reshape(b, c, -1)
    lo, hi = flat.min(2, keepdim=True).values, flat.max(2, keepdim=True).values
    level = ((flat - lo) / (hi - lo).clamp_min(1e-6) * bins).long().clamp_(0, bins - 1)  # (B, C, N)
    weights = bins ** torch.arange(c - 1, -1, -1, device=clips.device).view(1, c, 1)
    return (level * weights).sum(1).view(b, *clips.shape[2:])


def colour_probability(clips: Tensor, seed: Tensor, bins: int = 8) -> Tensor:
    """P(fg | colour) per pixel, averaged over time: (B, C, T, H, W), bool seed (B, H, W) → (B, H, W)."""
    b, _, t = clips.shape[:3]
    index = colour_bins(clips, bins).flatten(1)  # (B, T·H·W)
    inside = seed.unsqueeze(1).expand(b, t, *seed.shape[1:]).flatten(1).float()
    n_bins = bins ** clips.shape[1]
    h_fg = torch.zeros(b, n_bins, device=clips.device).scatter_add_(1, index, inside)
    h_bg = torch.zeros(b, n_bins, device=clips.device).scatter_add_(1, index, 1.0 - inside)
    # normalised per region, so a large background does not outvote a small foreground of the same colour
    p_fg = h_fg / h_fg.sum(1, keepdim=True).clamp_min(1.0)
    p_bg = h_bg / h_bg.sum(1, keepdim=True).clamp_min(1.0)
    prob = p_fg / (p_fg + p_bg).clamp_min(1e-12)  # (B, bins^C)
    return prob.gather(1, index).view(b, t, *seed.shape[1:]).mean(1)


def foreground_masks(
    clips: Tensor,
    ratio: float = 0.5,
    rule: MaskRule = "difference_colour",
    bins: int = 8,
    colour_weight: float = 0.5,
) -> Tensor:
    """bool (B, H, W): each clip's estimated moving foreground (see the module doc for the rules)."""
    if rule not in MASK_RULES:
        raise ValueError(f"FAME mask rule must be one of {', '.join(MASK_RULES)}, got {rule!r}")
    energy = motion_energy(clips)
    seed = top_fraction(energy, ratio)
    if rule == "difference":
        return seed
    if not 0.0 <= colour_weight <= 1.0:
        raise ValueError(f"colour_weight must be in [0, 1], got {colour_weight}")
    scaled = energy / energy.flatten(1).max(1).values.clamp_min(1e-12).view(-1, 1, 1)
    score = (1.0 - colour_weight) * scaled + colour_weight * colour_probability(clips, seed, bins)
    return top_fraction(score, ratio)


def derangement(n: int, generator: torch.Generator | None = None) -> Tensor:
    """A random permutation of range(n) without fixed points (n ≥ 2): a random order, each element mapped
    to the next one in it."""
    if n < 2:
        raise ValueError(f"FAME pastes onto another video's background: the batch needs >= 2 clips, got {n}")
    order = torch.randperm(n, generator=generator)
    out = torch.empty(n, dtype=torch.long)
    out[order] = order.roll(-1)
    return out


def second_derangement(first: Tensor, generator: torch.Generator | None) -> Tensor:
    """Another derangement that differs from `first` in every row (redrawn up to 20 times; with 2 images
    there is only one derangement)."""
    b = first.shape[0]
    second = derangement(b, generator).to(first.device)
    for _ in range(20):
        if b < 3 or not bool((second == first).any()):
            break
        second = derangement(b, generator).to(first.device)
    return second


def static_backgrounds(clips: Tensor, frame: int | None = None) -> Tensor:
    """(B, C, T, H, W) → (B, C, T, H, W): frame `frame` (None: the middle one) of each clip repeated over
    time — a background without motion."""
    _check_clips(clips)
    t = clips.shape[2]
    index = t // 2 if frame is None else frame
    if not -t <= index < t:
        raise ValueError(f"background_frame {frame} is outside the clip's {t} frames")
    return clips[:, :, index : index + 1 if index != -1 else None].expand_as(clips)


def fuse(clips: Tensor, masks: Tensor, donors: Tensor, frame: int | None = None) -> Tensor:
    """FAME's fused clips: mask (B, H, W) of each clip's foreground over the static background of clip
    `donors[b]` → (B, C, T, H, W)."""
    if masks.shape != (clips.shape[0], *clips.shape[-2:]):
        raise ValueError(
            f"masks must be (B, H, W) = {(clips.shape[0], *clips.shape[-2:])}, got {tuple(masks.shape)}"
        )
    background = static_backgrounds(clips, frame)[donors.to(clips.device)]
    m = masks.to(clips.dtype)[:, None, None]  # (B, 1, 1, H, W)
    return m * clips + (1.0 - m) * background
