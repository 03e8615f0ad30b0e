"""Synthetic bi-temporal image pairs in the LEVIR-CD layout (Chen & Shi, "A Spatial-Temporal
Attention-Based Method and a New Dataset for Remote Sensing Image Change Detection", Remote Sensing 2020;
the reader is `avssl.data.datasets.change`):

    out/<split>/A/<split>_<i>.png      time 1, RGB
    out/<split>/B/<split>_<i>.png      time 2
    out/<split>/label/<split>_<i>.png  0 no change, 255 change (8-bit grayscale)
    out/<split>/semantic/A/<split>_<i>.png, semantic/B/…   the structures shown by each date: 255 on a
                                       structure's pixels, 0 elsewhere (building labels of both dates, as
                                       WHU provides; SaDL-CD's pretraining masks, `avssl.tasks.sadl`)
    out/synth_gt.json                  per pair: the structures, which appeared / disappeared, the nuisance

A pair shows one place twice. Both images share a terrain texture (smooth multi-octave noise in earthy /
green tones) and a set of *static* structures (buildings: rectangles with a roof colour and a darker edge;
blobs: ellipses such as ponds or tanks). Between A and B, `changes` structures appear (drawn only in B) or
disappear (drawn only in A); they are drawn on top of everything. The change label is the union of their
pixels — in A for a disappearing structure, in B for an appearing one.

Irrelevant changes, which must not be labelled (the label never depends on them): a global illumination /
colour shift of B (per-channel gain and offset: the season), a smooth low-frequency brightness field on B,
small Gaussian noise on both images, and optionally B misregistered by at most `max_shift` (≤ 1) pixel;
an appearing structure is labelled where it is drawn, i.e. with B's shift.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from avssl.data.media_writer import write_image


@dataclass(frozen=True)
class ChangeSynthSpec:
    """Image size; static structures and changed structures per pair (min, max); structure side range as
    fractions of the image; the nuisance strengths (gain spread, offset spread in 0..255 levels, noise σ in
    levels, smooth field amplitude) and the largest misregistration of B in pixels (0 or 1)."""

    size: int = 64
    static: tuple[int, int] = (1, 4)
    changes: tuple[int, int] = (0, 3)
    structure_size: tuple[float, float] = (0.12, 0.3)
    gain: float = 0.2
    offset: float = 20.0
    noise: float = 3.0
    field: float = 0.1
    max_shift: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        for name in ("static", "changes"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be 0 <= min <= max, got {(lo, hi)}")
        if not 0 < self.structure_size[0] <= self.structure_size[1] <= 0.6:
            raise ValueError(f"structure_size must be 0 < min <= max <= 0.6, got {self.structure_size}")
        if self.max_shift not in (0, 1):
            raise ValueError(f"max_shift must be 0 or 1 pixel, got {self.max_shift}")


def terrain(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth terrain texture (size, size, 3) float in 0..255: three octaves of bicubically upsampled
    noise mixing a soil colour and a vegetation colour."""
    weight = np.zeros((size, size), np.float32)
    for cells, amp in ((3, 0.6), (7, 0.3), (17, 0.1)):
        noise = rng.random((cells, cells)).astype(np.float32)
        up = Image.fromarray(noise, mode="F").resize((size, size), Image.BICUBIC)
        weight += amp * np.asarray(up, np.float32)
    weight = np.clip(weight, 0, 1)[..., None]
    soil = np.array([150, 120, 85], np.float32) + rng.normal(0, 15, 3)
    green = np.array([70, 120, 60], np.float32) + rng.normal(0, 15, 3)
    return soil * weight + green * (1 - weight)


def draw_structure(rng: np.random.Generator, spec: ChangeSynthSpec) -> dict:
    """A random structure: {"kind": "building" | "blob", "box": [x0, y0, x1, y1] (pixels, exclusive ends),
    "colour": roof / surface RGB}."""
    s = spec.size
    w, h = (int(round(rng.uniform(*spec.structure_size) * s)) for _ in range(2))
    w, h = max(3, w), max(3, h)
    x0, y0 = int(rng.integers(0, s - w + 1)), int(rng.integers(0, s - h + 1))
    kind = "building" if rng.random() < 0.7 else "blob"
    colour = rng.uniform(170, 250, 3) if kind == "building" else rng.uniform(20, 90, 3)
    if rng.random() < 0.4:  # red / blue roofs
        colour[int(rng.integers(0, 3))] = rng.uniform(20, 80)
    return {"kind": kind, "box": [x0, y0, x0 + w, y0 + h], "colour": [round(float(c), 1) for c in colour]}


