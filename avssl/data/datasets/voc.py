"""Pascal VOC trees as downloaded (Everingham, Van Gool, Williams, Winn & Zisserman, "The PASCAL Visual
Object Classes (VOC) Challenge", IJCV 2010):

    ROOT/JPEGImages/<id>.jpg                 the images
    ROOT/SegmentationClass/<id>.png          8-bit palette PNG: index 0 background, 1..K the classes,
                                             255 'void' (the band around object outlines, not scored)
    ROOT/SegmentationObject/<id>.png         the same with instance indices (optional)
    ROOT/Annotations/<id>.xml                filename, size, one <object> per object: <name>, <difficult>,
                                             <bndbox> xmin/ymin/xmax/ymax (1-based, inclusive)
    ROOT/ImageSets/Segmentation/<split>.txt  ids of the segmentation task's split, one per line
    ROOT/ImageSets/Main/<split>.txt          ids of the classification / detection split
    ROOT/classes.txt                         optional (not in the download): one class name per line for
                                             index 1..K; absent: the 20 VOC classes (`VOC_CLASSES`)

ROOT is the folder holding JPEGImages (VOCdevkit/VOC2012); `voc_root` also accepts VOCdevkit or its parent
when it holds a single VOC* folder. Masks are read as palette *indices*, never as colours. Every bad input
is one `AnnotationError` naming the file and the problem.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from avssl.data.annotations import AnnotationError, check_box, read_xml

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
VOID = 255  # the 'void' label: object outlines and hard regions, ignored by training and scoring
TASK_DIRS = {"segmentation": "Segmentation", "main": "Main"}


def voc_colormap(n: int = 256) -> np.ndarray:
    """The VOC devkit's colour map (n, 3) uint8: colour i spreads the bits of i over the high bits of R, G, B
    (0 black, 1 (128, 0, 0), …, 255 (224, 224, 192))."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for k in range(3):
                rgb[k] |= ((c >> k) & 1) << (7 - j)
            c >>= 3
        cmap[i] = rgb
    return cmap


def write_palette_png(path: str | os.PathLike, indices: np.ndarray) -> Path:
    """Write (H, W) uint8 indices as an 8-bit palette PNG with the VOC colour map (as SegmentationClass)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(indices, np.uint8), mode="P")
    img.putpalette(voc_colormap().reshape(-1).tolist())
    img.save(path)
    return path


def voc_root(path: str | os.PathLike) -> Path:
    """The folder holding JPEGImages: `path` itself, or its single VOC* folder (also under VOCdevkit/)."""
    path = Path(path)
    if (path / "JPEGImages").is_dir():
        return path
    found = sorted(p.parent for p in [*path.glob("VOC*/JPEGImages"), *path.glob("VOCdevkit/VOC*/JPEGImages")])
    if len(found) == 1:
        return found[0]
    if found:
        raise AnnotationError(path, f"holds several VOC trees ({', '.join(p.name for p in found)}); name one")
    raise AnnotationError(path, "not a VOC tree (no JPEGImages/ folder here or in a VOC*/ folder)")


def is_voc_root(path: str | os.PathLike) -> bool:
    """Whether `voc_root(path)` finds a VOC tree."""
    try:
        return bool(str(path)) and Path(path).is_dir() and voc_root(path).is_dir()
    except AnnotationError:
        return False


def voc_classes(root: str | os.PathLike) -> tuple[str, ...]:
    """The class names of index 1..K: ROOT/classes.txt when present, else the 20 VOC classes."""
    path = Path(root) / "classes.txt"
    if not path.is_file():
        return VOC_CLASSES
    names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not names or len(set(names)) != len(names) or len(names) >= VOID:
        raise AnnotationError(path, f"needs 1..254 distinct class names, one per line, got {len(names)}")
    return names


def voc_ids(root: str | os.PathLike, split: str, task: str = "segmentation") -> list[str]:
    """The ids of ImageSets/<Segmentation|Main>/<split>.txt (`task`: segmentation | main)."""
    if task not in TASK_DIRS:
        raise ValueError(f"task must be one of {tuple(TASK_DIRS)}, got {task!r}")
    path = Path(root) / "ImageSets" / TASK_DIRS[task] / f"{split}.txt"
    if not path.is_file():
        raise AnnotationError(path, f"split file not found (no {split!r} split for the {task} task)")
    ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise AnnotationError(path, "lists no image ids")
    return ids


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image file from its header; unreadable: AnnotationError."""
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise AnnotationError(path, f"not a readable image ({err})") from None


def read_voc_mask(
    path: str | os.PathLike, num_classes: int, size: tuple[int, int] | None = None
) -> np.ndarray:
    """A SegmentationClass PNG as its palette indices (H, W) uint8. Errors: not a palette (or 8-bit
    grayscale) PNG, an index outside 0..`num_classes` and 255 (unknown class), a size other than `size`
    ((width, height) of its image)."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise AnnotationError(
                    path, f"not a palette PNG (mode {img.mode}); VOC masks hold class indices"
                )
            if size is not None and img.size != tuple(size):
                raise AnnotationError(
                    path, f"mask is {img.size[0]}x{img.size[1]} but its image is {size[0]}x{size[1]}"
                )
            indices = np.asarray(img, dtype=np.uint8).copy()  # mode P: the indices, not the colours
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise AnnotationError(path, f"not a readable PNG ({err})") from None
    values = np.unique(indices)
    unknown = [int(v) for v in values if v > num_classes and v != VOID]
    if unknown:
        raise AnnotationError(
            path, f"indices {unknown} are no class (expected 0..{num_classes} and {VOID} for void)"
        )
    return indices


@dataclass(frozen=True)
class VOCObject:
    """One annotated object: class name, its index in 0..K−1 (background excluded), the box in 0-based
    pixel coordinates [x0, y0, x1, y1] with x1 / y1 exclusive, and VOC's `difficult` flag."""

    name: str
    label: int
    box: tuple[float, float, float, float]
    difficult: bool


