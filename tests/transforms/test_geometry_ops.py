"""Functional geometry: points, boxes, masks and maps agree with each other, with torchvision and with
naive formulas, at any resolution."""

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torchvision import tv_tensors

from avssl.transforms.functional.geometry import (
    GeometryRecord,
    HFlip,
    ResizedCrop,
    Rotate,
    apply_geometry_to_map,
    apply_geometry_to_maps,
    geometry_forward_points,
    geometry_inverse_points,
    geometry_valid_mask,
)

IN = (48, 64)  # non-square on purpose: rotation must respect the pixel aspect ratio
OPS = [ResizedCrop(0.125, 0.25, 0.5, 0.625), HFlip(), Rotate(37.0), Rotate(-90.0), Rotate(180.0)]
OUT_SIZES = [None, (30, 40), (40, 40)]


def _ids(op):
    return f"{type(op).__name__}{getattr(op, 'angle_deg', '')}"


def _chain():
    return [
        GeometryRecord(ResizedCrop(0.125, 0.0, 0.75, 0.5), IN, (40, 40)),
        GeometryRecord(HFlip(), (40, 40), (40, 40)),
        GeometryRecord(Rotate(25.0), (40, 40), (40, 40)),
        GeometryRecord(ResizedCrop(0.0, 0.1, 0.9, 0.9), (40, 40), (20, 24)),
    ]


@pytest.mark.parametrize("op", OPS, ids=_ids)
@pytest.mark.parametrize("out_size", OUT_SIZES)
def test_inverse_points_undo_forward_points(op, out_size):
    xy = torch.rand(50, 2, dtype=torch.float64) * torch.tensor([IN[1], IN[0]])
    there = op.forward_points(xy, IN, out_size)
    assert torch.allclose(op.inverse_points(there, IN, out_size), xy, atol=1e-4)
    assert torch.allclose(op.forward_points(op.inverse_points(xy, IN, out_size), IN, out_size), xy, atol=1e-4)


def test_chain_points_round_trip():
    records = _chain()
    xy = torch.rand(40, 2) * torch.tensor([IN[1], IN[0]])
    back = geometry_inverse_points(records, geometry_forward_points(records, xy))
    assert torch.allclose(back, xy, atol=1e-4)


def _naive_rotate_points(xy, angle_deg, size):
    """Counter-clockwise on screen (y down) about the canvas centre, one point at a time."""
    h, w = size
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    out = []
    for x, y in xy.tolist():
        dx, dy = x - w / 2, y - h / 2
        out.append([w / 2 + c * dx + s * dy, h / 2 - s * dx + c * dy])
    return torch.tensor(out)


def test_forward_points_naive_formulas():
    xy = torch.tensor([[10.0, 5.0], [50.5, 40.25], [0.0, 0.0]])
    rot = Rotate(30.0).forward_points(xy, IN)
    assert torch.allclose(rot, _naive_rotate_points(xy, 30.0, IN), atol=1e-4)
    flip = HFlip().forward_points(xy, IN)
    assert torch.allclose(flip, torch.stack([IN[1] - xy[:, 0], xy[:, 1]], 1), atol=1e-5)
    crop = ResizedCrop(0.25, 0.5, 0.5, 0.25)  # pixels: top 12, left 32, 24 x 16 -> (48, 32)
    want = torch.stack([(xy[:, 0] - 32) * 2, (xy[:, 1] - 12) * 2], 1)
    assert torch.allclose(crop.forward_points(xy, IN, (48, 32)), want, atol=1e-4)


