"""Synthetic multi-object scenes (`avssl.data.synthetic.images.render_image`, the renderer VOC uses too)
written as a COCO tree laid out as the download is (Lin et al., "Microsoft COCO: Common Objects in
Context", ECCV 2014; the reader is `avssl.data.datasets.coco`):

    out/train2017/<id:012d>.jpg                 the images
    out/val2017/<id:012d>.jpg
    out/annotations/instances_train2017.json    {"info", "licenses", "images", "annotations", "categories"}
    out/annotations/instances_val2017.json

`images`: id, file_name, width, height (ids unique over the splits, from 1). `annotations`: one per visible
object: id (unique over the splits), image_id, category_id, bbox [x, y, w, h] in pixels (x, y the top-left
corner; the box of the object's visible pixels, so x + w and y + h are exclusive ends), area (its pixel
count), iscrowd 0 and `segmentation`: the instance mask as uncompressed RLE (`rle_encode`), which
`pycocotools.mask.frPyObjects` / `COCO.annToMask` decode. `categories`: id c + 1 for synthetic class c,
name `class_folder(c)` ("dog_barking", "bee", …), supercategory "synthetic".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avssl.data.media_writer import write_image
from avssl.data.synthetic.images import ImageSynthSpec, class_folder, render_image

COCO_SPLITS = {"train": "train2017", "val": "val2017"}


def rle_encode(mask: np.ndarray) -> dict:
    """COCO's uncompressed run-length encoding of a binary mask (H, W): {"counts": [n_0, n_1, …], "size":
    [H, W]}, the lengths of alternating runs of 0 and 1 over the pixels in column-major (Fortran) order,
    starting with a (possibly empty) run of 0."""
    flat = np.asarray(mask, bool).flatten(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"counts": [int(c) for c in counts], "size": [int(mask.shape[0]), int(mask.shape[1])]}


def coco_categories(num_classes: int) -> list[dict]:
    """The categories of the synthetic classes: id c + 1, name `class_folder(c)`."""
    return [{"id": c + 1, "name": class_folder(c), "supercategory": "synthetic"} for c in range(num_classes)]


def write_coco(out: str | Path, n_per_split: dict[str, int], spec: ImageSynthSpec | None = None) -> Path:
    """Write the COCO tree of `n_per_split` images per split ({"train": 48, "val": 16}; keys in
    `COCO_SPLITS`) under `out`. The scenes are the VOC layout's for the same spec and seed. Returns `out`."""
    out = Path(out)
    spec = spec or ImageSynthSpec(objects=(1, 3))
    unknown = sorted(set(n_per_split) - set(COCO_SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; choose from {sorted(COCO_SPLITS)}")
    categories = coco_categories(spec.num_classes)
    image_id = annotation_id = 0
    for s, (split, n) in enumerate(sorted(n_per_split.items())):
        folder = COCO_SPLITS[split]
        images, annotations = [], []
        for i in range(n):
            image, instances, ann = render_image(spec, spec.seed * 1_000_003 + s * 100_003 + i, trap=True)
            image_id += 1
            file_name = f"{image_id:012d}.jpg"
            write_image(out / folder / file_name, image)
            height, width = instances.shape
            images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
            for k, obj in enumerate(ann["objects"]):
                annotation_id += 1
                mask = instances == k + 1
                x0, y0, x1, y1 = (float(v) for v in obj["box"])
                annotations.append(
                    {
                        "id": annotation_id,
                        "image_id": image_id,
                        "category_id": obj["class"] + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "area": float(mask.sum()),
                        "iscrowd": 0,
                        "segmentation": rle_encode(mask),
                    }
                )
        data = {
            "info": {"description": "avssl synthetic multi-object scenes", "version": "1.0", "year": 2017},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        (out / "annotations").mkdir(parents=True, exist_ok=True)
        (out / "annotations" / f"instances_{folder}.json").write_text(json.dumps(data), encoding="utf-8")
    return out