@dataclass(frozen=True)
class VOCAnnotation:
    filename: str
    size: tuple[int, int]  # (width, height)
    objects: tuple[VOCObject, ...]


def _text(element: ET.Element, tag: str, path: Path, where: str) -> str:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise AnnotationError(path, f"{where}: missing <{tag}>")
    return child.text.strip()


def _int(element: ET.Element, tag: str, path: Path, where: str) -> int:
    text = _text(element, tag, path, where)
    try:
        return int(float(text))
    except ValueError:
        raise AnnotationError(path, f"{where}: <{tag}> {text!r} is not a number") from None


def read_voc_annotation(path: str | os.PathLike, classes: tuple[str, ...]) -> VOCAnnotation:
    """An Annotations/<id>.xml: filename, size and objects. VOC boxes are 1-based and inclusive; returned
    as 0-based with exclusive ends: (xmin − 1, ymin − 1, xmax, ymax). Errors: malformed XML, a missing
    field, an unknown class name, an empty / inverted box or one outside the image."""
    path = Path(path)
    root = read_xml(path)
    if root.tag != "annotation":
        raise AnnotationError(path, f"root element is <{root.tag}>, not <annotation>")
    size_el = root.find("size")
    if size_el is None:
        raise AnnotationError(path, "missing <size>")
    width, height = _int(size_el, "width", path, "size"), _int(size_el, "height", path, "size")
    objects = []
    for n, obj in enumerate(root.findall("object")):
        where = f"object {n + 1}"
        name = _text(obj, "name", path, where)
        if name not in classes:
            raise AnnotationError(path, f"{where}: unknown class {name!r} (classes: {', '.join(classes)})")
        box_el = obj.find("bndbox")
        if box_el is None:
            raise AnnotationError(path, f"{where}: missing <bndbox>")
        xmin, ymin, xmax, ymax = (_int(box_el, t, path, where) for t in ("xmin", "ymin", "xmax", "ymax"))
        box = check_box([xmin - 1.0, ymin - 1.0, float(xmax), float(ymax)], where, path)
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            raise AnnotationError(
                path, f"{where}: box {xmin, ymin, xmax, ymax} outside the {width}x{height} image"
            )
        difficult = obj.find("difficult") is not None and _int(obj, "difficult", path, where) == 1
        objects.append(VOCObject(name, classes.index(name), tuple(box), difficult))
    filename = _text(root, "filename", path, "annotation")
    return VOCAnnotation(filename, (width, height), tuple(objects))


class VOCDataset:
    """The images of one split of a VOC tree (`task` segmentation: with masks; main: with annotations).
    Every file the split lists is checked to exist when the dataset is built (one error naming the first
    missing file and how many are missing); masks and XML are checked when read."""

    def __init__(self, root: str | os.PathLike, split: str, task: str = "segmentation"):
        self.root = voc_root(root)
        self.split, self.task = split, task
        self.classes = voc_classes(self.root)
        self.ids = voc_ids(self.root, split, task)
        missing = [p for i in self.ids for p in self.files(i).values() if not p.is_file()]
        if missing:
            listed = self.root / "ImageSets" / TASK_DIRS[task] / f"{split}.txt"
            raise AnnotationError(
                missing[0], f"listed in {listed} but missing ({len(missing)} files missing)"
            )

    @property
    def num_classes(self) -> int:
        """K, the object classes (the masks' indices are 0..K, 0 = background)."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.ids)

    def files(self, item_id: str) -> dict[str, Path]:
        """The files the split's task needs for `item_id`: image and mask, or image and annotation."""
        out = {"image": self.root / "JPEGImages" / f"{item_id}.jpg"}
        if self.task == "segmentation":
            out["mask"] = self.root / "SegmentationClass" / f"{item_id}.png"
        else:
            out["annotation"] = self.root / "Annotations" / f"{item_id}.xml"
        return out

    def image(self, index: int) -> np.ndarray:
        """RGB uint8 (H, W, 3)."""
        path = self.files(self.ids[index])["image"]
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise AnnotationError(path, f"not a readable image ({err})") from None

    def mask(self, index: int) -> np.ndarray:
        """Class indices (H, W) uint8 of the image's size: 0 background, 1..K, 255 void."""
        files = self.files(self.ids[index])
        if "mask" not in files:
            raise ValueError("masks are read from a segmentation split (task='segmentation')")
        return read_voc_mask(files["mask"], self.num_classes, image_size(files["image"]))

    def annotation(self, index: int) -> VOCAnnotation:
        """The objects of Annotations/<id>.xml (read for either task)."""
        return read_voc_annotation(self.root / "Annotations" / f"{self.ids[index]}.xml", self.classes)
