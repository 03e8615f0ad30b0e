"""How well an unsupervised saliency map finds the object, next to the centre prior.

Two scores per image, each against the image's ground-truth boxes:

* box IoU — the saliency box (`avssl.transforms.saliency.saliency_box`, the map's saliency-weighted
  extent) against the best-matching ground-truth box; "hit@0.5" is the fraction of images with IoU ≥ 0.5
  (the correct-localisation rate of weakly supervised localisation). The centre prior's boxes are centred
  and cover a fraction f of the width and the height, f ∈ `CENTRE_FRACTIONS`; the best f on the evaluated
  images themselves is reported (an optimistic baseline: it is tuned on the test set).
* area IoU (cIoU-style, threshold-free) — the map's top-k pixels, k = the number of pixels inside the
  ground-truth boxes, against the union of the boxes: only the ranking of the pixels counts, not a
  threshold. The centre prior's map is a centred Gaussian scaled to the image's aspect (its top-k pixels:
  the centred ellipse of the ground truth's area).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from avssl.transforms.saliency import saliency, saliency_box

CENTRE_FRACTIONS = (0.3, 0.5, 0.7, 0.9, 1.0)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two xyxy boxes (continuous coordinates; x1/y1 exclusive)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def centre_box(height: int, width: int, fraction: float) -> list[float]:
    """The centred box covering `fraction` of the width and of the height."""
    dx, dy = width * (1 - fraction) / 2, height * (1 - fraction) / 2
    return [dx, dy, width - dx, height - dy]


def centre_map(height: int, width: int) -> torch.Tensor:
    """(H, W) centre prior: exp(−(x²/W² + y²/H²)) about the image centre (pixel centres)."""
    y = (torch.arange(height, dtype=torch.float64) + 0.5 - height / 2) / height
    x = (torch.arange(width, dtype=torch.float64) + 0.5 - width / 2) / width
    return torch.exp(-(y[:, None] ** 2 + x[None, :] ** 2))


def box_mask(height: int, width: int, boxes: Iterable[Sequence[float]]) -> torch.Tensor:
    """Bool (H, W): the pixels whose centres lie inside any of the boxes."""
    y = torch.arange(height, dtype=torch.float64) + 0.5
    x = torch.arange(width, dtype=torch.float64) + 0.5
    mask = torch.zeros(height, width, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        mask |= ((y >= y0) & (y < y1))[:, None] & ((x >= x0) & (x < x1))[None, :]
    return mask


def area_iou(maps: torch.Tensor, gt: torch.Tensor) -> float:
    """IoU of the map's top-|gt| pixels with the bool mask `gt` (ties broken by position)."""
    k = int(gt.sum())
    if k == 0:
        return math.nan
    top = torch.zeros(maps.numel(), dtype=torch.bool)
    top[maps.flatten().double().topk(k).indices.cpu()] = True
    top = top.view(gt.shape)
    return float((top & gt).sum() / (top | gt).sum())


def _scores(box_ious: list[float], area_ious: list[float]) -> dict[str, float]:
    return {
        "box_iou": float(np.mean(box_ious)),
        "hit@0.5": float(np.mean([i >= 0.5 for i in box_ious])),
        "area_iou": float(np.mean(area_ious)),
    }


def saliency_report(
    samples: Iterable[tuple[torch.Tensor, list[list[float]]]], method: str = "random_cnn", **kwargs
) -> dict:
    """`samples`: (RGB uint8 image (H, W, 3), its ground-truth boxes) pairs → {"saliency": {box_iou,
    hit@0.5, area_iou}, "centre": the centre prior's {box_iou, hit@0.5 (of its best fraction), area_iou},
    "centre_fraction", "centre_boxes": {f: box_iou}, "num_images", "per_image": [[box IoU, area IoU]]};
    `kwargs` go to the saliency method. Images without a box are skipped."""
    box_ious: list[float] = []
    area_ious: list[float] = []
    centre_boxes: dict[float, list[float]] = {f: [] for f in CENTRE_FRACTIONS}
    centre_area: list[float] = []
    for image, boxes in samples:
        if not boxes:
            continue
        h, w = image.shape[:2]
        gt = box_mask(h, w, boxes)
        maps = saliency(image.permute(2, 0, 1), method, **kwargs)[0]
        box = saliency_box(maps)
        box_ious.append(max(box_iou(box, b) for b in boxes))
        area_ious.append(area_iou(maps, gt))
        centre_area.append(area_iou(centre_map(h, w), gt))
        for f in CENTRE_FRACTIONS:
            centre_boxes[f].append(max(box_iou(centre_box(h, w, f), b) for b in boxes))
    if not box_ious:
        raise ValueError("saliency evaluation: no image with a ground-truth box")
    best = max(CENTRE_FRACTIONS, key=lambda f: np.mean(centre_boxes[f]))
    return {
        "method": method,
        "saliency": _scores(box_ious, area_ious),
        "centre": _scores(centre_boxes[best], centre_area),
        "centre_fraction": best,
        "centre_boxes": {str(f): float(np.mean(v)) for f, v in centre_boxes.items()},
        "num_images": len(box_ious),
        "per_image": [[round(b, 4), round(a, 4)] for b, a in zip(box_ious, area_ious)],
    }
