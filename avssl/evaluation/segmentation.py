"""`avssl eval segmentation`: AVSBench S4 / MS3 mIoU and F-score of predicted masks.

Ground truth = the test split's masks as released (`avsbench_items`, videos in the meta csv's order, all
5 masks of a test video required). Predictions travel as P.npz: one float (T, H, W) array of
probabilities in [0, 1] per video id (T = 5); a map of another size than the mask is resized bilinearly
(half-pixel centres) to it before scoring. The metrics are in
:mod:`avssl.evaluation.segmentation_metrics` (exact AVSBench definitions, both F modes).

Baselines (`baseline_predictions`): "all-foreground" (p = 1 everywhere) and "centre-blob" (a centred
Gaussian exp(−r²/2σ²), σ = size/4: binarised at 0.5 it is the central disc of radius ≈ 0.29·size).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipItem
from avssl.data.decoding import read_masks
from avssl.evaluation.predictions import PredictionError, load_arrays, save_arrays
from avssl.evaluation.segmentation_metrics import FMode, score_videos

BENCHMARKS = ("avsbench-s4", "avsbench-ms3")
Baseline = Literal["all-foreground", "centre-blob"]


def benchmark_test_items(benchmark: str, data_root: str | os.PathLike) -> list[ClipItem]:
    """The test videos of an AVSBench layout, in the meta csv's order."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose {' or '.join(BENCHMARKS)}")
    index = load_index(benchmark, data_root, "test")
    if not index.items:
        raise PredictionError(data_root, f"no {benchmark} test videos found ({len(index.problems)} skipped)")
    return index.items


def ground_truth(item: ClipItem) -> np.ndarray:
    """(T, H, W) uint8 {0, 1} masks of a test video at the mask files' own size (all must exist)."""
    from PIL import Image

    paths = item.masks or []
    if not paths or any(p is None for p in paths):
        raise PredictionError(item.path, f"test video {item.id} lacks ground-truth masks")
    with Image.open(paths[0]) as first:
        size = (first.height, first.width)
    masks, _ = read_masks(paths, size)
    return masks.numpy()


def fit_to(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w) probabilities resized bilinearly to (T, *size) (unchanged when already that size)."""
    if tuple(prob.shape[-2:]) == tuple(size):
        return prob.astype(np.float32, copy=False)
    t = torch.from_numpy(np.ascontiguousarray(prob, dtype=np.float32))[:, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[:, 0].numpy()


def centre_blob(size: tuple[int, int], sigma_frac: float = 0.25) -> np.ndarray:
    """(H, W) float32 centred Gaussian exp(−r²/2σ²), σ = sigma_frac · shorter side."""
    height, width = size
    ys = np.arange(height) + 0.5 - height / 2
    xs = np.arange(width) + 0.5 - width / 2
    sigma = sigma_frac * min(height, width)
    return np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)


def baseline_predictions(kind: Baseline, items: list[ClipItem], frames: int = 5, size=(224, 224)) -> dict:
    """One (frames, H, W) map per video id for a baseline (H, W = `size`; scoring resizes to the masks)."""
    if kind == "all-foreground":
        prob = np.ones(size, dtype=np.float32)
    elif kind == "centre-blob":
        prob = centre_blob(size)
    else:
        raise ValueError(f"unknown baseline {kind!r}; choose 'all-foreground' or 'centre-blob'")
    stacked = np.repeat(prob[None], frames, axis=0)
    return dict.fromkeys((item.id for item in items), stacked)


def _check(array: np.ndarray, key: str, where) -> np.ndarray:
    if array.ndim != 3 or array.size == 0:
        raise PredictionError(
            where, f"id {key}: expected a (T, H, W) probability array, got shape {array.shape}"
        )
    if array.dtype.kind not in "fiu" or not np.all(np.isfinite(array)):
        raise PredictionError(where, f"id {key}: expected finite real probabilities, got dtype {array.dtype}")
    if array.min() < 0 or array.max() > 1:
        raise PredictionError(
            where,
            f"id {key}: values outside [0, 1] ({array.min():.3g}..{array.max():.3g}): give sigmoid(logits)",
        )
    return array


def save_predictions(path: str | os.PathLike, predictions: Mapping[str, np.ndarray]) -> None:
    """Write P.npz (one (T, H, W) float array per video id), atomically."""
    save_arrays(path, predictions, _check)


def load_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read P.npz into {video id: (T, H, W) array}; malformed files raise PredictionError naming them."""
    return load_arrays(path, _check, "masks")


def evaluate_segmentation(
    benchmark: str,
    data_root: str | os.PathLike,
    predictions: Mapping[str, np.ndarray],
    f_mode: FMode = "per-frame",
    batch_size: int = 4,
) -> dict:
    """M.json: {"mIoU": percent, "F": 0–1, "num_frames": N, "f_mode": …} over every test video.

    Every test video needs a prediction with as many frames as it has masks (PredictionError otherwise)."""
    items = benchmark_test_items(benchmark, data_root)
    missing = [item.id for item in items if item.id not in predictions]
    if missing:
        shown = ", ".join(missing[:10]) + (f" … ({len(missing)} in all)" if len(missing) > 10 else "")
        raise PredictionError("predictions", f"no prediction for {len(missing)} test videos: {shown}")
    probs, masks = [], []
    for item in items:
        gt = ground_truth(item)
        prob = np.asarray(predictions[item.id])
        if prob.shape[0] != gt.shape[0]:
            raise PredictionError(
                "predictions", f"id {item.id}: {prob.shape[0]} frames predicted, {gt.shape[0]} masks"
            )
        probs.append(fit_to(prob, gt.shape[-2:]))
        masks.append(gt)
    return score_videos(probs, masks, f_mode, batch_size)
