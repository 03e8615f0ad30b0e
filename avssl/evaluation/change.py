"""Change-detection metrics for the change class, accumulated over a split, as the LEVIR-CD papers report them
(Chen & Shi, "A Spatial-Temporal Attention-Based Method and a New Dataset for Remote Sensing Image Change
Detection", Remote Sensing 2020; Ji, Wei & Lu, "Fully Convolutional Networks for Multisource Building
Extraction From an Open Aerial and Satellite Imagery Data Set", IEEE TGRS 2019, for WHU-CD).

Every pixel of every pair of the split is counted once (no per-image averaging):

    TP = changed pixels predicted changed      FP = unchanged pixels predicted changed
    FN = changed pixels predicted unchanged    TN = unchanged pixels predicted unchanged

    precision = TP / (TP + FP)      recall = TP / (TP + FN)
    F1  = 2 TP / (2 TP + FP + FN)   (= 2 P R / (P + R))
    IoU = TP / (TP + FP + FN)       (of the change class)
    OA  = (TP + TN) / (TP + FP + FN + TN)

all in percent. A ratio whose denominator is 0 is undefined and reported as None: precision when nothing is
predicted changed, recall when nothing changed, F1 and IoU when neither (then OA is 100). Predicting no
change on a split with change gives recall = F1 = IoU = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class ChangeCounts:
    """Pixel counts of the change class over a split (definitions in the module docstring)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: ChangeCounts) -> ChangeCounts:
        return ChangeCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def change_counts(pred: Tensor | np.ndarray, target: Tensor | np.ndarray) -> ChangeCounts:
    """TP / FP / FN / TN of a predicted change mask against the label: both bool (or 0 / 1) of the same
    shape, any (one pair (H, W) or a batch (B, H, W))."""
    pred, target = torch.as_tensor(pred).bool(), torch.as_tensor(target).bool()
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and label {tuple(target.shape)} differ in shape")
    tp = int((pred & target).sum())
    fp = int((pred & ~target).sum())
    fn = int((~pred & target).sum())
    return ChangeCounts(tp, fp, fn, pred.numel() - tp - fp - fn)


def _ratio(num: int, den: int) -> float | None:
    return 100.0 * num / den if den else None


def change_scores(counts: ChangeCounts) -> dict:
    """{"precision", "recall", "F1", "IoU", "OA"} in percent (None: undefined, see the module docstring) and
    the counts {"tp", "fp", "fn", "tn"}."""
    c = counts
    return {
        "precision": _ratio(c.tp, c.tp + c.fp),
        "recall": _ratio(c.tp, c.tp + c.fn),
        "F1": _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
        "IoU": _ratio(c.tp, c.tp + c.fp + c.fn),
        "OA": _ratio(c.tp + c.tn, c.total),
        "tp": c.tp,
        "fp": c.fp,
        "fn": c.fn,
        "tn": c.tn,
    }


def split_scores(preds: list[Tensor | np.ndarray], labels: list[Tensor | np.ndarray]) -> dict:
    """`change_scores` of the counts summed over every pair of a split (pairs may differ in size)."""
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
    total = ChangeCounts()
    for pred, label in zip(preds, labels):
        total = total + change_counts(pred, label)
    return change_scores(total)
