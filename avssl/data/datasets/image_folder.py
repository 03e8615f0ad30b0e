"""ImageFolder layout (torchvision's): `root/<class>/**/<image>` — for the image variant of multi-SSL.

    root/train/dog/img_0001.jpg      a split folder per split (`root/<split>/<class>/…`), or
    root/dog/img_0001.jpg            the classes directly under root (split None)

Class index = position of the class folder in sorted order. An annotated tree (`avssl synth --layout
imagefolder` writes one) also holds `root/masks/<split>/<class>/<image>.png` (uint8 instance masks, 0 =
background) and `root/annotations/<split>.json` (boxes per object, `read_image_annotations`); with a
`mask_fn` each image's foreground mask (1, H, W) goes through the view transforms with it
(`views[k]["mask"]`). `ImageViewsDataset` returns `views`: the image under one transform per view — the same pipeline twice (MoCo / DenseCL pairs), asymmetric pipelines
(BYOL) or multi-crop (2 global + N local views of another size, SwAV) — each view a one-frame clip,
`views[k]["video"]` (B, 3, 1, H_k, W_k) after collate (per view: views of different sizes are not stacked
together), plus `video` = the first view, `label` and `index`. Augmentations depend on (seed, epoch, index,
view) only, so a resumed run sees the same views; `dataset[(index, epoch)]` keys let the training loop keep
its workers for the whole run. In training mode (`skip_bad`) an unreadable image is replaced by a stand-in
and counted as bad (`replace_bad`); otherwise its error names the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

from avssl.data.annotations import AnnotationError
from avssl.data.datasets.base import DATA_ERRORS, BadItem, replace_bad
from avssl.data.decoding.images import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


MASKS_DIR, ANNOTATIONS_DIR = "masks", "annotations"


def read_image_annotations(root: str | Path, split: str | None) -> dict[str, dict]:
    """{"<class>/<file>": {"label", "objects": [{"class", "box": [x0, y0, x1, y1] pixels}], …}} from
    `root/annotations/<split>.json` (`{"classes": [...], "items": {...}}`; split None: `all.json`), every
    box checked; the errors name the file and the item."""
    path = Path(root) / ANNOTATIONS_DIR / f"{split or 'all'}.json"
    if not path.is_file():
        raise AnnotationError(path, "no box annotations (annotations/<split>.json) for this image folder")
    try:
        items = json.loads(path.read_text())["items"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise AnnotationError(path, f"not an annotation file with an 'items' object ({err})") from None
    for rel, ann in items.items():
        objects = ann.get("objects") if isinstance(ann, dict) else None
        if not isinstance(objects, list):
            raise AnnotationError(path, f"item {rel!r}: no 'objects' list")
        for obj in objects:
            box = obj.get("box") if isinstance(obj, dict) else None
            if not (isinstance(box, list) and len(box) == 4 and box[0] < box[2] and box[1] < box[3]):
                raise AnnotationError(
                    path, f"item {rel!r}: box {box!r} is not [x0, y0, x1, y1] with x0<x1, y0<y1"
                )
    return items


def image_folder_items(root: str | Path, split: str | None = None) -> tuple[list[tuple[str, int]], list[str]]:
    """([(path, class index)], class names) of every image under `root[/split]`, sorted."""
    folder = Path(root) / split if split else Path(root)
    if not folder.is_dir():
        raise AnnotationError(folder, "image folder not found")
    # without split folders, the sidecar folders of an annotated tree are not classes
    sidecars = (
        {MASKS_DIR, ANNOTATIONS_DIR} if split is None and (folder / ANNOTATIONS_DIR).is_dir() else set()
    )
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in sidecars)
    items = [
        (str(p), k)
        for k, name in enumerate(classes)
        for p in sorted((folder / name).rglob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    ]
    if not items:
        raise AnnotationError(folder, f"no images ({', '.join(IMAGE_SUFFIXES)}) in class folders")
    return items, classes


class EpochItems(Dataset):
    """The item protocol of the image datasets: `len(items)` items, `dataset[(index, epoch)]` keys (the
    training loop keeps its workers and passes the epoch with the index), `set_epoch`, and in training mode
    (`skip_bad`) a bad item replaced by a stand-in (`replace_bad`). Subclasses set `items`, `seed`,
    `skip_bad`, `epoch` and define `_load(index) -> dict | BadItem`."""

    items: list
    seed: int = 0
    skip_bad: bool = False
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _load(self, index: int) -> dict | BadItem:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __getitem__(self, key: int | tuple[int, int]) -> dict | BadItem:
        if isinstance(key, tuple):
            key, self.epoch = key
        if not self.skip_bad:
            return self._load(int(key))
        return replace_bad(self._load, int(key), len(self.items), self.seed, self.epoch)


class ImageViewsDataset(EpochItems):
    """Images → {"views": [{"video": (3, 1, H_k, W_k), "geometry": …}] (view k through `transforms[k]`),
    "video": first view, "label", "index"}."""

    accepts_epoch_keys = True

    def __init__(
        self,
        items: list[tuple[str, int]],
        transforms: list,
        seed: int = 0,
        skip_bad: bool = False,
        mask_fn: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
    ):
        if not transforms:
            raise ValueError("an image views dataset needs one transform per view (at least one)")
        self.items, self.transforms, self.seed = items, list(transforms), seed
        self.mask_fn = mask_fn
        self.skip_bad = skip_bad
        self.epoch = 0

    def _load(self, index: int) -> dict | BadItem:
        path, label = self.items[index]
        try:
            pixels = read_image(path)  # (H, W, 3) uint8
            sample = {"video": pixels.permute(2, 0, 1)[None]}  # (1, 3, H, W): a one-frame clip
            if self.mask_fn is not None:  # foreground (1, H, W), cropped / flipped with each view
                sample["mask"] = self.mask_fn(path, pixels)[None]
        except DATA_ERRORS as err:
            if not self.skip_bad:
                raise
            return BadItem(index=index, path=str(path), reason=str(err))
        views = []
        for v, transform in enumerate(self.transforms):
            seed = hash((self.seed, self.epoch, index, v)) & 0x7FFF_FFFF_FFFF
            out = transform(sample, torch.Generator().manual_seed(seed))  # video (C, 1, H, W)
            views.append({"geometry": [], **out})  # the geometric ops recorded, in every view (collate)
        return {"views": views, "video": views[0]["video"], "label": label, "index": index}
