"""Random video wrappers: draw parameters once per clip, apply them to every frame, the mask and the boxes.

Sample keys read/written: ``video`` (T, 3, H, W) uint8 or [0, 1] float, optional ``mask`` (T, H, W),
optional ``boxes`` (N, 4) xyxy pixels, ``geometry`` (list of :class:`GeometryRecord`, one appended per
geometric op actually applied; a flip that was not drawn appends nothing). ``Normalize`` ends a pipeline:
it returns ``video`` float (C, T, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from avssl.transforms.compose import Sample, Transform, rand_bool, rand_int, rand_log_uniform, rand_uniform
from avssl.transforms.functional import appearance as FA
from avssl.transforms.functional.geometry import GeometricOp, GeometryRecord, HFlip, ResizedCrop, Rotate, Size


def _pair(size: int | Sequence[int]) -> Size:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def apply_geometric_op(
    sample: Sample,
    op: GeometricOp,
    out_size: Size | None = None,
    video_fn: Callable[[torch.Tensor, Size], torch.Tensor] | None = None,
) -> Sample:
    """Apply ``op`` to ``video``, ``mask`` and ``boxes`` of a sample and append its record to ``geometry``;
    ``video_fn(video, out_size)`` replaces ``op.apply_video`` for the frames when given."""
    video = sample["video"]
    in_size = (int(video.shape[-2]), int(video.shape[-1]))
    out_size = in_size if out_size is None else out_size
    out = dict(sample)
    out["video"] = op.apply_video(video, out_size) if video_fn is None else video_fn(video, out_size)
    if sample.get("mask") is not None:
        out["mask"] = op.apply_mask(sample["mask"], out_size)
    if sample.get("boxes") is not None:
        out["boxes"] = op.apply_boxes(sample["boxes"], in_size, out_size)
    out["geometry"] = [*sample.get("geometry", []), GeometryRecord(op, in_size, out_size)]
    return out


def _crop_op(in_size: Size, top: int, left: int, crop: Size) -> ResizedCrop:
    """A pixel-aligned crop recorded as fractions of ``in_size``."""
    h, w = in_size
    return ResizedCrop(top / h, left / w, crop[0] / h, crop[1] / w)


class RandomResizedCrop(Transform):
    """Crop a random area fraction in ``scale`` with aspect ratio (w/h) log-uniform in ``ratio``, resize to
    ``size`` (Szegedy et al. 2015 "Inception" crop). Falls back to the largest centre crop within
    ``ratio`` after 10 failed draws. Crops are whole pixels.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.size, self.scale, self.ratio = _pair(size), tuple(scale), tuple(ratio)

    def sample_crop(self, in_size: Size, generator: torch.Generator | None) -> tuple[int, int, int, int]:
        """(top, left, height, width) in pixels."""
        height, width = in_size
        for _ in range(10):
            area = height * width * rand_uniform(*self.scale, generator)
            aspect = rand_log_uniform(*self.ratio, generator)
            w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                return rand_int(0, height - h, generator), rand_int(0, width - w, generator), h, w
        aspect = min(max(width / height, min(self.ratio)), max(self.ratio))
        if width / height <= aspect:  # too tall (or exact): keep the width
            w, h = width, round(width / aspect)
        else:
            w, h = round(height * aspect), height
        return (height - h) // 2, (width - w) // 2, h, w

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        in_size = tuple(sample["video"].shape[-2:])
        top, left, h, w = self.sample_crop(in_size, generator)
        return apply_geometric_op(sample, _crop_op(in_size, top, left, (h, w)), self.size)


