"""Appearance-shift and context-shift robustness of still-image features: how much of a frozen
representation's accuracy survives a changed look of the object, or a changed context around it.

**Appearance shift** — the object and its context unchanged, their look changed. Corruptions in the style of
Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations"
(ICLR 2019, ImageNet-C), in our own simple versions (severity 1–5, pixel values in [0, 1] through
`denormalize` / `renormalize`):

* `colour`  — hue rotated about the grey axis, saturation and brightness scaled (each by a random sign);
* `texture` — the texture replaced: flattened by a median filter (edge-preserving: regions larger than
  its window keep their colours and edges, every finer pattern goes), then a new texture of i.i.d.
  Gaussian grain;
* `fog`     — contrast lowered, then a haze blend towards a bright, smooth random field (octaves of
  bicubically upsampled noise, a stand-in for ImageNet-C's plasma fractal);
* `snow`    — whitened, then short bright flakes drawn along one wind direction per image;
* `rain`    — darkened, then long thin translucent streaks, near vertical.

**Context shift** — the object unchanged, its context changed (what instance-localization pretraining
trains for: Yang et al., "Instance Localization for Self-supervised Detection Pretraining", CVPR 2021,
InsLoc, pastes foregrounds at random positions and scales onto other backgrounds). With the foreground
masks:

* `moved`          — the image's foreground cut out (its mask's bounding box) and pasted at a random
  position and scale onto its own *background plate* (the image with its foreground filled in from its
  background, `avssl.transforms.image_backgrounds.background_plates`);
* `out_of_context` — the same on the plate of a random test image of *another* class.

The box is resampled by nearest neighbour (source row ⌊(2i + 1)·h₀ / 2h⌋, exact integer arithmetic; the
same for its pixels and its mask), so every pasted foreground pixel is one of the source foreground's pixels
and the pasted mask is exactly where they are; outside it, the plate. The scale is log-uniform in
`SCALE_RANGE` (capped where the box would not fit) and the position uniform where it fits, redrawn up to 10
times while the new box overlaps the old one by IoU > 0.5.

Every draw comes from a stream of `seed` and the image's index in the evaluated set (`start` + its row), so
a chunk gives the rows of the whole set and a comparison of two models sees the same variants. The
classifier (linear probe and kNN) is fit on the original training features and scores every variant
(`avssl.evaluation.background.robustness_scores`); the **drop** per probe is the original top-1 − the mean
top-1 of the appearance variants, and of the context variants (`shift_drops`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from avssl.evaluation.background import pick_one, robustness_scores
from avssl.transforms.functional.appearance import denormalize, renormalize
from avssl.transforms.functional.opencv import serial_cv2
from avssl.transforms.image_backgrounds import background_plates

APPEARANCE = ("colour", "texture", "fog", "snow", "rain")
CONTEXT = ("moved", "out_of_context")
SHIFTS = ("original", *APPEARANCE, *CONTEXT)
SCALE_RANGE = (0.6, 1.4)
_STREAMS = {name: k + 1 for k, name in enumerate(APPEARANCE + CONTEXT)}


def _rng(seed: int, stream: str, index: int) -> np.random.Generator:
    """The random stream of one image of one variant."""
    return np.random.default_rng([seed, _STREAMS[stream], index])


def _level(severity: int, values: tuple[float, ...]) -> float:
    if not (isinstance(severity, int) and 1 <= severity <= len(values)):
        raise ValueError(f"severity must be an integer in [1, {len(values)}], got {severity!r}")
    return values[severity - 1]


def _per_image(
    images: Tensor, seed: int, start: int, stream: str, fn: Callable[[Tensor, np.random.Generator], Tensor]
) -> Tensor:
    """Normalised (B, 3, H, W) → `fn` on each image's [0, 1] pixels (3, H, W) with its stream → normalised."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected normalised RGB images (B, 3, H, W), got {tuple(images.shape)}")
    pixels = denormalize(images.detach().float().cpu())
    out = [fn(pixels[i], _rng(seed, stream, start + i)).clamp(0.0, 1.0) for i in range(images.shape[0])]
    return renormalize(torch.stack(out)).to(images.device, images.dtype)


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _hue_matrix(degrees: float) -> Tensor:
    """Rotation of RGB about the grey axis (1, 1, 1)/√3 (Rodrigues): greys stay grey."""
    t = math.radians(degrees)
    k = torch.full((3,), 1.0 / math.sqrt(3.0))
    cross = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return math.cos(t) * torch.eye(3) + math.sin(t) * cross + (1 - math.cos(t)) * torch.outer(k, k)


