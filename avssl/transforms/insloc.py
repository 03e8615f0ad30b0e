"""Instance-localization views (InsLoc) with robustness-oriented view design.

Yang, Wu, Liu, Hu, Lin & Tu, "Instance Localization for Self-supervised Detection Pretraining", CVPR 2021:
a crop of an image (the *instance*) is pasted at a random position and scale onto another image (the
background); the two views of an image paste two crops of it onto two different backgrounds, and the
contrastive loss compares RoIAlign features at the pasted boxes, so the representation has to find the
instance and say what it is, not what the whole picture looks like. Here the two views' source images are
views 0 and 1 of the data (each with its own photometric augmentation, same geometry), the backgrounds
views 0 and 1 of other images of the batch (two different donors).

Every switch of the view-design study on InsLoc is a field of `InsLocConfig`:

* `crop_scale` — crop percentage: the instance crop's area as a fraction of the image's (and `crop_ratio`);
* `min_iou` / `max_iou` — an IoU constraint between the two views' crops (image coordinates), drawn by
  rejection (`tries` draws, else the draw closest to the interval);
* `saliency_prior` — an object prior: crop centres drawn with probability ∝ the foreground mask (annotated
  or unsupervised saliency, `data.masks`), so crops hold the object rather than its surroundings;
* `blend: poisson` — Pérez, Gangnet & Blake, "Poisson Image Editing", SIGGRAPH 2003 (OpenCV's
  `seamlessClone`, normal cloning): no step edge at the paste's border to find the instance by;
* `texture_flatten` — the crop keeps only the gradients at its edges (OpenCV's `textureFlattening`, a
  Poisson reconstruction), so fine texture alone cannot match the views;
* `elastic` — Simard, Steinkraus & Platt, "Best Practices for Convolutional Neural Networks Applied to
  Visual Document Analysis", ICDAR 2003: a Gaussian-smoothed random displacement field warps the crop and
  its alpha together; the box is the warped alpha's extent.

`instance_views` returns the views, each instance's box (x0, y0, x1, y1 in pixels, x1/y1 exclusive, the
extent of its alpha) and its alpha mask, coherent with each other whatever the switches. Random draws come
from the `generator` given (None: torch's global RNG, which a resumed run restores); OpenCV's operations are
deterministic, and run on one thread (`avssl.transforms.functional.opencv`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import Tensor

from avssl.transforms.background import derangement, second_derangement
from avssl.transforms.functional.appearance import denormalize, renormalize
from avssl.transforms.functional.opencv import serial_cv2

BLENDS = ("paste", "poisson")


@dataclass
class InsLocConfig:
    """InsLoc's instance views (`enabled`) and the view-design switches (module docstring). `box_scale` /
    `box_ratio`: the pasted box's area as a fraction of the canvas and its aspect ratio (InsLoc pastes at a
    random scale and position); `box_jitter`: InsLoc's bounding-box augmentation of the query's RoI (each
    edge moved by up to this fraction of the box's size); `roi_size`: RoIAlign's output grid, pooled."""

    enabled: bool = False
    crop_scale: list[float] = field(default_factory=lambda: [0.2, 1.0])
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 4 / 3])
    min_iou: float = 0.0
    max_iou: float = 1.0
    tries: int = 20
    saliency_prior: bool = False
    box_scale: list[float] = field(default_factory=lambda: [0.15, 0.5])
    box_ratio: list[float] = field(default_factory=lambda: [0.5, 2.0])
    blend: str = "paste"
    texture_flatten: float = 0.0  # probability per view
    elastic: float = 0.0  # probability per view
    elastic_alpha: float = 0.08  # largest displacement, fraction of the box's shorter side
    elastic_sigma: float = 0.12  # smoothness of the field, fraction of the box's shorter side
    box_jitter: float = 0.0
    roi_size: int = 2

    def __post_init__(self):
        if self.blend not in BLENDS:
            raise ValueError(f"insloc.blend must be one of {BLENDS}, got {self.blend!r}")
        for name in ("crop_scale", "box_scale"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi <= 1.0:
                raise ValueError(f"insloc.{name} must be [lo, hi] with 0 < lo <= hi <= 1, got {[lo, hi]}")
        if not 0.0 <= self.min_iou <= self.max_iou <= 1.0:
            raise ValueError(
                f"insloc IoU constraint must satisfy 0 <= min_iou <= max_iou <= 1, got "
                f"{self.min_iou}, {self.max_iou}"
            )
        for name in ("texture_flatten", "elastic"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"insloc.{name} is a probability, got {getattr(self, name)}")


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of boxes (..., 4) (x0, y0, x1, y1) paired row by row → (...)."""
    w = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp_min(0)
    h = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp_min(0)
    inter = w * h
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp_min(1e-9)


def _uniform(lo_hi, generator) -> float:
    lo, hi = lo_hi
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def _box_shape(area: float, ratio_range, height: int, width: int, generator) -> tuple[int, int]:
    """(h, w) of a box of `area` pixels with a log-uniform aspect ratio (w / h), inside (height, width)."""
    log_ratio = _uniform([math.log(r) for r in ratio_range], generator)
    ratio = math.exp(log_ratio)
    w = min(width, max(1, round(math.sqrt(area * ratio))))
    h = min(height, max(1, round(math.sqrt(area / ratio))))
    return h, w


def sample_crop(
    height: int,
    width: int,
    scale,
    ratio,
    prior: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A crop box (4,) (x0, y0, x1, y1, integer pixels) of `scale` × the image's area; its centre uniform,
    or drawn ∝ `prior` (H, W) ≥ 0 (the object prior) when it has mass; the box kept inside the image."""
    h, w = _box_shape(_uniform(scale, generator) * height * width, ratio, height, width, generator)
    if prior is not None and float(prior.sum()) > 0:
        flat = prior.flatten().float()
        centre = int(torch.multinomial(flat / flat.sum(), 1, generator=generator))
        cy, cx = divmod(centre, width)
        y0 = min(max(cy - h // 2, 0), height - h)
        x0 = min(max(cx - w // 2, 0), width - w)
    else:
        y0 = int(torch.randint(height - h + 1, (), generator=generator))
        x0 = int(torch.randint(width - w + 1, (), generator=generator))
    return torch.tensor([x0, y0, x0 + w, y0 + h], dtype=torch.float32)


def crop_pair(
    height: int, width: int, cfg: InsLocConfig, prior: Tensor | None = None, generator=None
) -> tuple[Tensor, Tensor]:
    """Two crops whose IoU lies in [min_iou, max_iou] (rejection over `tries` draws of the second; if none
    qualifies, the draw closest to the interval)."""
    first = sample_crop(height, width, cfg.crop_scale, cfg.crop_ratio, prior, generator)
    best, best_miss = None, math.inf
    for _ in range(max(1, cfg.tries)):
        second = sample_crop(height, width, cfg.crop_scale, cfg.crop_ratio, prior, generator)
        iou = float(box_iou(first, second))
        miss = max(cfg.min_iou - iou, iou - cfg.max_iou, 0.0)
        if miss < best_miss:
            best, best_miss = second, miss
        if miss == 0.0:
            break
    return first, best


def elastic_warp(
    pixels: Tensor, alpha: Tensor, amplitude: float, sigma: float, generator=None
) -> tuple[Tensor, Tensor]:
    """(C, h, w) pixels and (h, w) alpha warped by one smooth random displacement field (Simard et al.):
    white noise per axis, Gaussian-smoothed (σ `sigma` pixels), scaled so its largest displacement is
    `amplitude` pixels. Alpha is resampled bilinearly with zero outside, then thresholded at 0.5."""
    c, h, w = pixels.shape
    noise = torch.rand(2, h, w, generator=generator) * 2 - 1
    k = max(3, int(4 * sigma) | 1)
    field = TF.gaussian_blur(noise[None], [k, k], [sigma, sigma])[0]
    field = field / field.abs().max().clamp_min(1e-9) * amplitude
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    gx = (xs + field[0]) / max(w - 1, 1) * 2 - 1
    gy = (ys + field[1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)[None].to(pixels.dtype)
    out = F.grid_sample(pixels[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0]
    warped = F.grid_sample(
        alpha[None, None].to(pixels.dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )[0, 0]
    return out, warped > 0.5


def _to_bgr(pixels: Tensor) -> np.ndarray:
    """[0, 1] (3, h, w) → uint8 BGR (h, w, 3), OpenCV's layout."""
    rgb = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(rgb[..., ::-1])


def _from_bgr(image: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1).float() / 255


def flatten_texture(pixels: Tensor, alpha: Tensor) -> Tensor:
    """[0, 1] (3, h, w): inside `alpha`, only the gradients at edges kept (OpenCV textureFlattening: Canny
    thresholds 30 / 45, kernel 3)."""
    cv2 = serial_cv2()
    mask = (alpha.numpy().astype(np.uint8)) * 255
    out = cv2.textureFlattening(_to_bgr(pixels), mask, low_threshold=30, high_threshold=45, kernel_size=3)
    return _from_bgr(out)


def poisson_paste(instance: Tensor, alpha: Tensor, canvas: Tensor, x0: int, y0: int) -> Tensor:
    """[0, 1] instance (3, h, w) with its alpha (h, w) seamlessly cloned (Poisson, normal cloning) into the
    canvas (3, H, W) at (x0, y0). Pixels outside the alpha keep the canvas's values; inside, the instance's
    gradients with the canvas's values at the border."""
    _, h, w = instance.shape
    _, height, width = canvas.shape
    # OpenCV clones the mask's bounding box (rw × rh) to center − (rw // 2, rh // 2) and needs a margin around
    # it: the instance and the canvas are padded by `pad` pixels (edge / reflection)
    pad = 2
    src = np.pad(_to_bgr(instance), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    mask = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    mask[pad : pad + h, pad : pad + w] = alpha.numpy().astype(np.uint8) * 255
    dst = np.pad(_to_bgr(canvas), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    ys, xs = np.nonzero(mask)
    # the mask's bounding box starts at (xs.min(), ys.min()) in the padded instance, which sits at
    # (x0, y0) in the padded canvas
    center = (
        x0 + int(xs.min()) + (int(xs.max() - xs.min()) + 1) // 2,
        y0 + int(ys.min()) + (int(ys.max() - ys.min()) + 1) // 2,
    )
    cv2 = serial_cv2()
    out = cv2.seamlessClone(src, dst, mask, center, cv2.NORMAL_CLONE)
    out = _from_bgr(out[pad : pad + height, pad : pad + width])
    region = torch.zeros(height, width, dtype=torch.bool)
    region[y0 : y0 + h, x0 : x0 + w] = alpha
    return torch.where(region, out, canvas)


def _paste_one(
    source: Tensor, crop: Tensor, canvas: Tensor, cfg: InsLocConfig, generator
) -> tuple[Tensor, Tensor, Tensor]:
    """One instance view: `crop` of `source` ([0, 1] (3, H, W)) resized into a random box of `canvas`,
    flipped half the time, optionally warped / flattened, pasted or cloned → (view, box (4,), alpha (H, W))."""
    _, height, width = canvas.shape
    x0c, y0c, x1c, y1c = (int(v) for v in crop)
    bh, bw = _box_shape(
        _uniform(cfg.box_scale, generator) * height * width, cfg.box_ratio, height, width, generator
    )
    instance = F.interpolate(
        source[None, :, y0c:y1c, x0c:x1c], size=(bh, bw), mode="bilinear", align_corners=False, antialias=True
    )[0].clamp(0, 1)
    if float(torch.rand((), generator=generator)) < 0.5:
        instance = instance.flip(-1)
    alpha = torch.ones(bh, bw, dtype=torch.bool)
    if float(torch.rand((), generator=generator)) < cfg.elastic:
        side = min(bh, bw)
        instance, alpha = elastic_warp(
            instance, alpha, cfg.elastic_alpha * side, max(1.0, cfg.elastic_sigma * side), generator
        )
        if not bool(alpha.any()):  # a warp that left nothing: paste the warped pixels' whole rectangle
            alpha = torch.ones(bh, bw, dtype=torch.bool)
    if float(torch.rand((), generator=generator)) < cfg.texture_flatten:
        instance = flatten_texture(instance, alpha)
    y0 = int(torch.randint(height - bh + 1, (), generator=generator))
    x0 = int(torch.randint(width - bw + 1, (), generator=generator))
    if cfg.blend == "poisson":
        view = poisson_paste(instance, alpha, canvas, x0, y0)
    else:
        view = canvas.clone()
        region = view[:, y0 : y0 + bh, x0 : x0 + bw]
        view[:, y0 : y0 + bh, x0 : x0 + bw] = torch.where(alpha, instance, region)
    full = torch.zeros(height, width, dtype=torch.bool)
    full[y0 : y0 + bh, x0 : x0 + bw] = alpha
    ys, xs = torch.nonzero(full, as_tuple=True)
    box = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
    return view, box, full


def instance_views(
    images: list[Tensor],
    cfg: InsLocConfig,
    masks: list[Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Two normalised views (B, C, H, W) of each image (same geometry) → (two instance views (B, C, H, W),
    their boxes 2 × (B, 4), their alphas 2 × (B, H, W) bool). `masks` 2 × (B, H, W): the object prior of
    `saliency_prior` (view 0's mask). A batch needs ≥ 2 images (backgrounds come from other images)."""
    if len(images) < 2 or images[0].shape != images[1].shape:
        raise ValueError(
            f"InsLoc needs two views of the same size per image, got {[tuple(x.shape) for x in images[:2]]}"
        )
    b, _, height, width = images[0].shape
    if b < 2:
        raise ValueError("InsLoc takes its backgrounds from other images of the batch: a batch needs ≥ 2")
    if cfg.saliency_prior and masks is None:
        raise ValueError(
            "insloc.saliency_prior needs foreground masks: set data.masks (annotations, saliency)"
        )
    device, dtype = images[0].device, images[0].dtype
    pixels = [denormalize(x.detach().float().cpu()) for x in images[:2]]
    first = derangement(b, generator)
    donors = [first, second_derangement(first, generator)]
    views = [torch.empty_like(pixels[0]) for _ in range(2)]
    boxes = [torch.empty(b, 4) for _ in range(2)]
    alphas = [torch.empty(b, height, width, dtype=torch.bool) for _ in range(2)]
    for i in range(b):
        prior = masks[0][i].reshape(height, width).cpu() if cfg.saliency_prior else None
        crops = crop_pair(height, width, cfg, prior, generator)
        for k in range(2):
            canvas = pixels[k][int(donors[k][i])]
            views[k][i], boxes[k][i], alphas[k][i] = _paste_one(
                pixels[k][i], crops[k], canvas, cfg, generator
            )
    out = [renormalize(v).to(device=device, dtype=dtype) for v in views]
    return out, [x.to(device) for x in boxes], [a.to(device) for a in alphas]


def jitter_boxes(boxes: Tensor, amount: float, height: int, width: int, generator=None) -> Tensor:
    """InsLoc's bounding-box augmentation: each edge of each box (B, 4) moved by U(−amount, amount) × the
    box's width / height, kept inside the image and ≥ 1 pixel wide."""
    if amount <= 0:
        return boxes
    size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, 1)
    shift = (torch.rand(boxes.shape, generator=generator) * 2 - 1).to(boxes.device) * amount * size
    out = boxes + shift
    limit = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    out = torch.minimum(out.clamp_min(0), limit)
    out[:, 2] = torch.maximum(out[:, 2], out[:, 0] + 1).clamp_max(width)
    out[:, 3] = torch.maximum(out[:, 3], out[:, 1] + 1).clamp_max(height)
    out[:, 0] = torch.minimum(out[:, 0], out[:, 2] - 1)
    out[:, 1] = torch.minimum(out[:, 1], out[:, 3] - 1)
    return out
