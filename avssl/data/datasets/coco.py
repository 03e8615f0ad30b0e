"""COCO detection trees as downloaded (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014):

    ROOT/train2017/<file_name>                   the images of a split (any image format PIL reads)
    ROOT/val2017/<file_name>
    ROOT/annotations/instances_<split>.json      {"images", "annotations", "categories", …}

`images`: id, file_name, width, height. `annotations`: id, image_id, category_id, bbox [x, y, w, h] in
pixels (top-left corner, width, height), area, iscrowd (1: a crowd region, not an object to detect; kept,
flagged), segmentation (polygons or RLE; not read here — pycocotools decodes them). `categories`: id, name.
COCO's category ids are not contiguous (1..90 for 80 classes); the reader maps them, sorted, to labels
0..K−1 (`COCODataset.label_of`).

The whole annotation file is checked when the dataset is built; every bad input is one `AnnotationError`
naming the file and the problem: a missing key (`images`, `annotations`, `categories` or an entry's
field), a duplicate id, an annotation of an unknown image or category, a box with non-positive width or
height or outside its image (by more than `BOX_TOLERANCE` pixels), an image file listed but missing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from avssl.data.annotations import AnnotationError, read_json

BOX_TOLERANCE = 0.5  # pixels a box may reach past the image border (rounding in exported annotations)
_SHORT_SPLITS = {"train": "train2017", "val": "val2017"}


def coco_split(split: str) -> str:
    """The split's folder name: "train" / "val" are COCO 2017's "train2017" / "val2017"; others as given."""
    return _SHORT_SPLITS.get(split, split)


def annotation_file(root: str | os.PathLike, split: str) -> Path:
    """ROOT/annotations/instances_<split>.json."""
    return Path(root) / "annotations" / f"instances_{coco_split(split)}.json"


def is_coco_root(path: str | os.PathLike) -> bool:
    """Whether `path` holds annotations/instances_*.json (a COCO tree)."""
    return (
        bool(str(path)) and Path(path).is_dir() and any((Path(path) / "annotations").glob("instances_*.json"))
    )


@dataclass(frozen=True)
class COCOObject:
    """One annotation: its id, category id, label in 0..K−1, box [x0, y0, x1, y1] in pixels (x1 = x + w,
    y1 = y + h), area and crowd flag."""

    id: int
    category_id: int
    label: int
    box: tuple[float, float, float, float]
    area: float
    iscrowd: bool


@dataclass(frozen=True)
class COCOImage:
    """One image entry: id, file name (relative to the split folder), (width, height), its objects."""

    id: int
    file_name: str
    size: tuple[int, int]
    objects: tuple[COCOObject, ...]


def _field(entry: object, key: str, kind: type | tuple[type, ...], path: Path, where: str):
    if not isinstance(entry, dict) or key not in entry:
        raise AnnotationError(path, f"{where}: missing {key!r}")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise AnnotationError(path, f"{where}: {key!r} is {value!r}, not a {getattr(kind, '__name__', kind)}")
    return value


def _box(entry: dict, size: tuple[int, int], path: Path, where: str) -> tuple[float, float, float, float]:
    bbox = _field(entry, "bbox", list, path, where)
    if len(bbox) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in bbox):
        raise AnnotationError(path, f"{where}: bbox {bbox} is not four finite numbers [x, y, w, h]")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise AnnotationError(path, f"{where}: bbox {bbox} has a non-positive width or height")
    width, height = size
    t = BOX_TOLERANCE
    if x < -t or y < -t or x + w > width + t or y + h > height + t:
        raise AnnotationError(path, f"{where}: bbox {bbox} [x, y, w, h] outside the {width}x{height} image")
    return (x, y, x + w, y + h)


def read_coco_annotations(path: str | os.PathLike) -> tuple[list[dict], list[COCOImage]]:
    """(categories [{"id", "name"}] sorted by id, images in file order with their objects). Every check of
    the module docstring except the image files'."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(path, "not a COCO annotation file (the top level is not an object)")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise AnnotationError(
            path, f"not a COCO annotation file: no {' / '.join(repr(k) for k in missing)} list"
        )
    categories = []
    for n, cat in enumerate(data["categories"]):
        where = f"categories[{n}]"
        categories.append(
            {"id": _field(cat, "id", int, path, where), "name": _field(cat, "name", str, path, where)}
        )
    ids = [c["id"] for c in categories]
    if len(set(ids)) != len(ids):
        raise AnnotationError(path, "categories: duplicate category id")
    if not categories:
        raise AnnotationError(path, "categories: empty list")
    categories.sort(key=lambda c: c["id"])
    label_of = {c["id"]: k for k, c in enumerate(categories)}
    entries: dict[int, dict] = {}
    for n, img in enumerate(data["images"]):
        where = f"images[{n}]"
        image_id = _field(img, "id", int, path, where)
        if image_id in entries:
            raise AnnotationError(path, f"{where}: duplicate image id {image_id}")
        size = (_field(img, "width", int, path, where), _field(img, "height", int, path, where))
        if min(size) < 1:
            raise AnnotationError(path, f"{where}: size {size[0]}x{size[1]} is empty")
        entries[image_id] = {
            "file_name": _field(img, "file_name", str, path, where),
            "size": size,
            "objects": [],
        }
    seen: set[int] = set()
    for n, ann in enumerate(data["annotations"]):
        where = f"annotations[{n}]"
        ann_id = _field(ann, "id", int, path, where)
        if ann_id in seen:
            raise AnnotationError(path, f"{where}: duplicate annotation id {ann_id}")
        seen.add(ann_id)
        image_id = _field(ann, "image_id", int, path, where)
        category_id = _field(ann, "category_id", int, path, where)
        if image_id not in entries:
            raise AnnotationError(path, f"{where}: image_id {image_id} is no image of the file")
        if category_id not in label_of:
            raise AnnotationError(path, f"{where}: category_id {category_id} is no category of the file")
        entry = entries[image_id]
        box = _box(ann, entry["size"], path, where)
        area = float(ann.get("area", (box[2] - box[0]) * (box[3] - box[1])))
        obj = COCOObject(ann_id, category_id, label_of[category_id], box, area, bool(ann.get("iscrowd", 0)))
        entry["objects"].append(obj)
    images = [COCOImage(i, e["file_name"], e["size"], tuple(e["objects"])) for i, e in entries.items()]
    return categories, images