def structure_mask(structure: dict, size: int, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The structure's pixels (size, size) bool, moved by `shift` (dx, dy) pixels."""
    x0, y0, x1, y1 = structure["box"]
    dx, dy = shift
    ys, xs = np.mgrid[0:size, 0:size]
    xs, ys = xs - dx, ys - dy
    if structure["kind"] == "building":
        return (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    cx, cy, rx, ry = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5, (x1 - x0) / 2, (y1 - y0) / 2
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0


def paint(image: np.ndarray, structure: dict, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """`image` (H, W, 3) float with the structure drawn (buildings get a darker 1-px edge: their shadow)."""
    mask = structure_mask(structure, image.shape[0], shift)
    out = image.copy()
    out[mask] = structure["colour"]
    if structure["kind"] == "building":
        inner = np.zeros_like(mask)
        inner[1:-1, 1:-1] = (
            mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
        )
        out[mask & ~inner] *= 0.6
    return out


def _dilated(mask: np.ndarray) -> np.ndarray:
    """`mask` grown by one pixel (8-neighbourhood)."""
    h, w = mask.shape
    padded = np.pad(mask, 1)
    return np.any(
        [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0
    )


def render_pair(
    spec: ChangeSynthSpec, seed: int, changes: int | None = None, nuisance: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """One pair: (A (H, W, 3) uint8, B (H, W, 3) uint8, change (H, W) bool, its record). `changes` overrides
    the drawn number of changed structures; `nuisance=False` leaves out every irrelevant change (the label
    is the same either way: it depends only on the structures)."""
    rng = np.random.default_rng(seed)
    s = spec.size
    base = terrain(rng, s)
    n_static = int(rng.integers(spec.static[0], spec.static[1] + 1))
    n_changed = int(rng.integers(spec.changes[0], spec.changes[1] + 1)) if changes is None else changes
    taken = np.zeros((s, s), bool)
    structures: list[dict] = []
    for k in range(n_static + n_changed):
        for _ in range(30):  # no two structures overlap (with a 1-px margin)
            st = draw_structure(rng, spec)
            if not (_dilated(structure_mask(st, s)) & taken).any():
                break
        st["change"] = "none" if k < n_static else ("appear" if rng.random() < 0.5 else "disappear")
        taken |= structure_mask(st, s)
        structures.append(st)
    # nuisance parameters are drawn whether or not they are applied, so `nuisance` changes nothing else
    gain = 1 + rng.uniform(-spec.gain, spec.gain, 3)
    offset = rng.uniform(-spec.offset, spec.offset, 3)
    field_cells = rng.random((3, 3)).astype(np.float32)
    shift = tuple(int(v) for v in rng.integers(-spec.max_shift, spec.max_shift + 1, 2))
    noise_a, noise_b = rng.normal(0, spec.noise, (2, s, s, 3))
    if not nuisance:
        shift = (0, 0)
    a, b = base.copy(), _shifted(base, shift)
    label = np.zeros((s, s), bool)
    for st in structures:
        if st["change"] in ("none", "disappear"):
            a = paint(a, st)
        if st["change"] in ("none", "appear"):
            b = paint(b, st, shift)
    for st in structures:
        if st["change"] == "disappear":
            label |= structure_mask(st, s)
        elif st["change"] == "appear":
            label |= structure_mask(st, s, shift)
    record = {"structures": structures, "shift": list(shift), "gain": gain.round(4).tolist()}
    record["offset"] = offset.round(2).tolist()
    if nuisance:
        up = Image.fromarray(field_cells, mode="F").resize((s, s), Image.BICUBIC)
        smooth = 1 + spec.field * (2 * np.asarray(up, np.float32) - 1)
        b = b * gain * smooth[..., None] + offset
        a, b = a + noise_a, b + noise_b
    else:
        record = {**record, "gain": [1.0] * 3, "offset": [0.0] * 3}
    return _u8(a), _u8(b), label, record


def semantic_masks(record: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The structures each date of a pair shows, from its record: (A's, B's) (size, size) bool — A: the
    static and disappearing ones, B: the static and appearing ones, moved by B's shift."""
    shift = tuple(record["shift"])
    mask_a, mask_b = np.zeros((size, size), bool), np.zeros((size, size), bool)
    for st in record["structures"]:
        if st["change"] in ("none", "disappear"):
            mask_a |= structure_mask(st, size)
        if st["change"] in ("none", "appear"):
            mask_b |= structure_mask(st, size, shift)
    return mask_a, mask_b


def _shifted(image: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """`image` moved by (dx, dy) pixels, the uncovered border repeated from the edge."""
    dx, dy = shift
    h, w = image.shape[:2]
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return padded[1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]


def _u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def write_change_detection(
    out: str | Path, n_per_split: dict[str, int], spec: ChangeSynthSpec | None = None
) -> Path:
    """Write `n_per_split` pairs per split ({"train": 48, "val": 8, "test": 16}) in the LEVIR-CD layout under
    `out`, with `synth_gt.json` and each date's semantic masks (`semantic/A`, `semantic/B`). Returns `out`."""
    out = Path(out)
    spec = spec or ChangeSynthSpec()
    items = {}
    for s, (split, n) in enumerate(sorted(n_per_split.items())):
        for i in range(n):
            a, b, label, record = render_pair(spec, spec.seed * 1_000_003 + s * 100_003 + i)
            name = f"{split}_{i + 1}.png"
            write_image(out / split / "A" / name, a)
            write_image(out / split / "B" / name, b)
            write_image(out / split / "label" / name, label.astype(np.uint8) * 255)
            for date, mask in zip("AB", semantic_masks(record, spec.size)):
                write_image(out / split / "semantic" / date / name, mask.astype(np.uint8) * 255)
            items[f"{split}/{name}"] = {**record, "changed_pixels": int(label.sum())}
    meta = {"layout": "levir-cd", "spec": asdict(spec)}
    (out / "synth_gt.json").write_text(json.dumps({**meta, "items": items}))
    return out
