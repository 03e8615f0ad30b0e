"""Unsupervised tracking of a clip's dominant moving object, and crops constrained to keep it.

Chen, Selvaraju, Chang, Niebles & Naik, "PreViTS: Contrastive Pretraining with Video Tracking Supervision",
arXiv 2112.00804 (2021; WACV 2023), Sec. 3: an unsupervised saliency map finds the dominant object, an
off-the-shelf tracker follows it through the video, the clips and their spatial crops are chosen so that they
keep the tracked object, and the tracked region supervises the query's Grad-CAM map
(`avssl.losses.previts`).

Here the saliency is motion, the per-pixel magnitude of the frame differences (`frame_differences`,
`motion_magnitude`): each frame's box surrounds the pixels above `fraction` × the maximum of the minimum of
its two neighbouring steps (`saliency_box`; the object itself when it is textured), or of their mean when that
is empty (a flat-coloured object: only its edges change, so the box is the region it sweeps). The frame with
the most motion (among the interior ones) seeds OpenCV's MIL tracker
(Babenko, Yang & Belongie, "Visual Tracking with Online Multiple Instance Learning", CVPR 2009;
`cv2.TrackerMIL`, the tracker of opencv-python-headless that needs no model file) follows it forward and
backward from there. The tracker's box is kept where the frame has no saliency box (the object paused) or
where both agree (IoU ≥ 0.5); where it is lost or has drifted off the frame's saliency box, the saliency box.
`tracker: motion` uses the saliency box of every frame alone. A frame without motion has no box (NaN row).

`ObjectTrack` writes `sample["track"]` (T, 4) xyxy boxes in pixels of the decoded frames, cached per
decoded window beside the run like the flow (`avssl.transforms.motion.WindowCached`, `cache_dir`). It goes first
in a pipeline (it reads the decoded frames). `TrackCrop` is `clip_augment` whose crop is drawn among the crops
that contain the union of the clip's tracked boxes (scale and ratio as `clip_augment`'s; the whole frame when
no draw fits) and that writes `sample["track_mask"]` (T, H', W'), 1 inside each frame's tracked box after the
crop, resize and flip, 0 elsewhere (all 0 when nothing moves); its draws are recorded in `sample["augment"]`
(+ `"track_box"`: the union box it kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from avssl.transforms.clip import ClipAugment
from avssl.transforms.compose import Sample, rand_int, rand_log_uniform, rand_uniform
from avssl.transforms.motion import WindowCached, frame_differences
from avssl.transforms.tubes import motion_magnitude

TRACKERS = ("mil", "motion")


def frame_saliency(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, 3, H, W) frames → two (T, H, W) motion saliency maps from the mean |frame difference| over colour
    of the steps before and after each frame (one step at the ends): their minimum (what changed both when
    the object arrived and when it left: a textured object at that frame) and their mean (everything that
    moved around that frame: also the edges of a flat-coloured object, whose inside never changes)."""
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"tracking needs a clip of >= 2 frames (T, 3, H, W), got {tuple(frames.shape)}")
    steps = motion_magnitude(frame_differences(frames), "frame_difference")  # (T - 1, H, W)
    padded = torch.cat([steps[:1], steps, steps[-1:]])
    return torch.minimum(padded[:-1], padded[1:]), 0.5 * (padded[:-1] + padded[1:])


