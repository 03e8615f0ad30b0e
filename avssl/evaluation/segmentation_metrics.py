"""AVSBench segmentation metrics (Jaccard / mIoU and F-score) as the released evaluation computes them.

Zhou et al., "Audio-Visual Segmentation", ECCV 2022 (AVSBench); the definitions, in the released evaluation
code's form, are in docs/evaluation.md. Inputs are probabilities p = sigmoid(logit) (F, H, W) and binary
ground truth g (F, H, W); everything is computed in float32 as the reference does on its tensors.

- Jaccard of a frame: binarise p > 0.5 (strict); IoU = inter / (union + 1e-7); a frame whose ground
  truth is empty scores the true-negative share #(pred = 0) / (H·W + 1e-7) instead.
- F curve of a frame: 255 thresholds θ = float32 linspace(0, 1 − 1e-10, 255); prediction p ≥ θ;
  precision = tp / (Σpred + 1e-20), recall = tp / (Σg + 1e-20); f = (1.3·precision)·recall /
  (0.3·precision + recall) (β² = 0.3), NaN → 0. Frames with an empty ground truth have no F curve.
- `per-frame` scores (batch-independent): mIoU = mean IoU over all frames; F = max over θ of the mean F
  curve over all non-empty frames.
- `avsbench` scores (the released test loop): frames in batches of B videos × 5 frames in the test order;
  per batch mIoU = mean IoU of its frames and F = max over θ of the mean curve of its non-empty frames
  (0 for a batch without one); both averaged over batches (a short last batch weighs as much as a full
  one), so F — and, when the last batch is short, mIoU — depend on B.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

FMode = Literal["per-frame", "avsbench"]
BETA2 = 0.3
NUM_THRESHOLDS = 255
IOU_EPS = 1e-7
PR_EPS = 1e-20


def thresholds() -> torch.Tensor:
    """The reference's 255 F-score thresholds: torch.linspace(0, 1 − 1e-10, 255) in float32."""
    return torch.linspace(0, 1 - 1e-10, NUM_THRESHOLDS, dtype=torch.float32)


def _as_tensors(
    prob: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(np.asarray(prob), dtype=torch.float32)
    g = torch.as_tensor(np.asarray(gt)).to(torch.float32)
    if p.ndim == 2:
        p, g = p[None], g[None] if g.ndim == 2 else g
    if p.shape != g.shape or p.ndim != 3:
        raise ValueError(f"probabilities {tuple(p.shape)} and masks {tuple(g.shape)} must both be (F, H, W)")
    return p, (g > 0).to(torch.float32)


def frame_iou(prob: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor) -> np.ndarray:
    """(F,) float32 Jaccard per frame of probabilities `prob` and binary masks `gt`, both (F, H, W)."""
    p, g = _as_tensors(prob, gt)
    pred = (p > 0.5).to(torch.float32)
    inter = (pred * g).sum(dim=(1, 2))
    union = torch.maximum(pred, g).sum(dim=(1, 2))
    empty = g.sum(dim=(1, 2)) == 0
    pixels = p.shape[1] * p.shape[2]
    inter = torch.where(empty, ((1 - pred) * (1 - g)).sum(dim=(1, 2)), inter)
    union = torch.where(empty, torch.full_like(union, pixels), union)
    return (inter / (union + IOU_EPS)).numpy()


def frame_f_curves(
    prob: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """((F, 255) float32 F curves, (F,) bool "ground truth non-empty"); rows of empty frames are 0.

    Counts per threshold come from sorted probabilities (exact integers), so this equals thresholding
    the map 255 times."""
    p, g = _as_tensors(prob, gt)
    theta = thresholds()
    flat_p, flat_g = p.flatten(1), g.flatten(1)
    curves = torch.zeros(p.shape[0], NUM_THRESHOLDS, dtype=torch.float32)
    nonempty = flat_g.sum(dim=1) > 0
    for k in torch.nonzero(nonempty).flatten().tolist():
        everything = torch.sort(flat_p[k]).values
        positives = torch.sort(flat_p[k][flat_g[k] > 0]).values
        # number of values ≥ θ = n − (number of values < θ)
        predicted = (everything.numel() - torch.searchsorted(everything, theta, right=False)).to(
            torch.float32
        )
        tp = (positives.numel() - torch.searchsorted(positives, theta, right=False)).to(torch.float32)
        precision = tp / (predicted + PR_EPS)
        recall = tp / (flat_g[k].sum() + PR_EPS)
        f = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
        curves[k] = torch.nan_to_num(f, nan=0.0)
    return curves.numpy(), nonempty.numpy()


def _batch_scores(iou: np.ndarray, curves: np.ndarray, nonempty: np.ndarray) -> tuple[float, float]:
    """(mIoU, F) of one evaluation batch as the released loop: mean IoU; max of the mean curve of the
    non-empty frames (accumulated frame by frame in float32), 0 without any."""
    miou = float(torch.from_numpy(iou).sum() / len(iou))
    if not nonempty.any():
        return miou, 0.0
    total = torch.zeros(NUM_THRESHOLDS, dtype=torch.float32)
    for row in curves[nonempty]:
        total = total + torch.from_numpy(row)
    return miou, float((total / int(nonempty.sum())).max())


def segmentation_scores(
    iou: np.ndarray,
    curves: np.ndarray,
    nonempty: np.ndarray,
    f_mode: FMode = "per-frame",
    batch_frames: int = 20,
) -> dict:
    """{"mIoU": percent, "F": 0–1, "num_frames", "f_mode"} from per-frame IoU, F curves and flags (frames
    in the test order). `batch_frames` = B videos × 5 frames, used by the "avsbench" mode only."""
    if len(iou) == 0:
        raise ValueError("no frames to score")
    if f_mode == "per-frame":
        miou = float(np.mean(iou.astype(np.float64)))
        f = float(curves[nonempty].astype(np.float64).mean(axis=0).max()) if nonempty.any() else 0.0
    elif f_mode == "avsbench":
        if batch_frames < 1:
            raise ValueError(f"batch_frames must be ≥ 1, got {batch_frames}")
        per_batch = [
            _batch_scores(
                iou[s : s + batch_frames], curves[s : s + batch_frames], nonempty[s : s + batch_frames]
            )
            for s in range(0, len(iou), batch_frames)
        ]
        miou = float(np.mean([m for m, _ in per_batch]))
        f = float(np.mean([b for _, b in per_batch]))
    else:
        raise ValueError(f"unknown f_mode {f_mode!r}; choose 'per-frame' or 'avsbench'")
    return {"mIoU": 100.0 * miou, "F": f, "num_frames": int(len(iou)), "f_mode": f_mode}


def score_videos(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], f_mode: FMode = "per-frame", batch_size: int = 4
) -> dict:
    """Scores of videos in test order: `probs[i]`, `masks[i]` are (T, H, W) (T = 5 in AVSBench);
    "avsbench" batches `batch_size` videos (their frames) as the released loop does."""
    ious, curves, flags = [], [], []
    for p, g in zip(probs, masks, strict=True):
        ious.append(frame_iou(p, g))
        c, n = frame_f_curves(p, g)
        curves.append(c)
        flags.append(n)
    frames_per_video = int(np.asarray(probs[0]).shape[0]) if len(probs) else 5
    return segmentation_scores(
        np.concatenate(ious),
        np.concatenate(curves),
        np.concatenate(flags),
        f_mode,
        batch_frames=batch_size * frames_per_video,
    )
