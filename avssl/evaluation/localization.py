"""Sound-source localization evaluation (cIoU, AUC) on Flickr-SoundNet and VGG-SS, as the reference code.

Protocol of Senocak et al., "Learning to Localize Sound Source in Visual Scenes" (CVPR 2018), as implemented
by LVS (Chen et al., "Localizing Visual Sounds the Hard Way", CVPR 2021;
hche11/Localizing-Visual-Sounds-the-Hard-Way test.py + utils.py), reused by SSL-TIE (Liu et al., "Exploiting
Transformation Invariance and Equivariance for Self-supervised Sound Localisation", ACM MM 2022; main.py) and,
with a '≥' threshold, by EZ-VSL (Mo & Morgado, "Localizing Visual Sounds the Easy Way", ECCV 2022; test.py):

1. ground truth: a 224×224 map from the boxes (`flickr_gt_map`, `vggss_gt_map`);
2. prediction: a float32 (H, W) heatmap, resized bilinearly to 224×224 (`resize_to_224`);
3. binarised at the upper median of the min-max normalised map (`binarise`, rule 'gt' or 'ge');
4. cIoU = Σ(pred·gt) / (Σgt + Σ(pred·[gt = 0])) per sample (`ciou`);
5. reported cIoU = % of samples with cIoU ≥ 0.5, AUC = area under (t, fraction with cIoU ≥ t) for
   t = 0.05·i, i = 0…20 (`localization_scores`).

`evaluate_localization` runs it on a dataset root; predictions travel as P.npz (`save_predictions`,
`load_predictions`: one float (H, W) map per sample id); `baseline_predictions` gives the centre-prior and
random baselines (the `avssl eval localization` command is in avssl/cli/benchmarks.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from avssl.data.datasets import load_index
from avssl.data.datasets.base import DatasetIndex
from avssl.evaluation.predictions import PredictionError, load_arrays, save_arrays

Rule = Literal["gt", "ge"]
ResizeMode = Literal["cv2", "align_corners"]
SIZE = 224
# Each rule's reference resize: LVS/SSL-TIE cv2.resize(INTER_LINEAR); EZ-VSL F.interpolate(align_corners=True).
REFERENCE_RESIZE: dict[str, ResizeMode] = {"gt": "cv2", "ge": "align_corners"}
AUC_THRESHOLDS = [0.05 * i for i in range(21)]  # as the reference builds them: 0.15000000000000002 at i=3


# ---------------------------------------------------------------------------------------------- ground truth


def _fill(boxes: Iterable[list[int]]) -> np.ndarray:
    """Sum of one 0/1 map per box, each filled as map[ymin:ymax, xmin:xmax] (numpy slicing clamps)."""
    total = np.zeros((SIZE, SIZE))  # float64, as the reference's np.zeros
    for xmin, ymin, xmax, ymax in boxes:
        temp = np.zeros((SIZE, SIZE))
        temp[ymin:ymax, xmin:xmax] = 1
        total += temp
    return total


def flickr_gt_map(boxes_256: Iterable[Iterable[float]]) -> np.ndarray:
    """Flickr-SoundNet consensus map (224, 224) float64 with values 0, 0.5, 1.

    Every coordinate v of an annotator's box (xmin, ymin, xmax, ymax; 256×256 space) → int(224·int(v)/256)
    (83 → 72); each box filled with 1; summed over annotators, halved, capped at 1 (LVS utils.testset_gt).
    """
    boxes = [[int(SIZE * int(v) / 256) for v in box] for box in boxes_256]
    gt = _fill(boxes) / 2
    gt[gt > 1] = 1
    return gt


def vggss_gt_map(boxes_norm: Iterable[Iterable[float]]) -> np.ndarray:
    """VGG-SS map (224, 224) float64 in {0, 1}: union of the boxes.

    Every normalised coordinate v → int(224·max(v, 0)) (no upper clamp: slicing clamps), boxes filled,
    union binarised (LVS utils.testset_gt).
    """
    boxes = [[int(SIZE * max(v, 0)) for v in box] for box in boxes_norm]
    gt = _fill(boxes)
    gt[gt > 0] = 1
    return gt


# ---------------------------------------------------------------------------------------------- resize


def _cv2_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's source index and float32 fraction per output pixel (resize.cpp, INTER_LINEAR)."""
    scale = 1.0 / (n_out / n_in)  # scale_x = 1 / inv_scale_x, in double
    pos = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)  # fx = (float)((dx+0.5)*scale - 0.5)
    index = np.floor(pos).astype(np.int64)
    frac = (pos - index.astype(np.float32)).astype(np.float32)
    return index, frac


