"""PreViTS' unsupervised tracking and constrained crops (Chen et al., arXiv 2112.00804) on clips with known
boxes: a hand-made moving square and the synthetic action renderer (exact per-frame masks). The track
(motion saliency seeding OpenCV's MIL tracker, or saliency alone) overlaps the true box; the cache returns
what was computed and refuses the data folder; `track_crop` keeps the whole tracked box in every crop (plain
`clip_augment` crops often cut it) and its `track_mask` is the box carried through the recorded crop, resize
and flip.

Measured here (mean box IoU with the true boxes over all frames): a textured square moving over noise, 48 px
— MIL 0.91, motion saliency 0.91 (the same boxes: the tracker's are replaced where they disagree with the
saliency); the same square still for its last 4 frames — motion saliency has no box there, MIL gives one,
but OpenCV's MIL drifts off this 10 px object on identical frames (IoU 0.33 / 0.33 / 0.33 / 0.16); 12 renderer clips at 64 px — MIL 0.778, motion 0.884. Crops holding the whole tracked box
(scale 0.3-1, 200 draws): track_crop 100 %, clip_augment 48.5 %."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avssl.transforms.clip import ClipAugment, apply_clip_augment
from avssl.transforms.tracking import ObjectTrack, TrackCrop, box_masks, track_boxes, union_box
from tests.transforms.test_tubes import renderer_clip, square_clip


def textured_square(size: int = 48, frames: int = 8, side: int = 10, seed: int = 0, pause: int = 99):
    """uint8 (T, 3, H, W): a checked red-green square moving right 3 px and down 1 px per frame (until frame
    `pause`) over a static noise background; its masks (T, H, W)."""
    g = torch.Generator().manual_seed(seed)
    video = (
        (torch.rand(3, size, size, generator=g) * 120).to(torch.uint8).expand(frames, 3, size, size).clone()
    )
    checks = ((torch.arange(side)[:, None] // 2 + torch.arange(side)[None] // 2) % 2).to(torch.uint8)
    masks = torch.zeros(frames, size, size, dtype=torch.bool)
    for t in range(frames):
        top, left = 10 + min(t, pause), 4 + 3 * min(t, pause)  # still from frame `pause` on
        video[t, 0, top : top + side, left : left + side] = 230 * checks
        video[t, 1, top : top + side, left : left + side] = 230 * (1 - checks)
        masks[t, top : top + side, left : left + side] = True
    return video, masks


def _truth_boxes(masks: torch.Tensor) -> np.ndarray:
    out = []
    for m in masks:
        ys, xs = torch.nonzero(m, as_tuple=True)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.asarray(out, np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (N, 4) xyxy boxes by a loop."""
    out = []
    for p, q in zip(a, b):
        w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
        h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
        union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - w * h
        out.append(w * h / union)
    return np.asarray(out)


@pytest.mark.parametrize("tracker, bar", [("mil", 0.8), ("motion", 0.9)])
def test_the_track_of_a_moving_square_overlaps_its_true_box(tracker: str, bar: float) -> None:
    video, masks = textured_square()
    boxes = track_boxes(video, tracker)
    iou = box_iou(boxes, _truth_boxes(masks))
    print(tracker, iou.round(2))
    assert iou.mean() >= bar and iou.min() > 0.3


def test_only_the_tracker_gives_boxes_where_the_object_pauses() -> None:
    video, masks = textured_square(pause=3)  # frames 4-7 have no motion on either side
    truth = _truth_boxes(masks)
    motion = track_boxes(video, "motion")
    assert np.isnan(motion[4:]).all()
    mil = track_boxes(video, "mil")
    iou = box_iou(mil, truth)
    print("paused", iou.round(2))
    assert (
        not np.isnan(mil).any() and iou[:4].min() >= 0.5
    )  # the moving frames; the paused ones: the docstring


@pytest.mark.parametrize("tracker", ["mil", "motion"])
def test_the_track_follows_the_renderer_objects(tracker: str) -> None:
    ious = []
    for i in range(12):
        video, masks = renderer_clip(i, size=64)
        ious.append(box_iou(track_boxes(video, tracker), _truth_boxes(masks)).mean())
    print(tracker, np.mean(ious).round(3))
    assert np.mean(ious) >= 0.5


