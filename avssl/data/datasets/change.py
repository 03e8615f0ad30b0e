"""Bi-temporal change-detection sets as downloaded: LEVIR-CD (Chen & Shi, "A Spatial-Temporal
Attention-Based Method and a New Dataset for Remote Sensing Image Change Detection", Remote Sensing 2020)
and WHU-CD, the change set of the WHU building data (Ji, Wei & Lu, "Fully Convolutional Networks for
Multisource Building Extraction From an Open Aerial and Satellite Imagery Data Set", IEEE TGRS 2019):

    ROOT/<split>/A/<name>.png        the image at time 1 (RGB)
    ROOT/<split>/B/<name>.png        the same place at time 2, same file name, same size
    ROOT/<split>/label/<name>.png    the binary change mask: 0 no change, 255 change (0 / 1 accepted)

Splits are `train`, `val` and `test`. A pair is matched by file name; the A/ folder lists the pairs. Every bad
input is one `AnnotationError` naming the file: an A/ image without its B/ (or label/) image (checked when
the dataset is built), images or label of different sizes, a label holding values other than 0 / 255 (or
0 / 1), an unreadable file. `ChangeDetectionDataset` in `mode="train"` does not raise on a bad pair: it
counts it and loads a stand-in (`avssl.data.datasets.base.replace_bad`), like every training dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import DATA_ERRORS, BadItem, replace_bad

CHANGE_LAYOUTS = ("levir-cd", "whu-cd")  # the same on-disk layout
CHANGE_SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class ChangePair:
    """One pair of a split: its file name and the three files (A, B, label)."""

    name: str
    a: Path
    b: Path
    label: Path


def is_change_root(path: str | os.PathLike) -> bool:
    """Whether `path` holds at least one `<split>/A/` folder of a change-detection layout."""
    return bool(str(path)) and any((Path(path) / s / "A").is_dir() for s in CHANGE_SPLITS)


def change_pairs(root: str | os.PathLike, split: str) -> list[ChangePair]:
    """The pairs of `ROOT/<split>/` sorted by name. Errors (AnnotationError): no `<split>/A/` folder, no
    images in it, an A/ image without its B/ or label/ image (the first missing file named, with the count)."""
    base = Path(root) / split
    a_dir = base / "A"
    if not a_dir.is_dir():
        raise AnnotationError(
            a_dir, f"no {split!r} split here (expected {split}/A, {split}/B, {split}/label)"
        )
    names = sorted(p.name for p in a_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise AnnotationError(a_dir, "holds no images")
    pairs = [ChangePair(n, a_dir / n, base / "B" / n, base / "label" / n) for n in names]
    missing = [(p, f) for p in pairs for f in (p.b, p.label) if not f.is_file()]
    if missing:
        pair, path = missing[0]
        raise AnnotationError(
            path, f"missing: the pair of {pair.a} ({len(missing)} B/ or label/ files missing in {split})"
        )
    return pairs


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image as RGB uint8 (H, W, 3); unreadable: AnnotationError naming it."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise AnnotationError(path, f"not a readable image ({err})") from None


def read_change_label(path: str | os.PathLike) -> np.ndarray:
    """A change label as a bool mask (H, W): 255 (or 1) change, 0 no change. A grayscale, palette or 1-bit
    PNG, or RGB with equal channels. Errors: unreadable, RGB channels that differ, values other than 0 / 255
    or 0 / 1 (the values found are named)."""
    try:
        with Image.open(path) as img:
            mode = img.mode
            values = np.asarray(img.convert("L") if mode == "1" else img).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise AnnotationError(path, f"not a readable label image ({err})") from None
    if values.ndim == 3:
        if not (values == values[..., :1]).all():
            raise AnnotationError(path, f"label is a colour image (mode {mode}); expected a 0/255 mask")
        values = values[..., 0]
    found = set(np.unique(values).tolist())
    if not (found <= {0, 255} or found <= {0, 1}):
        shown = sorted(found)[:8]
        raise AnnotationError(path, f"label values {shown} are not a binary change mask (0/255 or 0/1)")
    return values > 0


def read_pair(pair: ChangePair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A (H, W, 3) uint8, B (H, W, 3) uint8, change (H, W) bool); sizes must agree (else AnnotationError
    naming the file that differs from A)."""
    a, b, label = read_rgb(pair.a), read_rgb(pair.b), read_change_label(pair.label)
    for path, shape in ((pair.b, b.shape[:2]), (pair.label, label.shape)):
        if shape != a.shape[:2]:
            raise AnnotationError(
                path, f"is {shape[1]}x{shape[0]} but its A image {pair.a.name} is {a.shape[1]}x{a.shape[0]}"
            )
    return a, b, label


class ChangeDetectionDataset(Dataset):
    """The pairs of one split. `dataset[i]` → {"image_a", "image_b": uint8 (3, H, W), "label": bool (H, W),
    "index", "name"}; `pair(i)` the same as numpy arrays. In `mode="train"` a bad pair becomes a counted stand-in
    (`replace_bad`: drawn from (seed, epoch, index), the bad pair under "replaced"); in `mode="eval"` it
    raises (an evaluation must not score fewer pairs silently)."""

    accepts_epoch_keys = True

    def __init__(
        self, root: str | os.PathLike, split: str, mode: Literal["train", "eval"] = "eval", seed: int = 0
    ):
        self.root, self.split, self.mode, self.seed, self.epoch = Path(root), split, mode, seed, 0
        self.pairs = change_pairs(root, split)
        self.bad: list[BadItem] = []

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A, B, change) of pair `index` (`read_pair`); raises on bad input in any mode."""
        return read_pair(self.pairs[index])

    def _load(self, index: int) -> dict | BadItem:
        try:
            a, b, label = self.pair(index)
        except DATA_ERRORS as err:
            if self.mode != "train":
                raise
            bad = BadItem(index=index, path=str(getattr(err, "path", self.pairs[index].a)), reason=str(err))
            self.bad.append(bad)
            return bad
        return {
            "image_a": torch.from_numpy(a).permute(2, 0, 1).contiguous(),
            "image_b": torch.from_numpy(b).permute(2, 0, 1).contiguous(),
            "label": torch.from_numpy(label),
            "index": index,
            "name": self.pairs[index].name,
        }

    def __getitem__(self, key: int | tuple[int, int]) -> dict | BadItem:
        if isinstance(key, tuple):
            key, self.epoch = key
        return replace_bad(self._load, int(key), len(self.pairs), self.seed, self.epoch)