def saliency_box(saliency: torch.Tensor, fraction: float = 0.5, eps: float = 1e-6) -> list[float] | None:
    """(H, W) map → [x0, y0, x1, y1] (pixels, x1 / y1 exclusive) around its values ≥ `fraction` × its maximum;
    None when the map is flat zero."""
    peak = float(saliency.max())
    if peak <= eps:
        return None
    ys, xs = torch.nonzero(saliency >= fraction * peak, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _mil_track(frames: np.ndarray, order: Sequence[int], box: list[float]) -> dict[int, list[float]]:
    """Boxes of the frames in `order` from OpenCV's MIL tracker initialised on frame order[0] with `box`;
    frames the tracker loses are absent (all of them when MIL cannot start on the box)."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # MIL draws its patches from per-thread RNGs: one thread and a fixed seed give
    cv2.setRNGSeed(0)  # the same clip the same track
    try:
        return _mil_updates(cv2.TrackerMIL_create(), frames, order, box)
    finally:
        cv2.setNumThreads(threads)


def _mil_updates(
    tracker: Any, frames: np.ndarray, order: Sequence[int], box: list[float]
) -> dict[int, list[float]]:
    import cv2

    x0, y0, x1, y1 = box
    first = np.ascontiguousarray(frames[order[0]][..., ::-1])  # RGB → BGR
    try:
        tracker.init(first, (int(x0), int(y0), max(1, int(x1 - x0)), max(1, int(y1 - y0))))
    except cv2.error:  # MIL finds no training patch (a box of a few pixels, or along the border)
        return {order[0]: list(box)}
    out = {order[0]: list(box)}
    for t in order[1:]:
        ok, (x, y, w, h) = tracker.update(np.ascontiguousarray(frames[t][..., ::-1]))
        if ok and w > 0 and h > 0:
            out[t] = [float(x), float(y), float(x + w), float(y + h)]
    return out


def _box_iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _accept(
    tracked: list[float] | None, salient: list[float] | None, agree: float = 0.5
) -> list[float] | None:
    """The tracker's box where the frame has no saliency box (the object paused) or where the two agree (IoU
    ≥ `agree`); the saliency box where the tracker is lost or has drifted off it."""
    if tracked is None:
        return salient
    if salient is not None and _box_iou(tracked, salient) < agree:
        return salient
    return tracked


def track_boxes(frames: torch.Tensor, tracker: str = "mil", fraction: float = 0.5) -> np.ndarray:
    """uint8 frames (T, 3, H, W) → float32 (T, 4) xyxy boxes of the dominant moving object (NaN rows: no
    box), clipped to the frame (see the module doc)."""
    if tracker not in TRACKERS:
        raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}, got {tracker!r}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"track_boxes needs uint8 frames (T, 3, H, W), got {frames.dtype}")
    both, either = frame_saliency(frames)
    T, H, W = both.shape
    own = [saliency_box(b, fraction) or saliency_box(e, fraction) for b, e in zip(both, either)]
    boxes = np.full((T, 4), np.nan, np.float32)
    totals = either.flatten(1).sum(1)
    inner = totals[1:-1] if T > 2 else totals  # interior frames have both neighbouring steps: tight boxes
    seed = int(inner.argmax()) + (1 if T > 2 else 0)
    if tracker == "mil" and own[seed] is not None:
        array = frames.permute(0, 2, 3, 1).numpy()
        tracked = _mil_track(array, list(range(seed, T)), own[seed])
        tracked.update(_mil_track(array, list(range(seed, -1, -1)), own[seed]))
        own = [_accept(tracked.get(t), own[t]) for t in range(T)]
    for t, box in enumerate(own):
        if box is not None:
            boxes[t] = box
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, W)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, H)
    return boxes


def union_box(boxes: torch.Tensor) -> list[float] | None:
    """(T, 4) xyxy boxes (NaN rows skipped) → the box around all of them, or None when there is none."""
    valid = boxes[~torch.isnan(boxes).any(1)]
    if len(valid) == 0:
        return None
    return [
        float(valid[:, 0].min()),
        float(valid[:, 1].min()),
        float(valid[:, 2].max()),
        float(valid[:, 3].max()),
    ]


def box_masks(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(T, 4) xyxy boxes → (T, H, W) float masks: 1 at the pixels whose centre lies inside the frame's box
    (a NaN row gives an empty mask)."""
    H, W = size
    x = torch.arange(W, dtype=torch.float32) + 0.5
    y = torch.arange(H, dtype=torch.float32) + 0.5
    b = boxes.float().unsqueeze(-1)  # (T, 4, 1); NaN compares False: empty
    inside_x = (x >= b[:, 0]) & (x <= b[:, 2])  # (T, W)
    inside_y = (y >= b[:, 1]) & (y <= b[:, 3])  # (T, H)
    return (inside_y.unsqueeze(2) & inside_x.unsqueeze(1)).float()


