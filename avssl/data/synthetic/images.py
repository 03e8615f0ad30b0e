"""Synthetic images in the ImageFolder layout from the scene renderer (`avssl.data.synthetic.scene`), with
exact per-object boxes and masks, and an optional background trap.

    out/<split>/<class>/img_NNNN.png          the images (class = the labelled object's class)
    out/masks/<split>/<class>/img_NNNN.png     uint8 instance masks: 0 background, k the k-th object of
                                               the annotation (1 = the labelled object)
    out/annotations/<split>.json               {"classes": [...], "items": {"<class>/img_NNNN.png":
                                               {"label", "objects": [{"class", "box"}], "background_family"}}}

Each image shows one labelled object (the largest, drawn last so nothing occludes it) and `objects[1] − 1`
… smaller distractor objects of other classes. Backgrounds: `"texture"` (smooth random noise, the default)
or `"stripes"`, striped backgrounds whose hue and orientation may belong to a class family: with
probability `background_p` an image (of any split) shows its class's family, else a random one — the
class-background correlation of natural photos (Xiao, Engstrom, Ilyas & Madry, "Noise or Signal: The
Role of Image Backgrounds in Object Recognition", ICLR 2021). A model that reads backgrounds is then
right for the wrong reason, and the background-robustness suite (`avssl.evaluation.background`), which
swaps backgrounds, measures how much.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avssl.data.datasets.image_folder import ANNOTATIONS_DIR, MASKS_DIR
from avssl.data.media_writer import write_image
from avssl.data.synthetic.action import draw_background, render_background
from avssl.data.synthetic.scene import (
    CLASS_NAMES,
    SceneSpec,
    make_scene,
    mask_box,
    object_mask,
    render_layers,
)

BACKGROUNDS = ("texture", "stripes")


@dataclass(frozen=True)
class ImageSynthSpec:
    """Image size, classes, objects per image (min, max), background kind and trap probability."""

    size: int = 64
    num_classes: int = 4
    objects: tuple[int, int] = (1, 1)
    size_range: tuple[float, float] = (0.3, 0.6)
    background: str = "texture"
    background_p: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.num_classes <= len(CLASS_NAMES):
            raise ValueError(f"num_classes must be in [1, {len(CLASS_NAMES)}], got {self.num_classes}")
        if not 1 <= self.objects[0] <= self.objects[1] <= self.num_classes:
            raise ValueError(f"objects must be 1 <= min <= max <= num_classes, got {self.objects}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {self.background!r}")
        if not 0.0 <= self.background_p <= 1.0:
            raise ValueError(f"background_p must be in [0, 1], got {self.background_p}")


def class_folder(cls: int) -> str:
    """The folder name of class `cls` (its synthetic class name, first words, underscores)."""
    return CLASS_NAMES[cls].split(",")[0].replace(" ", "_")


def render_image(spec: ImageSynthSpec, seed: int, trap: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """One image (H, W, 3) uint8, its instance mask (H, W) uint8 and its annotation."""
    rng = np.random.default_rng(seed)
    n_objects = int(rng.integers(spec.objects[0], spec.objects[1] + 1))
    scene_spec = SceneSpec(
        width=spec.size,
        height=spec.size,
        num_classes=spec.num_classes,
        num_sounding=(n_objects, n_objects),
        num_silent=(0, 0),
        size_range=spec.size_range,
        moving=False,
    )
    scene = make_scene(scene_spec, int(rng.integers(2**31)))
    # the labelled object: the first drawn, made the largest and drawn last (on top of the distractors)
    main = scene.objects[0]
    main_mask = object_mask(main, scene_spec, 0.0)
    for obj in scene.objects[1:]:
        obj.size = min(obj.size, 0.6 * main.size)
        for _ in range(20):  # keep at least half of each distractor visible beside the labelled object
            mask = object_mask(obj, scene_spec, 0.0)
            if (mask & ~main_mask).sum() >= 0.5 * max(1, mask.sum()):
                break
            m = obj.size / 2
            obj.centre = np.array([rng.uniform(m, spec.size - m), rng.uniform(m, spec.size - m)])
    scene.objects = [*scene.objects[1:], main]
    family = None
    if spec.background == "stripes":
        family = main.cls if trap and rng.uniform() < spec.background_p else None
        bg = draw_background(rng, family, spec.num_classes)
        scene.background = render_background(bg, spec.size).astype(np.float32)
    frame, owner = render_layers(scene, 0.0)
    order = [len(scene.objects) - 1, *range(len(scene.objects) - 1)]  # annotation order: main first
    instances = np.zeros(owner.shape, np.uint8)
    objects = []
    for i in order:
        visible = owner == i
        box = mask_box(visible)
        if box is None:
            continue
        instances[visible] = len(objects) + 1
        objects.append({"class": scene.objects[i].cls, "box": box})
    return frame, instances, {"label": main.cls, "objects": objects, "background_family": family}


def write_image_folder(
    out: str | Path,
    n_per_split: dict[str, int],
    size: int = 64,
    num_classes: int = 4,
    seed: int = 0,
    spec: ImageSynthSpec | None = None,
) -> Path:
    """Write `out/<split>/<class>/img_NNNN.png` with masks and annotations for every split ({"train": 96,
    "val": 32}); `spec` overrides size / classes / seed. Returns `out`."""
    out = Path(out)
    spec = spec or ImageSynthSpec(size=size, num_classes=num_classes, seed=seed)
    for s, (split, n) in enumerate(sorted(n_per_split.items())):
        items = {}
        for i in range(n):
            image, instances, ann = render_image(spec, spec.seed * 1_000_003 + s * 100_003 + i, trap=True)
            rel = f"{class_folder(ann['label'])}/img_{i:04d}.png"
            write_image(out / split / rel, image)
            write_image(out / MASKS_DIR / split / rel, instances)
            items[rel] = ann
        classes = [class_folder(c) for c in range(spec.num_classes)]
        (out / ANNOTATIONS_DIR).mkdir(parents=True, exist_ok=True)
        (out / ANNOTATIONS_DIR / f"{split}.json").write_text(json.dumps({"classes": classes, "items": items}))
    return out