def _resize_cv2(h: np.ndarray, size: int) -> np.ndarray:
    """Bit-exact replica of OpenCV's portable cv2.resize(h, (size, size), INTER_LINEAR) for float32.

    Half-pixel centres, no antialiasing. Horizontal pass: indices clamped into the image with fraction 0,
    out = S[x0]·(1−fx) + S[x0+1]·fx in float32. Vertical pass: fraction NOT clamped, rows clipped into the
    image instead, out = R[y0]·(1−fy) + R[y1]·fy. An exact 2× shrink of both sides is INTER_AREA in OpenCV:
    the mean of each 2×2 block. (The Intel IPP path of x86 wheels differs from this by ~1 float32 ulp.)
    """
    height, width = h.shape
    if height == 2 * size and width == 2 * size:
        return ((h[0::2, 0::2] + h[0::2, 1::2]) + (h[1::2, 0::2] + h[1::2, 1::2])) * np.float32(0.25)
    x0, fx = _cv2_axis(width, size)
    outside = (x0 < 0) | (x0 >= width - 1)
    fx[outside] = 0
    x0 = np.clip(x0, 0, width - 1)
    x1 = np.minimum(x0 + 1, width - 1)
    rows = h[:, x0] * (np.float32(1) - fx) + h[:, x1] * fx  # (height, size)
    y0, fy = _cv2_axis(height, size)
    r0, r1 = rows[np.clip(y0, 0, height - 1)], rows[np.clip(y0 + 1, 0, height - 1)]
    return r0 * (np.float32(1) - fy)[:, None] + r1 * fy[:, None]


def resize_to_224(heatmap: np.ndarray, mode: ResizeMode = "cv2") -> np.ndarray:
    """Bilinear resize of an (H, W) map to (224, 224) float32; a copy when it is already 224×224.

    The map is cast to float32 first (the references' heatmaps are float32 network outputs).
    - "cv2" (LVS test.py, SSL-TIE main.py): cv2.resize(h, (224, 224), interpolation=INTER_LINEAR), i.e.
      half-pixel centres like F.interpolate(align_corners=False), no antialias; replicated in numpy
      (`_resize_cv2`), bit-exact against OpenCV without IPP.
    - "align_corners" (EZ-VSL test.py): F.interpolate(mode="bilinear", align_corners=True), run by torch on CPU.
    """
    h = np.asarray(heatmap, dtype=np.float32)
    if h.ndim != 2 or h.size == 0:
        raise ValueError(f"expected a non-empty (H, W) map, got shape {h.shape}")
    if h.shape == (SIZE, SIZE):
        return h.copy()
    if mode == "cv2":
        return _resize_cv2(h, SIZE)
    if mode == "align_corners":
        t = torch.from_numpy(np.ascontiguousarray(h))[None, None]
        return F.interpolate(t, size=(SIZE, SIZE), mode="bilinear", align_corners=True)[0, 0].numpy()
    raise ValueError(f"unknown resize mode {mode!r}; choose 'cv2' or 'align_corners'")


# ---------------------------------------------------------------------------------------------- metrics


def _normalize(value: np.ndarray) -> np.ndarray:
    """The references' normalize_img: (v − min)/(max − min) in the map's dtype; a constant map unchanged."""
    vmin, vmax = value.min(), value.max()
    if not (vmax - vmin) == 0:
        value = (value - vmin) / (vmax - vmin)
    return value