class COCODataset:
    """The images of one split of a COCO tree with their boxes and category labels. The annotation file is
    checked whole and every image file it lists is checked to exist when the dataset is built (one error
    naming the first missing file and how many are missing)."""

    def __init__(self, root: str | os.PathLike, split: str = "val2017"):
        self.root, self.split = Path(root), coco_split(split)
        self.annotation_path = annotation_file(self.root, self.split)
        self.categories, self.images = read_coco_annotations(self.annotation_path)
        self.label_of = {c["id"]: k for k, c in enumerate(self.categories)}
        missing = [p for p in (self.image_path(i) for i in range(len(self))) if not p.is_file()]
        if missing:
            raise AnnotationError(
                missing[0], f"listed in {self.annotation_path} but missing ({len(missing)} images missing)"
            )

    @property
    def classes(self) -> tuple[str, ...]:
        """The category names of labels 0..K−1 (categories sorted by id)."""
        return tuple(c["name"] for c in self.categories)

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        return self.root / self.split / self.images[index].file_name

    def image(self, index: int) -> np.ndarray:
        """RGB uint8 (H, W, 3); an image whose size is not its entry's is an AnnotationError."""
        path, entry = self.image_path(index), self.images[index]
        try:
            with Image.open(path) as img:
                if img.size != entry.size:
                    raise AnnotationError(
                        path,
                        f"image is {img.size[0]}x{img.size[1]}, "
                        f"its entry says {entry.size[0]}x{entry.size[1]}",
                    )
                return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise AnnotationError(path, f"not a readable image ({err})") from None

    def target(self, index: int, crowd: bool = False) -> dict[str, np.ndarray]:
        """{"boxes": float32 (N, 4) [x0, y0, x1, y1] in pixels, "labels": int64 (N,) in 0..K−1} of the
        image's objects (crowd regions only with `crowd`)."""
        objects = [o for o in self.images[index].objects if crowd or not o.iscrowd]
        return {
            "boxes": np.array([o.box for o in objects], np.float32).reshape(-1, 4),
            "labels": np.array([o.label for o in objects], np.int64),
        }
