"""Acceptance: a coloured rectangle drawn into the frames, its mask and its box stay in agreement with each
other and with the recorded geometry through every geometric wrapper and their compositions."""

import math

import pytest
import torch

from avssl.transforms import Compose
from avssl.transforms.functional.geometry import HFlip, ResizedCrop, Rotate
from avssl.transforms.video import (
    CenterCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    Resize,
)

H, W, T = 96, 128, 3
RECT = (24, 16, 104, 80)  # x0, y0, x1, y1: pixels x0..x1-1, y0..y1-1
COLOUR = (220, 60, 120)


def _sample():
    video = torch.zeros(T, 3, H, W, dtype=torch.uint8)
    mask = torch.zeros(T, H, W, dtype=torch.uint8)
    x0, y0, x1, y1 = RECT
    for c, value in enumerate(COLOUR):
        video[:, c, y0:y1, x0:x1] = value
    mask[:, y0:y1, x0:x1] = 1
    boxes = torch.tensor([RECT], dtype=torch.float32)
    return {"video": video, "mask": mask, "boxes": boxes, "audio": torch.zeros(1, 160), "sample_rate": 16000}


def _found(video):
    """(T, H, W) bool: pixels closer to the rectangle's colour than to black (red channel threshold)."""
    return video[:, 0].float() > COLOUR[0] / 2


def _tie(video):
    """(T, H, W) bool: pixel centres lying on the rectangle's edge (half-way colour): either answer is right."""
    return (video[:, 0].float() - COLOUR[0] / 2).abs() <= 2


def _iou(a, b, ignore=None):
    a, b = a.bool(), b.bool()
    if ignore is not None:
        a, b = a & ~ignore, b & ~ignore
    return ((a & b).sum() / (a | b).sum()).item()


def _naive_inverse(record, x, y):
    """Output pixel coordinates -> input pixel coordinates of one record, written from the definitions."""
    (hi, wi), (ho, wo) = record.in_size, record.out_size
    op = record.op
    if isinstance(op, ResizedCrop):
        return op.left * wi + x / wo * op.width * wi, op.top * hi + y / ho * op.height * hi
    x, y = x * wi / wo, y * hi / ho  # flips / rotations keep the canvas; undo any resize first
    if isinstance(op, HFlip):
        return wi - x, y
    c, s = math.cos(math.radians(op.angle_deg)), math.sin(math.radians(op.angle_deg))
    dx, dy = x - wi / 2, y - hi / 2  # forward: x' = c x + s y, y' = -s x + c y (counter-clockwise on screen)
    return wi / 2 + c * dx - s * dy, hi / 2 + s * dx + c * dy


def _naive_forward_box(record, box):
    """Enclosing box of the 4 moved corners, clipped: forward map = inverse of _naive_inverse."""
    (hi, wi), (ho, wo) = record.in_size, record.out_size
    op = record.op
    corners = [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])]
    moved = []
    for x, y in corners:
        if isinstance(op, ResizedCrop):
            moved.append(
                ((x - op.left * wi) * wo / (op.width * wi), (y - op.top * hi) * ho / (op.height * hi))
            )
        elif isinstance(op, HFlip):
            moved.append(((wi - x) * wo / wi, y * ho / hi))
        else:
            c, s = math.cos(math.radians(op.angle_deg)), math.sin(math.radians(op.angle_deg))
            dx, dy = x - wi / 2, y - hi / 2
            moved.append(((wi / 2 + c * dx + s * dy) * wo / wi, (hi / 2 - s * dx + c * dy) * ho / hi))
    xs, ys = [p[0] for p in moved], [p[1] for p in moved]
    clip = lambda v, hi_: min(max(v, 0.0), hi_)  # noqa: E731
    return [clip(min(xs), wo), clip(min(ys), ho), clip(max(xs), wo), clip(max(ys), ho)]


def _expected_mask(records, out_size):
    """Rasterise the rectangle through the recorded chain: an output pixel is in iff its centre maps back
    inside the rectangle while staying inside the canvas at every stage."""
    ho, wo = out_size
    ys, xs = torch.meshgrid(torch.arange(ho) + 0.5, torch.arange(wo) + 0.5, indexing="ij")
    x, y = xs.double(), ys.double()
    ok = torch.ones(ho, wo, dtype=torch.bool)
    for rec in reversed(records):
        x, y = _naive_inverse(rec, x, y)
        ok &= (x >= 0) & (x < rec.in_size[1]) & (y >= 0) & (y < rec.in_size[0])
    x0, y0, x1, y1 = RECT
    return ok & (x >= x0) & (x < x1) & (y >= y0) & (y < y1)


