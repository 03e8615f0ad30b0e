"""Pure geometric ops in normalised coordinates, applicable to frames, masks, boxes, points and maps.

Conventions (shared by every op):

- Pixel coordinates are continuous: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``, its centre is
  ``(j + 0.5, i + 0.5)``; boxes are ``xyxy`` in these coordinates (a box covering pixels ``x0..x1-1`` is
  ``(x0, y0, x1, y1)``).
- Normalised coordinates follow ``F.grid_sample(align_corners=False)``: ``u = 2 x / W - 1`` in ``[-1, 1]``,
  so ``-1`` and ``1`` are the outer pixel *edges*. An op depends on the canvas only through its aspect
  ratio, so the same op moves a 224x224 frame and a 14x14 predicted map identically.
- Every op is an affine map in normalised coordinates, exposed as ``theta(in_size)``: the 3x3 matrix that
  sends normalised OUTPUT coordinates to normalised INPUT coordinates (what ``F.affine_grid`` expects).
  The op's output may additionally be resized to any ``out_size``; resizing is the identity in normalised
  coordinates.
- Sizes are ``(height, width)``.

Frames are resampled with ``torchvision.transforms.v2.functional`` (bilinear + antialias), masks with
nearest(-exact) sampling, and maps with ``F.grid_sample`` (bilinear); all three agree under the
pixel-centre convention (interior pixels are identical; in the outer half-pixel band a frame resize
replicates the crop's edge pixels while ``apply_map`` reads the true neighbours). A ``ResizedCrop`` is
rounded to whole pixels when applied to frames and masks (the random wrappers only record pixel-aligned
crops, so the rounding is exact there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode

Size = tuple[int, int]


def _out(in_size: Size, out_size: Size | None) -> Size:
    return tuple(in_size) if out_size is None else (int(out_size[0]), int(out_size[1]))


def _resize_video(video: Tensor, out_size: Size) -> Tensor:
    if tuple(video.shape[-2:]) == out_size:
        return video
    return TF.resize(video, list(out_size), interpolation=InterpolationMode.BILINEAR, antialias=True)


def _fresh(out: Tensor, src: Tensor) -> Tensor:
    """Copy ``out`` if it is a view of ``src`` (crops are slices), so outputs never alias inputs."""
    return out.clone() if out.untyped_storage().data_ptr() == src.untyped_storage().data_ptr() else out


def _resize_mask(mask: Tensor, out_size: Size) -> Tensor:
    if tuple(mask.shape[-2:]) == out_size:
        return mask
    return TF.resize(mask, list(out_size), interpolation=InterpolationMode.NEAREST_EXACT)


class GeometricOp:
    """Base of the geometric ops: everything but ``theta``, ``apply_video`` and ``apply_mask`` is generic.

    ``theta(in_size)`` returns a float64 (3, 3) matrix ``A`` with ``[u_in, v_in, 1] = A @ [u_out, v_out, 1]``.
    """

    def theta(self, in_size: Size) -> Tensor:
        raise NotImplementedError

    def apply_video(self, video: Tensor, out_size: Size | None = None) -> Tensor:
        """(T, C, H, W) uint8 or float -> (T, C, h', w')."""
        raise NotImplementedError

    def apply_mask(self, mask: Tensor, out_size: Size | None = None) -> Tensor:
        """(T, H, W) {0, 1} uint8 or bool -> (T, h', w'), nearest sampling, same dtype."""
        raise NotImplementedError

    def forward_points(self, xy: Tensor, in_size: Size, out_size: Size | None = None) -> Tensor:
        """Move (N, 2) pixel points ``(x, y)`` of the input canvas to pixels of the output canvas."""
        out_size = _out(in_size, out_size)
        return _affine_points(xy, torch.linalg.inv(self.theta(in_size)), in_size, out_size)

    def inverse_points(self, xy: Tensor, in_size: Size, out_size: Size | None = None) -> Tensor:
        """Exact inverse of :meth:`forward_points`: (N, 2) output pixels -> input pixels."""
        out_size = _out(in_size, out_size)
        return _affine_points(xy, self.theta(in_size), out_size, in_size)

    def apply_boxes(self, boxes: Tensor, in_size: Size, out_size: Size | None = None) -> Tensor:
        """(N, 4) xyxy -> (N, 4) xyxy: enclosing box of the 4 moved corners, clipped to the output canvas.

        Exact for crops and flips; for rotations this is torchvision's convention. Boxes that leave the
        canvas become degenerate (zero width/height) rather than being dropped, so N is preserved.
        """
        out_size = _out(in_size, out_size)
        if boxes.numel() == 0:
            return boxes.clone()
        corners = boxes[:, [[0, 1], [2, 1], [2, 3], [0, 3]]].reshape(-1, 2)  # (4N, 2)
        moved = self.forward_points(corners, in_size, out_size).reshape(-1, 4, 2)
        lo, hi = moved.amin(dim=1), moved.amax(dim=1)  # (N, 2)
        limit = torch.tensor([out_size[1], out_size[0]], dtype=moved.dtype, device=moved.device)
        lo = torch.minimum(lo.clamp(min=0), limit)
        hi = torch.minimum(hi.clamp(min=0), limit)
        return torch.cat([lo, hi], dim=1).to(boxes.dtype)

    def apply_map(self, maps: Tensor, out_size: Size | None = None) -> Tensor:
        """Float maps (..., h, w) at any resolution -> (..., h', w') by bilinear ``grid_sample``, 0 outside.

        The aspect ratio used by the op is the map's own ``h / w`` (equal to the frame's for feature maps).
        """
        in_size = (maps.shape[-2], maps.shape[-1])
        out_size = _out(in_size, out_size)
        grid, valid = _chain_grid([self.theta(in_size)], out_size, maps.device)
        return _sample_maps(maps, grid[None], valid[None])


def _affine_points(xy: Tensor, matrix: Tensor, src_size: Size, dst_size: Size) -> Tensor:
    """Pixels of ``src_size`` -> normalised -> ``matrix`` -> pixels of ``dst_size``; float64 inside."""
    pts = xy.to(torch.float64)
    src_wh = torch.tensor([src_size[1], src_size[0]], dtype=torch.float64, device=xy.device)
    dst_wh = torch.tensor([dst_size[1], dst_size[0]], dtype=torch.float64, device=xy.device)
    uv = 2.0 * pts / src_wh - 1.0
    m = matrix.to(xy.device)
    uv = uv @ m[:2, :2].T + m[:2, 2]
    out = (uv + 1.0) * 0.5 * dst_wh
    return out.to(xy.dtype) if xy.is_floating_point() else out


@dataclass(frozen=True)
class ResizedCrop(GeometricOp):
    """Crop ``[top, top+height) x [left, left+width)`` (fractions of the input), then resize to ``out_size``.

    ``theta``: ``u_in = width * u_out + (2 left + width - 1)`` and likewise for ``v`` with top/height.
    """

    top: float
    left: float
    height: float
    width: float

    def __post_init__(self) -> None:
        eps = 1e-6
        ok = self.height > 0 and self.width > 0 and self.top >= -eps and self.left >= -eps
        if not ok or self.top + self.height > 1 + eps or self.left + self.width > 1 + eps:
            raise ValueError(f"ResizedCrop must lie inside the unit square, got {self}")

    def theta(self, in_size: Size) -> Tensor:
        return torch.tensor(
            [
                [self.width, 0.0, 2 * self.left + self.width - 1],
                [0.0, self.height, 2 * self.top + self.height - 1],
                [0.0, 0.0, 1.0],
            ],
            dtype=torch.float64,
        )

    def pixel_box(self, in_size: Size) -> tuple[int, int, int, int]:
        """(top, left, height, width) rounded to whole pixels of ``in_size``."""
        h, w = in_size
        top, left = min(round(self.top * h), h - 1), min(round(self.left * w), w - 1)
        return (
            top,
            left,
            min(max(1, round(self.height * h)), h - top),
            min(max(1, round(self.width * w)), w - left),
        )

    def apply_video(self, video: Tensor, out_size: Size | None = None) -> Tensor:
        out_size = _out(video.shape[-2:], out_size)
        top, left, h, w = self.pixel_box(video.shape[-2:])
        out = TF.resized_crop(
            video, top, left, h, w, list(out_size), interpolation=InterpolationMode.BILINEAR, antialias=True
        )
        return _fresh(out, video)

    def apply_mask(self, mask: Tensor, out_size: Size | None = None) -> Tensor:
        out_size = _out(mask.shape[-2:], out_size)
        top, left, h, w = self.pixel_box(mask.shape[-2:])
        cropped = mask[..., top : top + h, left : left + w]
        return _fresh(_resize_mask(cropped, out_size), mask)


@dataclass(frozen=True)
class HFlip(GeometricOp):
    """Mirror left-right: ``u_in = -u_out``."""

    def theta(self, in_size: Size) -> Tensor:
        return torch.tensor([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)

    def apply_video(self, video: Tensor, out_size: Size | None = None) -> Tensor:
        return _resize_video(TF.hflip(video), _out(video.shape[-2:], out_size))

    def apply_mask(self, mask: Tensor, out_size: Size | None = None) -> Tensor:
        return _resize_mask(TF.hflip(mask), _out(mask.shape[-2:], out_size))


@dataclass(frozen=True)
class Rotate(GeometricOp):
    """Rotate by ``angle_deg`` counter-clockwise about the centre, no expand, fill 0 (torchvision's ``rotate``).

    In centred pixel coordinates (y down) the forward map is ``x' = c x + s y, y' = -s x + c y``
    (c = cos, s = sin of the angle). Rotation is in pixel space, so in normalised coordinates of an
    ``H x W`` canvas the inverse map is ``u_in = c u - s (H/W) v``, ``v_in = s (W/H) u + c v``.
    """

    angle_deg: float

    def theta(self, in_size: Size) -> Tensor:
        h, w = in_size
        rad = math.radians(self.angle_deg)
        c, s = math.cos(rad), math.sin(rad)
        return torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)

    def apply_video(self, video: Tensor, out_size: Size | None = None) -> Tensor:
        rotated = TF.rotate(video, self.angle_deg, interpolation=InterpolationMode.BILINEAR, fill=0)
        return _resize_video(rotated, _out(video.shape[-2:], out_size))

    def apply_mask(self, mask: Tensor, out_size: Size | None = None) -> Tensor:
        as_u8 = mask.to(torch.uint8)
        rotated = TF.rotate(as_u8, self.angle_deg, interpolation=InterpolationMode.NEAREST, fill=0)
        return _resize_mask(rotated, _out(mask.shape[-2:], out_size)).to(mask.dtype)


def _chain_grid(thetas: list[Tensor], out_size: Size, device: torch.device) -> tuple[Tensor, Tensor]:
    """Sampling grid (h, w, 2) of a chain ``theta_1 @ ... @ theta_n`` and its validity (h, w) bool.

    A location is valid iff it lies inside the canvas at EVERY stage, which reproduces the zero fill
    each op applied to the frames (a single composite ``grid_sample`` would otherwise resurrect content
    that an earlier rotation cut off).
    """
    oh, ow = out_size
    ys = (2 * torch.arange(oh, dtype=torch.float64) + 1) / oh - 1
    xs = (2 * torch.arange(ow, dtype=torch.float64) + 1) / ow - 1
    uv = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (h, w, 2) as (u, v)
    valid = torch.ones(oh, ow, dtype=torch.bool)
    tol = 1e-9
    for theta in reversed(thetas):
        uv = uv @ theta[:2, :2].T + theta[:2, 2]
        valid &= (uv.abs() <= 1 + tol).all(dim=-1)
    return uv.to(device), valid.to(device)


def _sample_maps(maps: Tensor, grid: Tensor, valid: Tensor) -> Tensor:
    """maps (B, ..., h, w) or (..., h, w) with B == 1 grids; grid (B, h', w', 2); valid (B, h', w')."""
    lead, (h, w) = maps.shape[:-2], maps.shape[-2:]
    b = grid.shape[0]
    flat = maps.reshape(b, -1, h, w)  # (B, C', h, w)
    dtype = maps.dtype if maps.is_floating_point() else torch.float32
    # "border" + the hard validity mask: inside the canvas the outer half-pixel band is edge-replicated
    # like a resize (F.interpolate), outside it is 0 like the frames' fill; a constant map stays constant.
    out = F.grid_sample(
        flat.to(dtype), grid.to(dtype), mode="bilinear", padding_mode="border", align_corners=False
    )
    out = out * valid[:, None].to(dtype)
    return out.reshape(*lead, *out.shape[-2:])


@dataclass(frozen=True)
class GeometryRecord:
    """One applied geometric op with the frame sizes it saw: what wrappers append to ``sample["geometry"]``."""

    op: GeometricOp
    in_size: Size
    out_size: Size


def chain_theta(records: list[GeometryRecord]) -> Tensor:
    """(3, 3) float64 map from normalised coordinates of the last output to those of the first input."""
    total = torch.eye(3, dtype=torch.float64)
    for rec in records:
        total = total @ rec.op.theta(rec.in_size)
    return total


def geometry_forward_points(records: list[GeometryRecord], xy: Tensor) -> Tensor:
    """(N, 2) pixels of the first input frame -> pixels of the last output frame."""
    for rec in records:
        xy = rec.op.forward_points(xy, rec.in_size, rec.out_size)
    return xy


def geometry_inverse_points(records: list[GeometryRecord], xy: Tensor) -> Tensor:
    """(N, 2) pixels of the last output frame -> pixels of the first input frame."""
    for rec in reversed(records):
        xy = rec.op.inverse_points(xy, rec.in_size, rec.out_size)
    return xy


def _default_map_size(records: list[GeometryRecord], map_size: Size) -> Size:
    """Scale the map like the frames: (h * H_last / H_first, w * W_last / W_first)."""
    if not records:
        return tuple(map_size)
    (h0, w0), (h1, w1) = records[0].in_size, records[-1].out_size
    return round(map_size[0] * h1 / h0), round(map_size[1] * w1 / w0)


def geometry_valid_mask(
    records: list[GeometryRecord], out_size: Size, device: torch.device | None = None
) -> Tensor:
    """(h, w) bool: output locations whose content came from inside the original frame (not fill)."""
    thetas = [rec.op.theta(rec.in_size) for rec in records]
    return _chain_grid(thetas, out_size, device or torch.device("cpu"))[1]


def apply_geometry_to_map(
    records: list[GeometryRecord], maps: Tensor, out_size: Size | None = None
) -> Tensor:
    """Replay recorded ops on float maps (..., h, w): T(map(x)), to compare with map(T(x)).

    One bilinear ``grid_sample`` of the composite affine (aspect ratios taken from the recorded frame
    sizes), zero wherever any op filled. ``out_size`` defaults to the map size scaled like the frames.
    The same chain is applied to every leading index; see :func:`apply_geometry_to_maps` for per-sample
    chains.
    """
    out_size = _default_map_size(records, maps.shape[-2:]) if out_size is None else out_size
    thetas = [rec.op.theta(rec.in_size) for rec in records]
    grid, valid = _chain_grid(thetas, out_size, maps.device)
    return _sample_maps(maps, grid[None], valid[None])


def apply_geometry_to_maps(
    batch_records: list[list[GeometryRecord]], maps: Tensor, out_size: Size | None = None
) -> Tensor:
    """Per-sample replay: ``maps`` (B, h, w) or (B, C, h, w), ``batch_records[b]`` the chain of sample b."""
    if len(batch_records) != maps.shape[0]:
        raise ValueError(f"{len(batch_records)} geometry chains for a batch of {maps.shape[0]} maps")
    if out_size is None:
        sizes = {_default_map_size(recs, maps.shape[-2:]) for recs in batch_records}
        if len(sizes) != 1:
            raise ValueError(f"chains imply different map sizes {sizes}; pass out_size")
        out_size = sizes.pop()
    chains = [
        _chain_grid([r.op.theta(r.in_size) for r in recs], out_size, maps.device) for recs in batch_records
    ]
    grids = torch.stack([grid for grid, _ in chains])  # (B, h', w', 2)
    valids = torch.stack([valid for _, valid in chains])  # (B, h', w')
    return _sample_maps(maps, grids, valids)