def crop_boxes(boxes: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """(T, 4) xyxy boxes in input pixels → the same boxes after a `clip_augment` record's crop, resize to
    `size` and flip."""
    top, left, height, width = params["crop"]
    out_h, out_w = params["size"]
    sx, sy = out_w / width, out_h / height
    out = boxes.float().clone()
    out[:, 0::2] = ((out[:, 0::2] - left) * sx).clamp(0, out_w)
    out[:, 1::2] = ((out[:, 1::2] - top) * sy).clamp(0, out_h)
    if params["flip"]:
        out[:, [0, 2]] = out_w - out[:, [2, 0]]
    return out


class ObjectTrack(WindowCached):
    """`sample["track"]` = (T, 4) xyxy boxes of the clip's dominant moving object (`track_boxes`; `tracker`
    "mil" or "motion", `fraction` of the saliency peak), cached per decoded window with `cache_dir` (beside
    the run; `fps` keys the cache: the data config's frame rate). Goes first in the pipeline."""

    def __init__(
        self, tracker: str = "mil", fraction: float = 0.5, cache_dir: str | None = None, fps: float = 0.0
    ) -> None:
        super().__init__(cache_dir, fps)
        if tracker not in TRACKERS:
            raise ValueError(f"object_track tracker must be one of {', '.join(TRACKERS)}, got {tracker!r}")
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"object_track fraction must be in (0, 1], got {fraction}")
        self.tracker, self.fraction = tracker, fraction

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        boxes = self.cached(
            sample,
            f"track-{self.tracker}-{self.fraction:g}",
            lambda video: track_boxes(video, self.tracker, self.fraction),
            sample["video"].shape[0],
        )
        sample = dict(sample)
        sample["track"] = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32))
        return sample


class TrackCrop(ClipAugment):
    """`clip_augment` whose crop keeps the tracked object (see the module doc): the same arguments, and
    `sample["track_mask"]` (T, H', W') of the tracked boxes at the output size."""

    def constrained_crop(
        self, in_size: tuple[int, int], box: list[float] | None, generator: torch.Generator | None
    ) -> list[int]:
        """[top, left, height, width]: up to 10 draws of area and aspect as `clip_augment`'s, placed
        uniformly among the positions that contain `box`; the whole frame when none fits."""
        H, W = in_size
        if box is None:
            return list(self.crop.sample_crop(in_size, generator))
        x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
        x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        scale, ratio = self.crop.scale, self.crop.ratio
        for _ in range(10):
            area = H * W * rand_uniform(scale[0], scale[1], generator)
            aspect = rand_log_uniform(ratio[0], ratio[1], generator)
            w, h = round((area * aspect) ** 0.5), round((area / aspect) ** 0.5)
            if not (x1 - x0 <= w <= W and y1 - y0 <= h <= H):
                continue
            top = rand_int(max(0, y1 - h), min(y0, H - h), generator)
            left = rand_int(max(0, x1 - w), min(x0, W - w), generator)
            return [top, left, h, w]
        return [0, 0, H, W]

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        track = sample.get("track")
        if track is None:
            raise ValueError(
                "track_crop needs sample['track']: put {name: object_track} first in data.transforms"
            )
        in_size = tuple(int(s) for s in sample["video"].shape[-2:])
        params = self.draw(in_size, generator)
        box = union_box(track)
        params["crop"] = self.constrained_crop(in_size, box, generator)
        params["track_box"] = box
        sample = self.apply(sample, params)
        sample["track"] = crop_boxes(track, params)
        sample["track_mask"] = box_masks(sample["track"], tuple(self.size))
        return sample