@pytest.mark.parametrize("angle", [15.0, -40.0, 90.0, 133.0])
def test_rotated_boxes_match_torchvision_and_corners(angle):
    boxes = torch.tensor([[10.0, 8.0, 30.0, 20.0], [40.0, 30.0, 60.0, 46.0], [20.0, 10.0, 44.0, 38.0]])
    ours = Rotate(angle).apply_boxes(boxes, IN)
    tv = TF.rotate(tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=IN), angle)
    assert torch.allclose(ours, tv.as_subclass(torch.Tensor), atol=1e-3)
    for box, got in zip(boxes, ours, strict=True):
        corners = torch.tensor([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
        moved = _naive_rotate_points(corners, angle, IN)
        lo = moved.min(0).values.clamp(min=0)
        hi = torch.minimum(moved.max(0).values, torch.tensor([IN[1], IN[0]], dtype=torch.float32))
        assert torch.allclose(got, torch.cat([lo, hi]), atol=1e-3)


@pytest.mark.parametrize("op", OPS, ids=_ids)
def test_mask_follows_inverse_points_of_pixel_centres(op):
    out_size = (40, 40) if isinstance(op, ResizedCrop) else IN
    mask = (torch.rand(1, 6, 8) > 0.5).to(torch.uint8)
    mask = F.interpolate(mask[None].float(), size=IN, mode="nearest")[0].to(torch.uint8)  # (1, 48, 64) blocks
    got = op.apply_mask(mask, out_size)[0]
    ys, xs = torch.meshgrid(torch.arange(out_size[0]), torch.arange(out_size[1]), indexing="ij")
    centres = torch.stack([xs.flatten() + 0.5, ys.flatten() + 0.5], 1).double()
    src = op.inverse_points(centres, IN, out_size)
    inside = (src[:, 0] >= 0) & (src[:, 0] < IN[1]) & (src[:, 1] >= 0) & (src[:, 1] < IN[0])
    col = src[:, 0].floor().long().clamp(0, IN[1] - 1)
    row = src[:, 1].floor().long().clamp(0, IN[0] - 1)
    want = torch.where(inside, mask[0, row, col], 0).view(out_size)
    assert (got == want).float().mean() > 0.995  # ties on pixel edges may round either way


def _peak(size, centre, sigma):
    ys, xs = torch.meshgrid(torch.arange(size[0]) + 0.5, torch.arange(size[1]) + 0.5, indexing="ij")
    return torch.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2)).double()


def _centroid(m):
    ys, xs = torch.meshgrid(torch.arange(m.shape[0]) + 0.5, torch.arange(m.shape[1]) + 0.5, indexing="ij")
    return torch.stack([(xs * m).sum() / m.sum(), (ys * m).sum() / m.sum()])


@pytest.mark.parametrize("op", OPS, ids=_ids)
@pytest.mark.parametrize("out_size", [None, (96, 128), (40, 40)])
def test_forward_points_track_where_apply_map_moves_a_peak(op, out_size):
    p = torch.tensor([36.3, 18.4], dtype=torch.float64)  # >= 3 sigma inside the crop and the canvas
    moved = op.apply_map(_peak(IN, p, sigma=3.0), out_size)
    want = op.forward_points(p[None], IN, out_size)[0]
    assert torch.allclose(_centroid(moved), want, atol=0.1)


def _smooth_frames(size, sigma=0.2, t=2):
    """Float clip (T, 3, H, W) of broad Gaussian blobs (std ``sigma * min(H, W)``) near the centre."""
    h, w = size
    blobs = [((0.45, 0.45), sigma), ((0.55, 0.55), 0.8 * sigma), ((0.5, 0.42), sigma)]
    frames = torch.zeros(t, 3, h, w)
    for c, ((cx, cy), s) in enumerate(blobs):
        frames[:, c] = _peak(size, (cx * w, cy * h), s * min(h, w)).float()
    return frames


def _f(video, factor):
    """An equivariant 'feature map': per-pixel function of the frame, area-downsampled. (T, h, w)."""
    g = video[:, 0] * 0.7 + video[:, 1] ** 2 - 0.3 * video[:, 2]
    return F.avg_pool2d(g[:, None], factor)[:, 0]


CASES = [
    (HFlip(), None),
    (ResizedCrop(0.125, 0.25, 0.625, 0.5), (96, 128)),  # zoom in
    (ResizedCrop(0.125, 0.25, 0.625, 0.5), (32, 32)),  # zoom out, other aspect ratio
    (ResizedCrop(0.0, 0.0, 1.0, 1.0), (48, 64)),  # plain resize
    (Rotate(33.0), None),
    (Rotate(-120.0), None),
]
CASE_IDS = ["flip", "crop-in", "crop-out", "resize", "rot33", "rot-120"]