class RandomHorizontalFlip(Transform):
    """Mirror the clip left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = p

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        return apply_geometric_op(sample, HFlip()) if rand_bool(self.p, generator) else sample


class RandomRotation(Transform):
    """Rotate counter-clockwise by an angle drawn from U[-max_deg, max_deg] (no expand, fill 0)."""

    def __init__(self, max_deg: float, seed: int | None = None) -> None:
        super().__init__(seed)
        self.max_deg = float(max_deg)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        angle = rand_uniform(-self.max_deg, self.max_deg, generator)
        return apply_geometric_op(sample, Rotate(angle))


def pil_bicubic(video: torch.Tensor, out_size: Size) -> torch.Tensor:
    """uint8 frames (..., 3, H, W) resized to ``out_size`` (h, w) by Pillow's bicubic filter, frame by frame:
    exactly ``torchvision.transforms.Resize(..., Image.BICUBIC)`` on PIL images, as the LVS, EZ-VSL and
    SSL-TIE test code resizes a test frame (antialiased, rounded back to uint8)."""
    from PIL import Image

    if video.dtype != torch.uint8:
        raise ValueError(f"interpolation 'pil_bicubic' resizes uint8 frames, got {video.dtype}")
    flat = video.reshape(-1, *video.shape[-3:]).permute(0, 2, 3, 1).cpu().numpy()  # (N, H, W, 3)
    height, width = out_size
    frames = [
        torch.from_numpy(np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC)).copy())
        for f in flat
    ]
    return torch.stack(frames).permute(0, 3, 1, 2).reshape(*video.shape[:-2], height, width)


class Resize(Transform):
    """Resize to ``size`` (h, w), or an int for the shorter side (aspect kept, longer side floored).
    ``interpolation``: "bilinear" (antialiased, in torch) or "pil_bicubic" (:func:`pil_bicubic`, uint8
    frames only: a published model's reference test input)."""

    def __init__(
        self, size: int | Sequence[int], interpolation: Literal["bilinear", "pil_bicubic"] = "bilinear"
    ) -> None:
        super().__init__()
        if interpolation not in ("bilinear", "pil_bicubic"):
            raise ValueError(f"interpolation must be 'bilinear' or 'pil_bicubic', got {interpolation!r}")
        self.size = size if isinstance(size, int) else _pair(size)
        self.interpolation = interpolation

    def output_size(self, in_size: Size) -> Size:
        if not isinstance(self.size, int):
            return self.size
        h, w = in_size
        short, long = min(h, w), max(h, w)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if h <= w else (new_long, self.size)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        in_size = tuple(sample["video"].shape[-2:])
        video_fn = pil_bicubic if self.interpolation == "pil_bicubic" else None
        return apply_geometric_op(
            sample, ResizedCrop(0.0, 0.0, 1.0, 1.0), self.output_size(in_size), video_fn
        )


class CenterCrop(Transform):
    """Crop the central ``size`` (h, w) pixels (no resizing); the image must be at least that large."""

    def __init__(self, size: int | Sequence[int]) -> None:
        super().__init__()
        self.size = _pair(size)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        height, width = in_size = tuple(sample["video"].shape[-2:])
        h, w = self.size
        if h > height or w > width:
            raise ValueError(f"CenterCrop {self.size} larger than the frame {in_size}")
        op = _crop_op(in_size, round((height - h) / 2), round((width - w) / 2), self.size)
        return apply_geometric_op(sample, op, self.size)


class ColorJitter(Transform):
    """With probability ``p``, jitter brightness/contrast/saturation in U[max(0, 1-x), 1+x] and hue in
    U[-hue, hue] (hue <= 0.5), in a random order, with the same factors on every frame.
    """

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation
        self.hue, self.p = hue, p

    def sample_params(self, generator: torch.Generator | None) -> FA.JitterParams:
        def factor(x: float) -> float:
            return rand_uniform(max(0.0, 1.0 - x), 1.0 + x, generator) if x > 0 else 1.0

        b, c, s = factor(self.brightness), factor(self.contrast), factor(self.saturation)
        h = rand_uniform(-self.hue, self.hue, generator) if self.hue > 0 else 0.0
        order = tuple(int(i) for i in torch.randperm(4, generator=generator))
        return FA.JitterParams(b, c, s, h, order)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        if rand_bool(self.p, generator):
            sample["video"] = FA.color_jitter(sample["video"], self.sample_params(generator))
        return sample


class RandomGrayscale(Transform):
    """Convert the whole clip to 3-channel grayscale with probability ``p``."""

    def __init__(self, p: float = 0.1, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = p

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        if rand_bool(self.p, generator):
            sample["video"] = FA.grayscale(sample["video"])
        return sample


class GaussianBlur(Transform):
    """With probability ``p``, blur every frame with one sigma drawn from U[sigma[0], sigma[1]]."""

    def __init__(
        self,
        kernel_size: int = 23,
        sigma: Sequence[float] = (0.1, 2.0),
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.kernel_size, self.sigma, self.p = kernel_size, tuple(sigma), p

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        if rand_bool(self.p, generator):
            sigma = rand_uniform(*self.sigma, generator)
            sample["video"] = FA.gaussian_blur(sample["video"], self.kernel_size, sigma)
        return sample


class Normalize(Transform):
    """Last step of a pipeline: (T, C, H, W) uint8 / [0, 1] float -> float (C, T, H, W), ``(x - mean) / std``;
    a ``motion`` input (T', C, H, W) becomes (C, T', H, W) unscaled."""

    requires_last = True

    def __init__(
        self, mean: Sequence[float] = FA.IMAGENET_MEAN, std: Sequence[float] = FA.IMAGENET_STD
    ) -> None:
        super().__init__()
        self.mean, self.std = tuple(mean), tuple(std)

    def forward(self, sample: Sample, generator: torch.Generator | None) -> Sample:
        sample["video"] = FA.normalize(sample["video"], self.mean, self.std)
        if sample.get("motion") is not None:  # motion (T - 1, C, H, W) → (C, T - 1, H, W), values as they are
            sample["motion"] = sample["motion"].float().permute(1, 0, 2, 3).contiguous()
        return sample
