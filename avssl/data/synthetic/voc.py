"""Synthetic multi-object scenes (`avssl.data.synthetic.images.render_image`) written as a Pascal VOC tree,
laid out as the download is (Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV
2010; the reader is `avssl.data.datasets.voc`):

    out/JPEGImages/<id>.jpg
    out/SegmentationClass/<id>.png     palette PNG, VOC colour map: 0 background, c + 1 for synthetic class
                                       c, 255 the void band along every outline (object / background and
                                       object / object), `void_width` pixels on each side, as VOC draws it
    out/SegmentationObject/<id>.png    the same with instance indices 1..N (annotation order) instead
    out/Annotations/<id>.xml           VOC XML: filename, size, segmented, per object name / pose /
                                       truncated / difficult (0) / bndbox (1-based, inclusive)
    out/ImageSets/{Segmentation,Main}/{train,val}.txt
    out/classes.txt                    the class names of indices 1..K (not in the download; see the reader)

Ids are VOC-like, `2007_NNNNNN`, unique over the splits. The class names are the synthetic scene's
(`class_folder`: "dog_barking", "bee", …).
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from avssl.data.datasets.voc import VOID, write_palette_png
from avssl.data.media_writer import write_image
from avssl.data.synthetic.images import ImageSynthSpec, class_folder, render_image


def void_band(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """Boolean (H, W): pixels within `width` pixels (Chebyshev distance) of a pixel of another label — the
    band along every outline, on both sides. `width` 0: none."""
    band = np.zeros(labels.shape, bool)
    if width <= 0:
        return band
    h, w = labels.shape
    padded = np.pad(labels, width, mode="edge")
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            band |= padded[width + dy : width + dy + h, width + dx : width + dx + w] != labels
    return band


def voc_xml(item_id: str, size: tuple[int, int], objects: list[tuple[str, list[int]]]) -> str:
    """The VOC annotation of `item_id` ((width, height); objects as (name, [xmin, ymin, xmax, ymax]) in
    VOC's 1-based inclusive pixels)."""
    parts = [
        "<annotation>",
        "  <folder>VOC2012</folder>",
        f"  <filename>{escape(item_id)}.jpg</filename>",
        "  <source><database>avssl synthetic</database></source>",
        f"  <size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>",
        "  <segmented>1</segmented>",
    ]
    for name, (x0, y0, x1, y1) in objects:
        parts += [
            "  <object>",
            f"    <name>{escape(name)}</name>",
            "    <pose>Unspecified</pose>",
            "    <truncated>0</truncated>",
            "    <difficult>0</difficult>",
            f"    <bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>",
            "  </object>",
        ]
    return "\n".join([*parts, "</annotation>", ""])


def voc_box(box: list[float]) -> list[int]:
    """A 0-based box [x0, y0, x1, y1) with exclusive ends → VOC's 1-based inclusive [xmin, ymin, xmax,
    ymax]: (x0 + 1, y0 + 1, x1, y1)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return [x0 + 1, y0 + 1, x1, y1]


def write_voc(
    out: str | Path, n_per_split: dict[str, int], spec: ImageSynthSpec | None = None, void_width: int = 1
) -> Path:
    """Write the VOC tree of `n_per_split` images per split ({"train": 48, "val": 16}) under `out`.
    Returns `out`."""
    out = Path(out)
    spec = spec or ImageSynthSpec(objects=(1, 3))
    names = [class_folder(c) for c in range(spec.num_classes)]
    index = 0
    for s, (split, n) in enumerate(sorted(n_per_split.items())):
        ids = []
        for i in range(n):
            image, instances, ann = render_image(spec, spec.seed * 1_000_003 + s * 100_003 + i, trap=True)
            item_id = f"2007_{index:06d}"
            index += 1
            classes = np.zeros(instances.shape, np.uint8)
            for k, obj in enumerate(ann["objects"]):
                classes[instances == k + 1] = obj["class"] + 1
            void = void_band(classes, void_width)
            write_image(out / "JPEGImages" / f"{item_id}.jpg", image)
            write_palette_png(out / "SegmentationClass" / f"{item_id}.png", np.where(void, VOID, classes))
            write_palette_png(out / "SegmentationObject" / f"{item_id}.png", np.where(void, VOID, instances))
            objects = [(names[o["class"]], voc_box(o["box"])) for o in ann["objects"]]
            xml = voc_xml(item_id, (image.shape[1], image.shape[0]), objects)
            (out / "Annotations").mkdir(parents=True, exist_ok=True)
            (out / "Annotations" / f"{item_id}.xml").write_text(xml, encoding="utf-8")
            ids.append(item_id)
        for task in ("Segmentation", "Main"):
            (out / "ImageSets" / task).mkdir(parents=True, exist_ok=True)
            (out / "ImageSets" / task / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in names))
    return out
