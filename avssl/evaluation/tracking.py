"""Tracking on frozen features, scored as OTB scores trackers.

The tracker (the frozen-feature protocol of local-feature SSL papers such as ConST-CL, Yuan et al., "Contextualized
Spatio-Temporal Contrastive Learning with Self-Supervision", CVPR 2022): the first frame's ground-truth box
is given; the encoder's feature map of that frame, cut to the box (the cells whose centres lie inside it), is
the template; in every later frame the template is cross-correlated with the frame's L2-normalised feature
map (cosine per cell, summed over the template's cells) and the box keeps its first size, centred on the
best-scoring cell (the offset of the template's centre inside it kept). No updates, no scale search: the
score is about the features.

OTB metrics (Wu, Lim & Yang, "Object Tracking Benchmark", TPAMI 2015), over every frame of a sequence whose
ground truth has a positive area, boxes x, y, w, h in pixels:

* overlap = |A ∩ B| / |A ∪ B| (continuous areas); **success AUC** = the mean over the thresholds
  0, 0.05, …, 1 of the share of frames whose overlap exceeds the threshold;
* centre = (x + (w − 1) / 2, y + (h − 1) / 2); **precision@20** = the share of frames whose centre error is
  at most 20 px.

Figures are per sequence, then averaged over sequences.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

THRESHOLDS = np.linspace(0.0, 1.0, 21)


def overlaps(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) IoU of (N, 4) x, y, w, h boxes with continuous areas."""
    x0 = np.maximum(pred[:, 0], truth[:, 0])
    y0 = np.maximum(pred[:, 1], truth[:, 1])
    x1 = np.minimum(pred[:, 0] + pred[:, 2], truth[:, 0] + truth[:, 2])
    y1 = np.minimum(pred[:, 1] + pred[:, 3], truth[:, 1] + truth[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = pred[:, 2] * pred[:, 3] + truth[:, 2] * truth[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def centre_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) Euclidean distance (px) between the boxes' centres x + (w − 1) / 2, y + (h − 1) / 2."""
    cp = pred[:, :2] + (pred[:, 2:] - 1) / 2
    ct = truth[:, :2] + (truth[:, 2:] - 1) / 2
    return np.sqrt(((cp - ct) ** 2).sum(1))


def sequence_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """{"success_auc", "precision@20"} (%) of one sequence; frames whose ground truth has no area are skipped."""
    keep = (truth[:, 2] > 0) & (truth[:, 3] > 0)
    iou = overlaps(pred[keep], truth[keep])
    success = [(iou > t).mean() for t in THRESHOLDS]
    precision = (centre_errors(pred[keep], truth[keep]) <= 20).mean()
    return {"success_auc": 100.0 * float(np.mean(success)), "precision@20": 100.0 * float(precision)}


def _cells_in_box(box: np.ndarray, shape: tuple[int, int], image: tuple[int, int]) -> tuple[slice, slice]:
    """The rows / columns of an (h, w) feature map whose cell centres lie in an x, y, w, h box of an
    (H, W) image (at least one cell)."""
    h, w = shape
    height, width = image
    ys = (np.arange(h) + 0.5) * height / h
    xs = (np.arange(w) + 0.5) * width / w
    rows = np.nonzero((ys >= box[1]) & (ys <= box[1] + box[3]))[0]
    cols = np.nonzero((xs >= box[0]) & (xs <= box[0] + box[2]))[0]
    if len(rows) == 0:
        rows = np.array([min(h - 1, int((box[1] + box[3] / 2) * h / height))])
    if len(cols) == 0:
        cols = np.array([min(w - 1, int((box[0] + box[2] / 2) * w / width))])
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def track(maps: Tensor, first_box: np.ndarray, image: tuple[int, int]) -> np.ndarray:
    """(T, D, h, w) feature maps of a sequence's frames, the first frame's x, y, w, h box and the frames'
    (H, W) → (T, 4) predicted boxes (frame 0: the given box)."""
    maps = F.normalize(maps.float(), dim=1)
    t, _, h, w = maps.shape
    rows, cols = _cells_in_box(first_box, (h, w), image)
    template = maps[0][:, rows, cols]  # (D, th, tw)
    th, tw = template.shape[1:]
    score = F.conv2d(maps, template[None], padding=(th // 2, tw // 2))[:, 0, :h, :w]  # (T, h, w)
    cell_h, cell_w = image[0] / h, image[1] / w
    # where the box centre sits relative to the template's centre cell
    centre = (first_box[0] + first_box[2] / 2, first_box[1] + first_box[3] / 2)
    anchor = ((cols.start + (tw // 2) + 0.5) * cell_w, (rows.start + (th // 2) + 0.5) * cell_h)
    offset = (centre[0] - anchor[0], centre[1] - anchor[1])
    boxes = np.repeat(first_box[None].astype(np.float64), t, axis=0)
    for k in range(1, t):
        best = int(score[k].flatten().argmax())
        r, c = divmod(best, w)
        cx = (c + 0.5) * cell_w + offset[0]
        cy = (r + 0.5) * cell_h + offset[1]
        boxes[k, 0], boxes[k, 1] = cx - first_box[2] / 2, cy - first_box[3] / 2
    return boxes


@torch.no_grad()
def frame_maps(encoder: torch.nn.Module, video: Tensor, chunk: int = 32) -> Tensor:
    """(C, T, H, W) normalised frames → (T, D, h, w) maps of a frozen encoder, each frame on its own (a 2D
    encoder per frame, a clip encoder on one-frame clips)."""
    frames = video.transpose(0, 1)  # (T, C, H, W)
    clip = getattr(encoder, "input_kind", "image") == "clip"
    out = []
    for part in frames.split(chunk):
        maps = encoder(part[:, :, None] if clip else part)  # (n, D, 1, h, w) or (n, D, h, w)
        out.append(maps[:, :, 0] if maps.dim() == 5 else maps)
    return torch.cat(out)


def tracking_report(encoder: torch.nn.Module, root: str, size: int, chunk: int = 32) -> dict:
    """Track every target of an OTB-layout `root` with a frozen encoder, frames resized to a shorter side of
    `size` px (boxes scaled to match, scores in the original pixels): {"success_auc", "precision@20" (means
    over sequences, %), "per_sequence", "num_sequences", "skipped" (the layout's skipped entries)}. Frames
    are read a sequence at a time."""
    from avssl.data.datasets import load_index
    from avssl.data.decoding import read_frames, read_image
    from avssl.transforms import build_transforms

    index = load_index("otb", root, None)
    if not index.items:
        raise ValueError(f"{root}: no OTB sequences (<Sequence>/img/*.jpg + groundtruth_rect.txt)")
    normalize = build_transforms([{"name": "normalize"}])
    device = next(encoder.parameters()).device
    per_sequence = {}
    for item in index.items:
        height, width = read_image(item.frames[0]).shape[:2]
        frames = read_frames(item.frames, size).permute(0, 3, 1, 2).contiguous()  # (T, 3, h, w) uint8
        video = normalize({"video": frames}, None)["video"].to(device)  # (C, T, h, w)
        scale = np.array([frames.shape[3] / width, frames.shape[2] / height] * 2)
        truth = np.array(item.meta["track_boxes"], dtype=np.float64)
        truth = np.concatenate([truth[:, :2], truth[:, 2:] - truth[:, :2]], axis=1)  # x, y, w, h
        maps = frame_maps(encoder, video, chunk).cpu()
        pred = track(maps, truth[0] * scale, (frames.shape[2], frames.shape[3])) / scale
        per_sequence[item.id] = sequence_scores(pred, truth)
    means = {
        k: float(np.mean([s[k] for s in per_sequence.values()])) for k in ("success_auc", "precision@20")
    }
    return {
        **means,
        "per_sequence": per_sequence,
        "num_sequences": len(per_sequence),
        "skipped": index.problems,
    }