def test_a_still_clip_has_no_track_and_bad_input_is_named() -> None:
    still = torch.full((4, 3, 16, 16), 90, dtype=torch.uint8)
    assert np.isnan(track_boxes(still)).all()
    with pytest.raises(ValueError, match="uint8"):
        track_boxes(still.float())
    with pytest.raises(ValueError, match="tracker"):
        ObjectTrack(tracker="csrt")


def test_tracks_are_cached_beside_the_run_never_beside_the_data(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "clip.mp4").write_bytes(b"stand-in")  # the cache keys on the path, size and mtime
    video, _ = square_clip()
    sample = {"video": video, "meta": {"path": str(data / "clip.mp4"), "start_s": 0.5}}
    transform = ObjectTrack(cache_dir=str(tmp_path / "run" / "track_cache"), fps=8.0)
    first = transform(dict(sample))["track"]
    second = transform(dict(sample))["track"]
    assert (transform.misses, transform.hits) == (1, 1)
    assert torch.allclose(first, second, atol=0.5)  # stored as float16
    with pytest.raises(ValueError, match="beside"):
        ObjectTrack(cache_dir=str(data / "cache"))(dict(sample))


def test_track_crop_keeps_the_tracked_box_that_clip_augment_often_cuts() -> None:
    video, masks = square_clip(size=48, frames=8, side=8)
    track = torch.from_numpy(_truth_boxes(masks))
    x0, y0, x1, y1 = union_box(track)
    kept = {"track_crop": 0, "clip_augment": 0}
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        out = TrackCrop(16, scale=(0.3, 1.0))({"video": video, "track": track}, g)
        top, left, h, w = out["augment"]["crop"]
        kept["track_crop"] += left <= x0 and top <= y0 and left + w >= x1 and top + h >= y1
        top, left, h, w = ClipAugment(16, scale=(0.3, 1.0)).draw(
            (48, 48), torch.Generator().manual_seed(seed)
        )["crop"]
        kept["clip_augment"] += left <= x0 and top <= y0 and left + w >= x1 and top + h >= y1
    print(kept)
    assert kept["track_crop"] == 200 and kept["clip_augment"] < 150


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_track_mask_is_the_box_through_the_recorded_crop_resize_and_flip(flip: float) -> None:
    video, masks = square_clip(size=48, frames=8, side=8)
    track = torch.from_numpy(_truth_boxes(masks))
    out = TrackCrop(24, scale=(0.3, 0.6), flip_p=flip)(
        {"video": video, "track": track}, torch.Generator().manual_seed(3)
    )
    assert out["track_mask"].shape == (8, 24, 24) and out["augment"]["flip"] == bool(flip)
    # the true masks replayed through the record (as a clip) land where track_mask says
    replayed = (
        apply_clip_augment(
            masks.float().unsqueeze(1).expand(-1, 3, -1, -1),
            {**out["augment"], "jitter": None, "grayscale": False},
            (24, 24),
        )[:, 0]
        > 0.5
    )
    mask = out["track_mask"] > 0.5
    iou = (replayed & mask).sum() / (replayed | mask).sum()
    assert iou >= 0.7, float(iou)
    expected = box_masks(out["track"], (24, 24))
    assert torch.equal(out["track_mask"], expected)


def test_box_masks_equal_a_pixel_loop_and_a_missing_track_is_named() -> None:
    boxes = torch.tensor([[1.0, 2.0, 4.5, 5.0], [float("nan")] * 4])
    masks = box_masks(boxes, (6, 7))
    for i in range(6):
        for j in range(7):
            inside = 1.0 <= j + 0.5 <= 4.5 and 2.0 <= i + 0.5 <= 5.0
            assert masks[0, i, j] == float(inside) and masks[1, i, j] == 0.0
    with pytest.raises(ValueError, match="object_track"):
        TrackCrop(8)({"video": torch.zeros(2, 3, 8, 8, dtype=torch.uint8)})
