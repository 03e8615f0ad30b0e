"""Naive AVSBench metric references written from docs/evaluation.md (the AVSBench section), and synthetic
AVSBench sets shared by the segmentation tests (written once per session)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from avssl.data.synthetic.layouts import SynthSpec, write_synthetic

F32 = np.float32


def _thresholds() -> list:
    # docs/evaluation.md: 255 thresholds = float32 linspace(0, 1 - 1e-10, 255) (torch's, as the released code)
    return [F32(v) for v in torch.linspace(0, 1 - 1e-10, 255, dtype=torch.float32).tolist()]


def iou_loop(p: np.ndarray, g: np.ndarray) -> float:
    """One frame, pixel by pixel: pred = p > 0.5; IoU = inter / (union + 1e-7) in float32; empty GT →
    #(pred = 0 and g = 0) / (H·W + 1e-7)."""
    h, w = g.shape
    inter = union = tn = gsum = 0
    for y in range(h):
        for x in range(w):
            pred = 1 if p[y, x] > 0.5 else 0
            gt = 1 if g[y, x] > 0 else 0
            inter += pred * gt
            union += max(pred, gt)
            tn += (1 - pred) * (1 - gt)
            gsum += gt
    if gsum == 0:
        return float(F32(tn) / (F32(h * w) + F32(1e-7)))
    return float(F32(inter) / (F32(union) + F32(1e-7)))


def f_curve_loop(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """One non-empty frame, pixel by pixel: for each θ, pred = p ≥ θ; precision = tp / (Σpred + 1e-20),
    recall = tp / (Σg + 1e-20); f = (1.3·prec)·rec / (0.3·prec + rec), NaN → 0; all float32."""
    h, w = g.shape
    curve = []
    for theta in _thresholds():
        tp = npred = ng = 0
        for y in range(h):
            for x in range(w):
                pred = 1 if F32(p[y, x]) >= theta else 0
                gt = 1 if g[y, x] > 0 else 0
                tp += pred * gt
                npred += pred
                ng += gt
        prec = F32(tp) / (F32(npred) + F32(1e-20))
        rec = F32(tp) / (F32(ng) + F32(1e-20))
        with np.errstate(invalid="ignore"):
            f = (F32(1.3) * prec) * rec / (F32(0.3) * prec + rec)
        curve.append(F32(0) if np.isnan(f) else F32(f))
    return np.array(curve, dtype=F32)


def f_curve_vec(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The same curve thresholding the whole frame once per θ (for 224×224 frames)."""
    g = (g > 0).astype(F32)
    curve = []
    for theta in _thresholds():
        pred = (p.astype(F32) >= theta).astype(F32)
        tp = F32((pred * g).sum())
        prec = tp / (F32(pred.sum()) + F32(1e-20))
        rec = tp / (F32(g.sum()) + F32(1e-20))
        with np.errstate(invalid="ignore"):
            f = (F32(1.3) * prec) * rec / (F32(0.3) * prec + rec)
        curve.append(F32(0) if np.isnan(f) else F32(f))
    return np.array(curve, dtype=F32)


def iou_vec(p: np.ndarray, g: np.ndarray) -> float:
    pred, gt = (p > 0.5).astype(np.int64), (g > 0).astype(np.int64)
    if gt.sum() == 0:
        return float(F32(((1 - pred) * (1 - gt)).sum()) / (F32(gt.size) + F32(1e-7)))
    return float(F32((pred * gt).sum()) / (F32(np.maximum(pred, gt).sum()) + F32(1e-7)))


def scores(videos: list, f_mode: str, batch_size: int = 4, vectorised: bool = False) -> tuple[float, float]:
    """(mIoU %, F) of [(probs (T, H, W), masks (T, H, W)), …] in order.

    per-frame: mean IoU over frames; max over θ of the mean curve of the non-empty frames.
    avsbench: batches of `batch_size` videos; per batch the mean IoU and max of the mean curve of its
    non-empty frames (0 if none); both averaged over batches."""
    iou = iou_vec if vectorised else iou_loop
    curve = f_curve_vec if vectorised else f_curve_loop

    def score(chunk):
        ious, curves = [], []
        for probs, masks in chunk:
            for p, g in zip(probs, masks):
                ious.append(iou(p, g))
                if (g > 0).any():
                    curves.append(curve(p, g))
        f = float(np.mean(curves, axis=0).max()) if curves else 0.0
        return float(np.mean(ious)), f

    if f_mode == "per-frame":
        m, f = score(videos)
        return 100 * m, f
    parts = [score(videos[s : s + batch_size]) for s in range(0, len(videos), batch_size)]
    return 100 * float(np.mean([m for m, _ in parts])), float(np.mean([f for _, f in parts]))


@pytest.fixture(scope="session")
def naive():
    return SimpleNamespace(
        iou_loop=iou_loop, f_curve_loop=f_curve_loop, f_curve_vec=f_curve_vec, iou_vec=iou_vec, scores=scores
    )


@pytest.fixture(scope="session")
def s4_synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("avs_s4")
    write_synthetic("avsbench-s4", root, SynthSpec(n=8, seed=3, num_classes=4))
    return root


@pytest.fixture(scope="session")
def ms3_synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("avs_ms3")
    write_synthetic("avsbench-ms3", root, SynthSpec(n=8, seed=4, num_classes=4))
    return root
