"""Single-date images with semantic masks → two augmented views and class-balanced, aligned point pairs: the
training samples of SaDL-CD (Chen, Li, Chen & Shi, "Semantic-aware Dense Representation Learning for Remote
Sensing Image Change Detection", IEEE TGRS 2022).

Where the images come from. The paper pretrains on single-date images with a building mask each (Inria
patches; the release keeps them as `A/` + `label/`). Here the images are the date folders (`dates`, e.g.
`A` and `B`) of a bi-temporal tree (`ROOT/<split>/<date>/<name>`, the file names of `A/` list the places,
as in LEVIR-CD / WHU-CD); each image's binary semantic mask (0 background, anything else foreground) comes
from `mask_fn(path, pixels)`: a folder of label PNGs of the same name, or unsupervised saliency.

Per image (`dataset[i]`):

    "views"        [{"video": (3, 1, S, S) float, "mask": (1, S, S) uint8}] × 2
    "video"        view 0's image (what the training loop checks a batch by)
    "points"       (2, K·n, 2) float   the points (x, y) in each view's pixels (continuous, the pixel grid's
                                       corners at integers): row j of view 0 and row j of view 1 are the same
                                       location of the original image
    "point_class"  (K·n,) long         class of each point: n of class 0 (background), then n of class 1, …
    "point_valid"  (K·n,) bool         False when the two views' overlap holds no pixel of that class
    "index"

Views (the release's geometry): a random resized crop of `crop_scale` of the area (aspect 3/4–4/3)
resized to S × S, horizontal and vertical flips (p 0.5 each), then `photometric` (colour jitter, blur,
normalisation). Points: for each class, n pixels drawn uniformly with replacement among the pixels of that
class inside both crops (the views' overlap), at their centres, mapped into each view; a class absent
from the overlap gets n overlap pixels marked invalid. Everything is drawn from (seed, epoch, index), so
workers and resumed runs see the same samples; in training mode (`skip_bad`) an unreadable image, a missing
mask or a mask of another size is a counted stand-in (`replace_bad`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import DATA_ERRORS, BadItem
from avssl.data.datasets.change import IMAGE_SUFFIXES
from avssl.data.datasets.image_folder import EpochItems
from avssl.data.decoding.images import read_image

MaskFn = Callable[[str, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ViewGeometry:
    """A view of an image: the crop box (x0, y0, w, h) in original pixels, flips, the output size S."""

    x0: int
    y0: int
    w: int
    h: int
    hflip: bool
    vflip: bool
    size: int

    def to_view(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 2) original (x, y) → (N, 2) view coordinates (continuous, corners at integers)."""
        x = (points[:, 0] - self.x0) * self.size / self.w
        y = (points[:, 1] - self.y0) * self.size / self.h
        if self.hflip:
            x = self.size - x
        if self.vflip:
            y = self.size - y
        return torch.stack([x, y], 1)

    def apply(self, image: torch.Tensor, nearest: bool = False) -> torch.Tensor:
        """(C, H, W) → (C, S, S): the crop resized (antialiased bilinear, or nearest for masks), flipped."""
        crop = image[:, self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w][None]
        if nearest:
            out = F.interpolate(crop.float(), size=(self.size, self.size), mode="nearest")
        else:
            out = F.interpolate(
                crop.float(),
                size=(self.size, self.size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        out = out[0]
        if self.hflip:
            out = out.flip(-1)
        if self.vflip:
            out = out.flip(-2)
        return out.round().clamp(0, 255).to(image.dtype) if image.dtype == torch.uint8 else out


def random_geometry(
    height: int, width: int, size: int, scale: tuple[float, float], g: torch.Generator
) -> ViewGeometry:
    """A random resized crop (area fraction in `scale`, aspect log-uniform in 3/4–4/3) and two flips."""
    u = torch.rand(5, generator=g).tolist()
    area = (scale[0] + (scale[1] - scale[0]) * u[0]) * height * width
    ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * u[1])
    w = min(width, max(1, round(math.sqrt(area * ratio))))
    h = min(height, max(1, round(area / w)))
    w = min(width, max(1, round(area / h)))  # a side clipped to the image: the other keeps the area
    x0, y0 = int(u[2] * (width - w + 1)), int(u[3] * (height - h + 1))
    x0, y0 = min(x0, width - w), min(y0, height - h)
    flips = torch.rand(2, generator=g).tolist()
    return ViewGeometry(x0, y0, w, h, flips[0] < 0.5, flips[1] < 0.5, size)


def overlap(a: ViewGeometry, b: ViewGeometry) -> tuple[int, int, int, int]:
    """The pixels inside both crops: (x0, y0, x1, y1), exclusive ends (empty when x1 <= x0 or y1 <= y0)."""
    return max(a.x0, b.x0), max(a.y0, b.y0), min(a.x0 + a.w, b.x0 + b.w), min(a.y0 + a.h, b.y0 + b.h)


def sample_points(
    mask: torch.Tensor, box: tuple[int, int, int, int], classes: int, n: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class-balanced points in `box` of `mask` (H, W) class indices: for each class, `n` pixel centres drawn
    uniformly with replacement among that class's pixels in the box (none: among all the box's pixels, and
    invalid; an empty box: the image centre, invalid). → (points (classes·n, 2) float (x, y), class
    (classes·n,) long, valid (classes·n,) bool)."""
    h, w = mask.shape
    x0, y0, x1, y1 = box
    inside = torch.zeros(h, w, dtype=torch.bool)
    if x1 > x0 and y1 > y0:
        inside[y0:y1, x0:x1] = True
    points, labels, valid = [], [], []
    for c in range(classes):
        candidates = (inside & (mask == c)).flatten().nonzero()[:, 0]
        ok = len(candidates) > 0
        if not ok:
            candidates = inside.flatten().nonzero()[:, 0]
        if len(candidates) == 0:
            picked = torch.full((n,), (h // 2) * w + w // 2)
        else:
            picked = candidates[torch.randint(len(candidates), (n,), generator=g)]
        points.append(torch.stack([(picked % w).float() + 0.5, (picked // w).float() + 0.5], 1))
        labels.append(torch.full((n,), c, dtype=torch.long))
        valid.append(torch.full((n,), ok and len(candidates) > 0, dtype=torch.bool))
    return torch.cat(points), torch.cat(labels), torch.cat(valid)


def semantic_items(
    root: str | Path, split: str | None, dates: list[str], mask_dirs: dict[str, str] | None
) -> list[tuple[str, str | None]]:
    """[(image path, mask path or None)] of `ROOT[/split]/<date>/<name>` for every name of the first date's
    folder and every date (a missing image of another date stays listed: a counted skip in training). With
    `mask_dirs` (date → folder, relative to ROOT[/split] or absolute), the mask of `<date>/<name>` is
    `<mask_dirs[date]>/<name>` with the suffix `.png` when no file of the image's suffix exists. Errors
    (AnnotationError): no first-date folder, no images in it, a date without a mask folder."""
    base = Path(root) / split if split else Path(root)
    first = base / dates[0]
    if not first.is_dir():
        raise AnnotationError(first, f"no {dates[0]}/ folder of single-date images (data.dates={dates})")
    names = sorted(p.name for p in first.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise AnnotationError(first, "holds no images")
    items: list[tuple[str, str | None]] = []
    for date in dates:
        folder = None
        if mask_dirs:
            if date not in mask_dirs:
                raise AnnotationError(base / date, f"no mask folder for date {date!r} in data.mask_dirs")
            folder = Path(mask_dirs[date])
            folder = folder if folder.is_absolute() else base / folder
        for name in names:
            mask = None
            if folder is not None:
                mask = folder / name
                mask = mask if mask.is_file() else mask.with_suffix(".png")
            items.append((str(base / date / name), None if mask is None else str(mask)))
    return items


def read_mask(path: str | Path, shape: tuple[int, int]) -> torch.Tensor:
    """A label image as binary class indices (H, W) long: 0 background, foreground wherever the stored value
    (a grayscale / 1-bit / palette index, or any RGB channel; alpha ignored) is nonzero. Its size must be `shape`. Errors
    (AnnotationError naming the file): missing or unreadable, another size than its image."""
    try:
        with Image.open(path) as img:
            values = np.asarray(img.convert("L") if img.mode == "1" else img).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise AnnotationError(path, f"not a readable mask ({err})") from None
    if values.ndim == 3:  # colour channels only: a grey + alpha or RGBA mask's alpha is not a class
        values = values[..., : 1 if values.shape[-1] == 2 else 3].max(-1)
    if tuple(values.shape) != tuple(shape):
        raise AnnotationError(
            path, f"mask is {values.shape[1]}x{values.shape[0]} but its image is {shape[1]}x{shape[0]}"
        )
    return torch.from_numpy(values > 0).long()


class SemanticPointsDataset(EpochItems):
    """`items` [(image, mask or None)] → two views with aligned class-balanced points (module docstring);
    `mask_fn(path, pixels) → (H, W)` for items without a mask file (unsupervised masks)."""

    accepts_epoch_keys = True

    def __init__(
        self,
        items: list[tuple[str, str | None]],
        photometric: Callable,
        size: int,
        crop_scale: tuple[float, float] = (0.8, 1.0),
        points_per_class: int = 16,
        classes: int = 2,
        mask_fn: MaskFn | None = None,
        seed: int = 0,
        skip_bad: bool = False,
    ):
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f"crop_scale must be 0 < min <= max <= 1, got {crop_scale}")
        if points_per_class < 1 or classes < 2:
            raise ValueError("points_per_class must be >= 1 and classes >= 2")
        self.items, self.photometric, self.size = items, photometric, size
        self.crop_scale, self.n, self.classes = tuple(crop_scale), points_per_class, classes
        self.mask_fn, self.seed, self.skip_bad, self.epoch = mask_fn, seed, skip_bad, 0

    def _generator(self, index: int, part: int) -> torch.Generator:
        return torch.Generator().manual_seed(hash((self.seed, self.epoch, index, part)) & 0x7FFF_FFFF_FFFF)

    def _read(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, mask_path = self.items[index]
        pixels = read_image(path)  # (H, W, 3) uint8
        shape = tuple(pixels.shape[:2])
        if mask_path is not None:
            return pixels, read_mask(mask_path, shape)
        if self.mask_fn is None:
            raise AnnotationError(path, "no semantic mask for this image and no unsupervised mask source")
        return pixels, (self.mask_fn(path, pixels) > 0).long()

    def _load(self, index: int) -> dict | BadItem:
        try:
            pixels, mask = self._read(index)
        except DATA_ERRORS as err:
            if not self.skip_bad:
                raise
            return BadItem(index=index, path=str(self.items[index][0]), reason=str(err))
        g = self._generator(index, 0)
        h, w = mask.shape
        geometry = [random_geometry(h, w, self.size, self.crop_scale, g) for _ in range(2)]
        points, labels, valid = sample_points(mask, overlap(*geometry), self.classes, self.n, g)
        image = pixels.permute(2, 0, 1)
        views = []
        for v, geo in enumerate(geometry):
            crop = geo.apply(image)
            out = self.photometric({"video": crop[None]}, self._generator(index, 1 + v))
            views.append({"video": out["video"], "mask": geo.apply(mask[None].to(torch.uint8), nearest=True)})
        return {
            "views": views,
            "video": views[0]["video"],
            "points": torch.stack([geo.to_view(points) for geo in geometry]),
            "point_class": labels,
            "point_valid": valid,
            "index": index,
        }
