"""Quality of unsupervised segmentations (label maps whose labels carry no class): how well CYBORGS' masks
cover the ground-truth segments of each image.

Best-overlap mIoU: for every ground-truth segment g of an image (background included, each instance its own
segment), IoU(g, p) with the predicted segment p overlapping it best; averaged over the image's
ground-truth segments, then over the images, in percent. Over-segmentation (a segment cut in pieces) and
under-segmentation (segments merged) both lower it; one segment per image scores the ground-truth segments'
areas, not zero (`segment_miou` of a constant map is the baseline to beat). The label values of the
prediction are irrelevant (no matching of classes).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def best_overlap_ious(pred: Tensor, target: Tensor) -> Tensor:
    """(H, W) integer label maps → (G,) IoU of each ground-truth segment (sorted label order) with the
    predicted segment that overlaps it best."""
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(pred.shape)} and ground truth {tuple(target.shape)} differ in size"
        )
    _, p = torch.unique(pred.flatten(), return_inverse=True)
    _, t = torch.unique(target.flatten(), return_inverse=True)
    n_p, n_t = int(p.max()) + 1, int(t.max()) + 1
    inter = torch.bincount(t * n_p + p, minlength=n_t * n_p).reshape(n_t, n_p).double()
    union = inter.sum(1, keepdim=True) + inter.sum(0, keepdim=True) - inter
    return (inter / union).max(1).values


def segment_miou(preds: Iterable[Tensor], targets: Iterable[Tensor]) -> float:
    """Best-overlap mIoU (percent) of the predicted label maps against the ground-truth ones, pair by pair."""
    scores = [float(best_overlap_ious(p, t).mean()) for p, t in zip(preds, targets, strict=True)]
    if not scores:
        raise ValueError("no images to score")
    return 100.0 * sum(scores) / len(scores)
