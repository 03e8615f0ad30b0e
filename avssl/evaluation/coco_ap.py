"""COCO detection average precision, computed by pycocotools' `COCOeval` (Lin et al., "Microsoft COCO:
Common Objects in Context", ECCV 2014) — the reference implementation, not a re-derivation.

Definition (what COCOeval computes, `iouType="bbox"`). Per category and IoU threshold t, detections of all
images are sorted by score; a detection is a true positive when it matches a not yet matched ground-truth
box of its category and image with IoU ≥ t (greedy, best IoU first; crowd regions match without counting);
precision is made monotone (the maximum over higher recalls) and sampled at the 101 recalls 0, 0.01, …, 1
(0 where the recall is never reached); AP is the mean of those 101 samples. Then

    AP    = mean over the 10 IoU thresholds 0.50, 0.55, …, 0.95 and over the categories with ground truth
    AP50  = the same at IoU 0.50 only;  AP75 at IoU 0.75
    APs / APm / APl = AP over objects of area < 32², 32²..96², > 96² pixels (None: no such object)

with at most 100 detections per image. Reported in percent (100 × COCOeval's `stats`).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence

import numpy as np

STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def require_pycocotools():
    """The pycocotools modules (COCO, COCOeval), or an ImportError saying how to install them."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError(
            "the detection evaluation needs pycocotools (COCO's reference AP): pip install pycocotools "
            "(or pip install 'avssl[detection]')"
        ) from None
    return COCO, COCOeval


def detections_to_coco(
    image_ids: Sequence[int],
    boxes: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    category_ids: Sequence[np.ndarray],
) -> list[dict]:
    """Per-image detections → COCO's result format: [{"image_id", "category_id", "bbox": [x, y, w, h],
    "score"}]. `boxes[i]`: (N_i, 4) [x0, y0, x1, y1] in pixels of image `image_ids[i]`."""
    out = []
    for image_id, b, s, c in zip(image_ids, boxes, scores, category_ids, strict=True):
        for (x0, y0, x1, y1), score, cat in zip(np.asarray(b, float).reshape(-1, 4), s, c, strict=True):
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(cat),
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "score": float(score),
                }
            )
    return out


def coco_ap(ground_truth: dict, detections: list[dict]) -> dict:
    """{"AP", "AP50", "AP75", "APs", "APm", "APl"} in percent (None where COCOeval gives −1: no ground truth
    in that area range) of `detections` (COCO result format) against `ground_truth`, a COCO annotation dict
    (images, annotations, categories; as instances_*.json). No detections: every AP is 0."""
    COCO, COCOeval = require_pycocotools()
    with contextlib.redirect_stdout(io.StringIO()):  # COCO's loaders and summarize() print
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        if not detections:
            return {k: 0.0 if k in ("AP", "AP50", "AP75") else None for k in STATS}
        dt = gt.loadRes(copy.deepcopy(detections))
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {k: (None if v < 0 else round(100.0 * float(v), 4)) for k, v in zip(STATS, evaluator.stats[:6])}