@pytest.mark.parametrize(("op", "out_size"), CASES, ids=CASE_IDS)
def test_map_of_transformed_frames_equals_transformed_map(op, out_size):
    """apply_map(op, f(x)) vs f(apply_video(op, x)) with a 4x downsampling f: exact for flips, else
    within the interpolation error of a 4x coarser map (~3% of the peak)."""
    video = _smooth_frames((96, 128))
    small_out = None if out_size is None else (out_size[0] // 4, out_size[1] // 4)
    map_then_op = op.apply_map(_f(video, 4), small_out)
    op_then_map = _f(op.apply_video(video, out_size), 4)
    assert map_then_op.shape == op_then_map.shape
    tol = 1e-5 if isinstance(op, HFlip) else 0.04
    assert (map_then_op - op_then_map).abs().max() < tol


@pytest.mark.parametrize(("op", "out_size"), CASES, ids=CASE_IDS)
def test_apply_map_at_14_agrees_with_224_downsampled(op, out_size):
    """The same op moves a 14x14 map like the 112x112 map it summarises, within the interpolation error
    of the coarse map (< 4% of the peak for content this broad)."""
    size = (112, 112)
    fine = _f(_smooth_frames(size, sigma=0.3, t=1), 1)  # (1, 112, 112)
    fine_out = None if out_size is None else (112, 112)
    down_after = F.avg_pool2d(op.apply_map(fine, fine_out), 8)
    at_coarse = op.apply_map(F.avg_pool2d(fine, 8), None if out_size is None else (14, 14))
    assert down_after.shape == at_coarse.shape == (1, 14, 14)
    # compare cells whose 8x8 fine pixels are all in the frame (the fill edge is sharper at 112x112)
    inside = F.avg_pool2d(op.apply_map(torch.ones(1, *size), fine_out), 8) > 0.999
    assert (down_after - at_coarse)[inside].abs().max() < 0.05


def test_apply_map_equals_torchvision_interior():
    x = torch.rand(2, 3, 24, 32)
    for op in (Rotate(30.0), Rotate(-75.0)):  # interior pixels: identical sampling
        diff = (op.apply_map(x) - op.apply_video(x)).abs()
        inner = op.apply_map(F.pad(torch.ones(1, 20, 28), (2, 2, 2, 2)))[0] > 0.999
        assert diff[..., inner].max() < 1e-5
    crop = ResizedCrop(0.25, 0.25, 0.5, 0.5)
    up = TF.resized_crop(x, 6, 8, 12, 16, [36, 48], antialias=False)
    assert (crop.apply_map(x, (36, 48)) - up)[..., 2:-2, 2:-2].abs().max() < 1e-5
    assert torch.allclose(HFlip().apply_map(x), TF.hflip(x), atol=1e-6)


def test_chain_replay_matches_sequential_ops_and_fill():
    records = _chain()
    m = _f(_smooth_frames(IN, t=3), 1)  # (3, 48, 64)
    sequential = m
    for rec in records:  # map at frame resolution: replay step by step
        sequential = rec.op.apply_map(sequential, rec.out_size)
    replay = apply_geometry_to_map(records, m)
    valid = geometry_valid_mask(records, (20, 24))
    assert replay.shape == (3, 20, 24)
    assert torch.equal(replay[:, ~valid], torch.zeros_like(replay[:, ~valid]))
    assert (replay - sequential)[:, valid].abs().max() < 0.03
    ones = apply_geometry_to_map(records, torch.ones(12, 16))
    assert ones.shape == (5, 6) and torch.allclose(ones, geometry_valid_mask(records, (5, 6)).float())


def test_per_sample_chains():
    maps = torch.rand(3, 2, 12, 16)
    chains = [_chain(), [], [GeometryRecord(Rotate(10.0), IN, IN)]]
    out = apply_geometry_to_maps(chains, maps, out_size=(10, 12))
    for b, recs in enumerate(chains):
        assert torch.allclose(out[b], apply_geometry_to_map(recs, maps[b], out_size=(10, 12)), atol=1e-6)
    with pytest.raises(ValueError):
        apply_geometry_to_maps(chains, maps)  # sizes implied by the chains differ


def test_crop_must_stay_inside_the_frame():
    with pytest.raises(ValueError):
        ResizedCrop(0.6, 0.0, 0.5, 0.5)