def binarise(pred: np.ndarray, rule: Rule = "gt") -> np.ndarray:
    """Positive pixels (uint8 {0, 1}) of a heatmap, as the references threshold it; in float32.

    thr = sorted(p)[⌊H·W/2⌋] (index 25,088 for 224×224: the upper median), taken from the NORMALISED map p,
    as both references do.
    - 'ge' (EZ-VSL): p = normalize(h); positive where p ≥ thr. A constant map stays unnormalised and is all
      positive.
    - 'gt' (LVS, SSL-TIE): p = 1 − normalize(−h) (float32, not bit-identical to normalize(h)); then
      p[p > thr] = 1; p[p < 1] = 0; cal_CIOU keeps p ≥ 0.5. So positive = (p > thr) or (p ≥ 1): pixels at
      the maximum (p = 1.0) survive even when they are the threshold — if half or more of the pixels tie at
      the maximum, all of them are positive. A constant map is not normalised: p = 1 + h, all positive if
      that is ≥ 1 in float32 (h ≥ −2⁻²⁵), none otherwise.
    """
    h = np.asarray(pred, dtype=np.float32)
    if rule == "ge":
        p = _normalize(h)
    elif rule == "gt":
        p = np.float32(1) - _normalize(-h)
    else:
        raise ValueError(f"unknown threshold rule {rule!r}; choose 'gt' (LVS/SSL-TIE) or 'ge' (EZ-VSL)")
    threshold = np.sort(p, axis=None)[p.size // 2]
    positive = (p >= threshold) if rule == "ge" else (p > threshold) | (p >= 1)
    return positive.astype(np.uint8)


def ciou(pred_bin: np.ndarray, gt: np.ndarray) -> float:
    """Consensus IoU = Σ(pred·gt) / (Σgt + Σ(pred·[gt = 0])) in float64 (NaN when both sums are 0).

    gt may hold 0.5 (one of two annotators): it counts half in both the intersection and Σgt.
    """
    pred = np.asarray(pred_bin, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    denominator = np.sum(gt) + np.sum(pred * (gt == 0))
    return float(np.sum(pred * gt) / denominator) if denominator else float("nan")


def localization_scores(cious: Iterable[float]) -> dict[str, float]:
    """{"cIoU": % of samples with cIoU ≥ 0.5, "AUC": 100 × area, "mean_cIoU": mean cIoU in [0, 1]}.

    Area = trapezoid rule (np.trapezoid, which sklearn.metrics.auc calls) over x = [0.05·i for i in 0…20]
    (Python floats: 0.15000000000000002 at i = 3, so a cIoU of exactly 0.15 does not count there) and
    y_i = #(cIoU ≥ x_i) / N. A NaN cIoU counts as a failure at every threshold, as in the references.
    """
    values = np.asarray(list(cious), dtype=np.float64)
    if values.size == 0:
        raise ValueError("no cIoU values to score")
    fractions = [np.sum(values >= t) / values.size for t in AUC_THRESHOLDS]
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    return {
        "cIoU": float(100 * (np.sum(values >= 0.5) / values.size)),
        "AUC": float(100 * trapezoid(fractions, AUC_THRESHOLDS)),
        "mean_cIoU": float(np.mean(values)),
    }


# ---------------------------------------------------------------------------------------------- baselines


def centre_prior_map(size: int = SIZE, sigma_frac: float = 0.25) -> np.ndarray:
    """Centre prior: an isotropic Gaussian exp(−r²/2σ²) at the image centre, σ = sigma_frac·size, float32.

    Only the ranks matter after the median threshold, so any radially decreasing centred map binarises
    the same way: the central disc holding half of the pixels.
    """
    coords = np.arange(size, dtype=np.float64) + 0.5 - size / 2  # pixel centres
    r2 = coords[:, None] ** 2 + coords[None, :] ** 2
    return np.exp(-r2 / (2 * (sigma_frac * size) ** 2)).astype(np.float32)


def random_map(seed: int | Sequence[int], shape: tuple[int, int] = (7, 7)) -> np.ndarray:
    """Uniform [0, 1) noise at a network's output resolution (7×7 by default), float32; `seed` as for
    np.random.default_rng."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def baseline_predictions(
    kind: Literal["centre", "random"], ids: Iterable[str], seed: int = 0
) -> dict[str, np.ndarray]:
    """One baseline map per id: the same read-only centre prior, or random_map([seed, k]) for the k-th id."""
    ids = list(ids)
    if kind == "centre":
        prior = centre_prior_map()
        prior.flags.writeable = False
        return dict.fromkeys(ids, prior)
    if kind == "random":
        return {i: random_map([seed, k]) for k, i in enumerate(ids)}
    raise ValueError(f"unknown baseline {kind!r}; choose 'centre' or 'random'")


# ---------------------------------------------------------------------------------------------- P.npz


def _check_map(array: np.ndarray, key: str, where: str | os.PathLike) -> np.ndarray:
    if array.ndim != 2 or array.size == 0:
        raise PredictionError(
            where, f"id {key}: expected one non-empty 2-D (H, W) map, got shape {array.shape}"
        )
    if array.dtype.kind not in "fiu":
        raise PredictionError(where, f"id {key}: expected a real-valued map, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise PredictionError(where, f"id {key}: the map has non-finite values (NaN or inf)")
    return array


def save_predictions(path: str | os.PathLike, predictions: Mapping[str, np.ndarray]) -> None:
    """Write P.npz: one (H, W) float array per sample id (any H×W), stored under the id (written atomically)."""
    save_arrays(path, predictions, _check_map)


def load_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read P.npz into {id: (H, W) array}; a non-2-D map or non-finite values raise PredictionError."""
    return load_arrays(path, _check_map, "maps")


# ---------------------------------------------------------------------------------------------- evaluation


def _index(benchmark: str, data_root: str | os.PathLike) -> DatasetIndex:
    if benchmark not in ("flickr", "vggss"):
        raise ValueError(f"unknown benchmark {benchmark!r}; choose 'flickr' or 'vggss'")
    return load_index(benchmark, data_root)


def evaluate_localization(
    benchmark: Literal["flickr", "vggss"],
    data_root: str | os.PathLike,
    predictions: Mapping[str, np.ndarray],
    rule: Rule = "gt",
    *,
    allow_missing: bool = False,
    resize: ResizeMode | None = None,
) -> dict:
    """M.json of a localization benchmark: cIoU and AUC (percent), mean_cIoU, counts, the rule used.

    Every test item of the layout at `data_root` needs a prediction; missing ones raise PredictionError
    naming them, or with `allow_missing` are left out of the scores and listed. `resize` defaults to the
    rule's reference (REFERENCE_RESIZE). Items the loader skipped (e.g. VGG-SS's corrupt boxes) are listed
    under "skipped_items"; predictions for unknown ids are counted under "unused_predictions".
    """
    if rule not in REFERENCE_RESIZE:
        raise ValueError(f"unknown threshold rule {rule!r}; choose 'gt' (LVS/SSL-TIE) or 'ge' (EZ-VSL)")
    resize = resize or REFERENCE_RESIZE[rule]
    index = _index(benchmark, data_root)
    gt_map = flickr_gt_map if benchmark == "flickr" else vggss_gt_map
    missing = [item.id for item in index.items if item.id not in predictions]
    if missing and not allow_missing:
        shown = ", ".join(missing[:10]) + (f" … ({len(missing)} in all)" if len(missing) > 10 else "")
        raise PredictionError("predictions", f"no prediction for {len(missing)} {benchmark} items: {shown}")
    cious = [
        ciou(binarise(resize_to_224(predictions[item.id], resize), rule), gt_map(item.boxes or []))
        for item in index.items
        if item.id in predictions
    ]
    if not cious:
        raise PredictionError("predictions", f"no {benchmark} item under {data_root} has a prediction")
    known = {item.id for item in index.items}
    return {
        "benchmark": benchmark,
        **localization_scores(cious),
        "num_samples": len(cious),
        "rule": rule,
        "resize": resize,
        "missing_predictions": missing,
        "unused_predictions": sum(1 for key in predictions if key not in known),
        "skipped_items": list(index.problems),
    }