def colour(images: Tensor, severity: int = 3, seed: int = 0, start: int = 0) -> Tensor:
    """Hue rotated by ±(0.75–1) × 30°·severity, saturation (distance from the grey of each pixel) and
    brightness scaled by (1 + 0.15·severity)^±1 and (1 + 0.1·severity)^±1, signs random per image.
    Normalised (B, 3, H, W) → the same; row i draws from the stream (seed, start + i)."""
    _level(severity, (1, 2, 3, 4, 5))

    def one(x: Tensor, rng: np.random.Generator) -> Tensor:
        angle = _sign(rng) * rng.uniform(0.75, 1.0) * 30.0 * severity
        saturation = (1 + 0.15 * severity) ** _sign(rng)
        brightness = (1 + 0.1 * severity) ** _sign(rng)
        x = torch.einsum("ij,jhw->ihw", _hue_matrix(angle), x)
        grey = x.mean(0, keepdim=True)
        return (grey + saturation * (x - grey)) * brightness

    return _per_image(images, seed, start, "colour", one)


def texture(images: Tensor, severity: int = 3, seed: int = 0, start: int = 0) -> Tensor:
    """The texture replaced: a median filter of side 3–11 % of the image side by severity (`cv2.medianBlur`,
    odd, ≥ 3) removes every texture finer than it (stripes, grain, the object's own pattern) and keeps the
    regions larger than it and their edges — the object's shape, its colours and its context; i.i.d.
    Gaussian grain (std 0.02–0.1 in pixel units) is the new texture. Normalised (B, 3, H, W) → the same; row
    i draws from the stream (seed, start + i)."""
    cv2 = serial_cv2()

    fraction = _level(severity, (0.03, 0.05, 0.07, 0.09, 0.11))
    grain = _level(severity, (0.02, 0.04, 0.06, 0.08, 0.1))

    def one(x: Tensor, rng: np.random.Generator) -> Tensor:
        pixels = (x.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        k = max(3, round(fraction * min(pixels.shape[:2])) | 1)
        flat = torch.from_numpy(cv2.medianBlur(pixels, k).astype(np.float32) / 255.0).permute(2, 0, 1)
        return flat + torch.from_numpy(rng.normal(0.0, grain, flat.shape).astype(np.float32))

    return _per_image(images, seed, start, "texture", one)


def smooth_field(h: int, w: int, rng: np.random.Generator, octaves: int = 4) -> Tensor:
    """A smooth random field (h, w) in [0, 1]: octaves of uniform noise on (2^(k+1) + 1)² grids, upsampled
    bicubically, weighted 0.5^k, rescaled to its range."""
    field = torch.zeros(1, 1, h, w)
    for k in range(octaves):
        n = 2 ** (k + 1) + 1
        noise = torch.from_numpy(rng.random((1, 1, n, n)).astype(np.float32))
        field += 0.5**k * F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=True)
    field = field[0, 0]
    return (field - field.min()) / (field.max() - field.min()).clamp_min(1e-6)