def _box_raster(box, out_size):
    """Pixels whose centre is inside the box, and those whose centre lies on its edge (ties)."""
    ys, xs = torch.meshgrid(torch.arange(out_size[0]) + 0.5, torch.arange(out_size[1]) + 0.5, indexing="ij")
    inside = (xs >= box[0]) & (xs < box[2]) & (ys >= box[1]) & (ys < box[3])
    on_x = ((xs - box[0]).abs() < 1e-3) | ((xs - box[2]).abs() < 1e-3)
    on_y = ((ys - box[1]).abs() < 1e-3) | ((ys - box[3]).abs() < 1e-3)
    return inside, on_x | on_y


NO_ROTATION = [
    ("crop", lambda s: RandomResizedCrop((64, 64), scale=(0.4, 1.0), seed=s)),
    ("crop-nonsquare", lambda s: RandomResizedCrop((48, 80), scale=(0.4, 1.0), seed=s)),
    ("flip", lambda s: RandomHorizontalFlip(p=1.0, seed=s)),
    ("resize", lambda s: Resize(48)),
    ("center-crop", lambda s: CenterCrop((64, 90))),
    ("crop+flip", lambda s: Compose([RandomResizedCrop(72, (0.4, 1.0)), RandomHorizontalFlip(1.0)], seed=s)),
]
WITH_ROTATION = [
    ("rotation", lambda s: RandomRotation(40.0, seed=s)),
    (
        "crop+flip+rot",
        lambda s: Compose(
            [RandomResizedCrop(72, (0.5, 1.0)), RandomHorizontalFlip(1.0), RandomRotation(30.0)], seed=s
        ),
    ),
    ("rot+crop", lambda s: Compose([RandomRotation(25.0), RandomResizedCrop((56, 72), (0.6, 1.0))], seed=s)),
]


def _check(out, min_iou, box_atol):
    records = out["geometry"]
    out_size = tuple(out["video"].shape[-2:])
    assert out["mask"].shape == (T, *out_size)
    found, mask = _found(out["video"]), out["mask"]
    for t in range(1, T):  # temporally consistent: one draw for the whole clip
        assert torch.equal(out["video"][t], out["video"][0]) and torch.equal(mask[t], mask[0])
    assert mask.sum() > 300  # the rectangle stays substantially visible in these settings
    assert _iou(found[0], mask[0], _tie(out["video"])[0]) >= min_iou  # frames vs mask
    assert _iou(_expected_mask(records, out_size), mask[0]) >= min_iou  # mask vs recorded params
    box = RECT
    for rec in records:  # box vs recorded params, chained like the pipeline does
        box = _naive_forward_box(rec, box)
    assert torch.allclose(out["boxes"][0], torch.tensor(box, dtype=torch.float32), atol=box_atol)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("name", "make"), NO_ROTATION, ids=[n for n, _ in NO_ROTATION])
def test_crop_and_flip_round_trip(name, make, seed):
    out = make(seed)(_sample())
    _check(out, min_iou=0.99, box_atol=1e-3)
    box_pixels, ties = _box_raster(out["boxes"][0], out["mask"].shape[-2:])
    assert _iou(box_pixels, out["mask"][0], ties) >= 0.99  # box vs mask: exact for axis-aligned ops


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("name", "make"), WITH_ROTATION, ids=[n for n, _ in WITH_ROTATION])
def test_rotation_round_trip(name, make, seed):
    out = make(seed)(_sample())
    assert any(isinstance(r.op, Rotate) for r in out["geometry"])
    _check(out, min_iou=0.97, box_atol=1.0)
    box = out["boxes"][0]  # the enclosing box contains the rotated rectangle (1 px slack for sampling)
    ys, xs = torch.nonzero(out["mask"][0], as_tuple=True)
    assert xs.min() >= box[0] - 1 and xs.max() + 1 <= box[2] + 1
    assert ys.min() >= box[1] - 1 and ys.max() + 1 <= box[3] + 1


def test_geometry_is_recorded_in_order():
    pipeline = Compose([Resize((80, 100)), RandomHorizontalFlip(1.0), RandomRotation(10.0), CenterCrop(64)])
    out = pipeline(_sample(), torch.Generator().manual_seed(0))
    ops = [type(r.op) for r in out["geometry"]]
    assert ops == [ResizedCrop, HFlip, Rotate, ResizedCrop]
    sizes = [(r.in_size, r.out_size) for r in out["geometry"]]
    assert sizes == [
        ((96, 128), (80, 100)),
        ((80, 100), (80, 100)),
        ((80, 100), (80, 100)),
        ((80, 100), (64, 64)),
    ]
