"""VOC07 image classification on frozen features: multi-label targets from the VOC XML, one-vs-rest linear
classifiers, average precision per class and mAP, as the PASCAL VOC 2007 devkit scores classification
(Everingham, Van Gool, Williams, Winn & Zisserman, "The PASCAL Visual Object Classes (VOC) Challenge",
IJCV 2010) — the linear protocol of self-supervised image models (e.g. Goyal, Mahajan, Gupta & Misra,
"Scaling and Benchmarking Self-Supervised Visual Representation Learning", ICCV 2019, with SVMs).

Targets (the devkit's ImageSets/Main/<class>_<split>.txt): per image and class, 1 when a non-difficult
object of the class is annotated, 0 when only difficult ones are (the image is left out of that class's
training and scoring), −1 otherwise.

Average precision of one class: the images not ignored, sorted by decreasing score; at each distinct score
(tied images enter together, so the result does not depend on their order) recall R = TP / #positives and
precision P = TP / (TP + FP).

- `"voc07"` (VOC2007's 11-point interpolated AP, the devkit's `voc_ap(use_07_metric=True)`):
  AP = 1/11 Σ_{t ∈ {0, 0.1, …, 1}} max{P_n : R_n ≥ t} (0 when no point reaches recall t).
- `"uninterpolated"`: AP = Σ_n (R_n − R_{n−1}) P_n with R_0 = 0 (what scikit-learn's
  `average_precision_score` computes).

mAP is the mean over the classes with at least one positive in the scored split, in percent.

Classifier: one logistic regression per class (one-vs-rest) on L2-normalised, standardised pooled
features (statistics of the training features), full-batch L-BFGS with an L2 penalty; our stand-in for the
protocol's linear SVMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.data.datasets.voc import VOCAnnotation, VOCDataset
from avssl.evaluation.dense import FeatureFn, frozen_features

AP_MODES = ("voc07", "uninterpolated")


def voc_targets(annotations: Sequence[VOCAnnotation], num_classes: int) -> Tensor:
    """(N, K) int8 in {1, 0, −1}: a non-difficult object of the class / only difficult ones / none."""
    targets = torch.full((len(annotations), num_classes), -1, dtype=torch.int8)
    for n, annotation in enumerate(annotations):
        for obj in sorted(annotation.objects, key=lambda o: not o.difficult):  # difficult last: 1 wins
            if targets[n, obj.label] != 1:
                targets[n, obj.label] = 0 if obj.difficult else 1
    return targets


def precision_recall(scores: Tensor, targets: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at each distinct score, highest first, of one class; `targets` in {1, 0, −1}, 0
    ignored. No positive: ValueError."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets)
    keep = t != 0
    s, t = s[keep], t[keep]
    npos = int((t == 1).sum())
    if npos == 0:
        raise ValueError("average precision needs at least one positive")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    tp, fp = np.cumsum(t == 1), np.cumsum(t == -1)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last image of each group of tied scores
    tp, fp = tp[last], fp[last]
    return tp / (tp + fp), tp / npos


def average_precision(scores: Tensor, targets: Tensor, mode: str = "voc07") -> float:
    """AP in [0, 1] of one class (`mode`: voc07 | uninterpolated; definitions in the module docstring)."""
    precision, recall = precision_recall(scores, targets)
    if mode == "voc07":
        return float(
            np.mean(
                [precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]
            )
        )
    if mode == "uninterpolated":
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    raise ValueError(f"mode must be one of {AP_MODES}, got {mode!r}")


def mean_average_precision(scores: Tensor, targets: Tensor, mode: str = "voc07") -> dict:
    """{"mAP" (percent), "ap": per class AP in percent (None: no positive), "classes_scored"} of (N, K)
    scores and targets."""
    ap = [
        100 * average_precision(scores[:, k], targets[:, k], mode) if (targets[:, k] == 1).any() else None
        for k in range(targets.shape[1])
    ]
    scored = [v for v in ap if v is not None]
    return {"mAP": float(np.mean(scored)) if scored else 0.0, "ap": ap, "classes_scored": len(scored)}


def one_vs_rest_scores(
    train: Tensor, train_targets: Tensor, test: Tensor, weight_decay: float = 1e-4, max_iter: int = 200
) -> Tensor:
    """Scores (N_test, K) of K logistic regressions fit on (N_train, D) features with targets in {1, 0, −1}
    (0: left out of that class's loss)."""
    train, test = F.normalize(train.double(), dim=1), F.normalize(test.double(), dim=1)
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    train, test = (train - mean) / std, (test - mean) / std
    labels, weight = (train_targets == 1).double(), (train_targets != 0).double()
    linear = torch.nn.Linear(train.shape[1], train_targets.shape[1], dtype=torch.float64)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(
        linear.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(linear(train), labels, weight=weight, reduction="sum")
        loss = loss / weight.sum().clamp_min(1) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return linear(test)


def voc_classification_metrics(
    train: Tensor, train_targets: Tensor, test: Tensor, test_targets: Tensor, mode: str = "voc07"
) -> dict:
    """One-vs-rest probe fit on the training features, scored on the test split: `mean_average_precision`
    plus "ap_mode", "num_train", "num_test"."""
    scores = one_vs_rest_scores(train, train_targets, test)
    report = mean_average_precision(scores, test_targets, mode)
    return {**report, "ap_mode": mode, "num_train": int(train.shape[0]), "num_test": int(test.shape[0])}


def voc_classification_report(
    fn: FeatureFn,
    root: str | Path,
    train_split: str = "train",
    test_split: str = "val",
    size: int = 224,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> dict:
    """The VOC07 linear protocol on the Main splits of the VOC tree at `root`; `fn`: a frozen model, normalised
    images (B, 3, size, size) → pooled features (B, D) (feature maps (B, C, h, w) are mean-pooled). Adds
    "classes" and "size"."""
    splits = {}
    for split in (train_split, test_split):
        data = VOCDataset(root, split, task="main")
        images = [data.image(i) for i in range(len(data))]
        features = frozen_features(fn, images, size, batch_size, device)
        if features.ndim == 4:
            features = features.mean((2, 3))
        targets = voc_targets([data.annotation(i) for i in range(len(data))], data.num_classes)
        splits[split] = (features, targets)
    report = voc_classification_metrics(*splits[train_split], *splits[test_split])
    return {**report, "classes": list(data.classes), "size": size}