def fog(images: Tensor, severity: int = 3, seed: int = 0, start: int = 0) -> Tensor:
    """Contrast towards the image's mean lowered to 0.8–0.4 by severity, then blended with weight 0.25–0.65
    towards a bright haze 0.6 + 0.4 × `smooth_field`. Normalised (B, 3, H, W) → the same; row i draws from
    the stream (seed, start + i)."""
    contrast = _level(severity, (0.8, 0.7, 0.6, 0.5, 0.4))
    weight = _level(severity, (0.25, 0.35, 0.45, 0.55, 0.65))

    def one(x: Tensor, rng: np.random.Generator) -> Tensor:
        mean = x.mean((1, 2), keepdim=True)
        haze = 0.6 + 0.4 * smooth_field(x.shape[1], x.shape[2], rng)
        return (1 - weight) * (mean + contrast * (x - mean)) + weight * haze

    return _per_image(images, seed, start, "fog", one)


def streaks(
    h: int,
    w: int,
    count: int,
    length: tuple[float, float],
    angle: float,
    jitter: float,
    rng: np.random.Generator,
    thickness: int = 1,
) -> Tensor:
    """A layer (h, w) in [0, 1] of `count` anti-aliased line segments: random centres, lengths uniform in
    `length` (pixels), directions `angle` ± `jitter` degrees from the vertical, intensities in [0.7, 1]."""
    cv2 = serial_cv2()

    layer = np.zeros((h, w), np.uint8)
    for _ in range(count):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        half = rng.uniform(*length) / 2
        t = math.radians(angle + rng.uniform(-jitter, jitter))
        dy, dx = half * math.cos(t), half * math.sin(t)
        value = int(255 * rng.uniform(0.7, 1.0))
        p0, p1 = (round(cx - dx), round(cy - dy)), (round(cx + dx), round(cy + dy))
        cv2.line(layer, p0, p1, value, thickness, cv2.LINE_AA)
    return torch.from_numpy(layer.astype(np.float32) / 255.0)


def snow(images: Tensor, severity: int = 3, seed: int = 0, start: int = 0) -> Tensor:
    """Whitened (blend 0.1–0.3 towards max(x, 1.5·grey + 0.5), as ImageNet-C's snow), then bright flakes:
    0.4–2 % of the pixels' count of short streaks (up to 3 % of the side) along one wind direction per
    image (±40° from the vertical, ±10° per flake). Normalised (B, 3, H, W) → the same; row i draws from
    the stream (seed, start + i)."""
    whiten = _level(severity, (0.1, 0.15, 0.2, 0.25, 0.3))
    density = _level(severity, (0.004, 0.008, 0.012, 0.016, 0.02))

    def one(x: Tensor, rng: np.random.Generator) -> Tensor:
        h, w = x.shape[1:]
        grey = x.mean(0, keepdim=True)
        x = (1 - whiten) * x + whiten * torch.maximum(x, 1.5 * grey + 0.5)
        side = min(h, w)
        wind = rng.uniform(-40.0, 40.0)
        count = max(1, round(density * h * w))
        flakes = streaks(h, w, count, (1.0, max(1.5, 0.03 * side)), wind, 10.0, rng)
        return torch.maximum(x, flakes[None])

    return _per_image(images, seed, start, "snow", one)


def rain(images: Tensor, severity: int = 3, seed: int = 0, start: int = 0) -> Tensor:
    """Darkened to 0.95–0.75 by severity, then translucent (alpha 0.5) pale-blue streaks: 0.3–1.5 % of the
    pixels' count of lines 10–25 % of the side long, ±15° from the vertical (±3° per streak). Normalised
    (B, 3, H, W) → the same; row i draws from the stream (seed, start + i)."""
    dark = _level(severity, (0.95, 0.9, 0.85, 0.8, 0.75))
    density = _level(severity, (0.003, 0.006, 0.009, 0.012, 0.015))

    def one(x: Tensor, rng: np.random.Generator) -> Tensor:
        h, w = x.shape[1:]
        side = min(h, w)
        count = max(1, round(density * h * w))
        drops = streaks(h, w, count, (0.1 * side, 0.25 * side), rng.uniform(-15.0, 15.0), 3.0, rng)
        alpha = 0.5 * drops[None]
        tint = torch.tensor([0.8, 0.85, 0.95]).view(3, 1, 1)
        return (1 - alpha) * dark * x + alpha * tint

    return _per_image(images, seed, start, "rain", one)


CORRUPTIONS: dict[str, Callable[..., Tensor]] = {
    "colour": colour,
    "texture": texture,
    "fog": fog,
    "snow": snow,
    "rain": rain,
}


def _masks_bool(images: Tensor, masks: Tensor) -> Tensor:
    if masks.dim() == 4:
        masks = masks[:, 0]
    if images.dim() != 4 or masks.shape != (images.shape[0], *images.shape[-2:]):
        raise ValueError(
            f"expected images (B, C, H, W) and masks (B, H, W), got {tuple(images.shape)}, {tuple(masks.shape)}"
        )
    return masks > 0


def _resample_index(size: int, out: int) -> Tensor:
    """Nearest-neighbour source indices of `out` samples of `size`: ⌊(2i + 1)·size / 2·out⌋ (exact)."""
    return (((2 * torch.arange(out) + 1) * size) // (2 * out)).clamp_max(size - 1)


def _placement(box: tuple[int, int, int, int], h: int, w: int, rng: np.random.Generator):
    """(top, left, height, width) of the pasted box: log-uniform scale in SCALE_RANGE capped to fit, position
    uniform, redrawn (up to 10 times) while its IoU with `box` exceeds 0.5."""
    y0, x0, y1, x1 = box
    bh, bw = y1 - y0, x1 - x0
    for _ in range(10):
        scale = math.exp(rng.uniform(math.log(SCALE_RANGE[0]), math.log(SCALE_RANGE[1])))
        scale = min(scale, h / bh, w / bw)
        nh, nw = max(1, min(h, round(bh * scale))), max(1, min(w, round(bw * scale)))
        top, left = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
        iy = max(0, min(y1, top + nh) - max(y0, top))
        ix = max(0, min(x1, left + nw) - max(x0, left))
        inter = iy * ix
        if inter / (bh * bw + nh * nw - inter) <= 0.5:
            break
    return top, left, nh, nw


def paste_foregrounds(
    images: Tensor,
    masks: Tensor,
    plates: Tensor,
    seed: int = 0,
    start: int = 0,
    stream: str = "moved",
) -> tuple[Tensor, Tensor]:
    """Each image's foreground (the bounding box of its mask (B, H, W), resampled by nearest neighbour) at a
    random scale and position over `plates` (B, C, H, W) → (images, the pasted masks (B, H, W), the masks'
    dtype). Pixels under the pasted mask are source foreground pixels; the others are the plate's. An image
    without foreground gives its plate. Row i draws from the stream (seed, `stream`, start + i)."""
    fg = _masks_bool(images, masks)
    h, w = images.shape[-2:]
    out, pasted = plates.clone(), torch.zeros_like(fg)
    for i in range(images.shape[0]):
        ys, xs = fg[i].nonzero(as_tuple=True)
        if ys.numel() == 0:
            continue
        box = (int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1)
        top, left, nh, nw = _placement(box, h, w, _rng(seed, stream, start + i))
        rows = box[0] + _resample_index(box[2] - box[0], nh)
        cols = box[1] + _resample_index(box[3] - box[1], nw)
        m = fg[i][rows][:, cols]
        region = out[i, :, top : top + nh, left : left + nw]
        out[i, :, top : top + nh, left : left + nw] = torch.where(m, images[i][:, rows][:, :, cols], region)
        pasted[i, top : top + nh, left : left + nw] = m
    return out, pasted.to(masks.dtype)


def other_class_donors(labels: Tensor, seed: int = 0) -> Tensor:
    """(N,) index of a random image of another class for each image (another image of any class when all
    share one; itself when it is alone)."""
    idx = torch.arange(labels.shape[0])
    pools = []
    for i in range(labels.shape[0]):
        pool = idx[labels != labels[i]]
        if len(pool) == 0:
            pool = idx[idx != i] if len(idx) > 1 else idx[i : i + 1]
        pools.append(pool)
    return pick_one(pools, torch.Generator().manual_seed(seed)) if pools else idx


def moved(images: Tensor, masks: Tensor, seed: int = 0, start: int = 0) -> tuple[Tensor, Tensor]:
    """The context variant `moved`: each foreground at a random scale and position on its own plate →
    (images, pasted masks)."""
    return paste_foregrounds(images, masks, background_plates(images, masks), seed, start, "moved")


def out_of_context(images: Tensor, masks: Tensor, labels: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
    """The context variant `out_of_context`: each foreground at a random scale and position on the plate of
    an image of another class (`other_class_donors`) → (images, pasted masks)."""
    plates = background_plates(images, masks)[other_class_donors(labels, seed)]
    return paste_foregrounds(images, masks, plates, seed, 0, "out_of_context")


def iter_shift_variants(
    images: Tensor,
    masks: Tensor,
    labels: Tensor,
    seed: int = 0,
    chunk: int = 64,
    severity: int = 3,
) -> Iterator[tuple[str, Tensor]]:
    """(variant, (n, C, H, W)) chunks of every variant in `SHIFTS` order (`original` first), rows in image
    order: memory for the images, their plates and one chunk. Normalised images (N, C, H, W), foreground
    masks (N, H, W), labels (N,)."""
    plates = donors = None
    for name in SHIFTS:
        for begin in range(0, images.shape[0], chunk):
            rows = slice(begin, begin + chunk)
            x, m = images[rows], masks[rows]
            if name == "original":
                yield name, x
            elif name in CORRUPTIONS:
                yield name, CORRUPTIONS[name](x, severity, seed, begin)
            else:
                if plates is None:
                    plates, donors = background_plates(images, masks), other_class_donors(labels, seed)
                own = plates[rows] if name == "moved" else plates[donors[rows]]
                yield name, paste_foregrounds(x, m, own, seed, begin, name)[0]


def shift_variants(
    images: Tensor, masks: Tensor, labels: Tensor, seed: int = 0, severity: int = 3
) -> dict[str, Tensor]:
    """Normalised images (N, C, H, W), foreground masks (N, H, W), labels (N,) → {variant: (N, C, H, W)}."""
    out: dict[str, list[Tensor]] = {}
    for name, x in iter_shift_variants(images, masks, labels, seed, max(1, images.shape[0]), severity):
        out.setdefault(name, []).append(x)
    return {name: torch.cat(parts) for name, parts in out.items()}


def shift_drops(report: dict) -> dict[str, dict[str, float]]:
    """{probe kind: {"appearance", "context"}}: original top-1 − the mean top-1 of that group's variants
    present in `report` ({"linear": {variant: top-1}, "knn": …}); a group without a variant is left out."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("linear", "knn"):
        if kind not in report:
            continue
        top1 = report[kind]
        out[kind] = {}
        for group, names in (("appearance", APPEARANCE), ("context", CONTEXT)):
            present = [top1[n] for n in names if n in top1]
            if present:
                out[kind][group] = top1["original"] - sum(present) / len(present)
    return out


def shift_scores(
    train: Tensor,
    train_labels: Tensor,
    variants: dict[str, Tensor],
    test_labels: Tensor,
    num_classes: int,
) -> dict:
    """Features of the original training images and of each test variant → {"linear": {variant: top-1},
    "knn": {…}, "drop": `shift_drops`, "num_train", "num_test"} (percent; `robustness_scores`)."""
    report = robustness_scores(train, train_labels, variants, test_labels, num_classes)
    report["drop"] = shift_drops(report)
    return report
