"""Data of the HCL recipe: scenes of an ImageFolder tree with their object crops (`ImageObjectsDataset`),
the objects' boxes annotated or from unsupervised saliency, and synthetic multi-object scenes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avssl import distributed
from avssl.data.datasets.image_folder import image_folder_items, read_image_annotations
from avssl.data.datasets.image_objects import ImageObjectsDataset
from avssl.data.loader import sized_transforms
from avssl.runner.image_data import ImageDataConfig, instance_transforms
from avssl.transforms.saliency import saliency, saliency_box

OBJECT_SOURCES = ("saliency", "annotations")


@dataclass
class HCLDataConfig(ImageDataConfig):
    """`ImageDataConfig` + where the training objects come from (`objects`: `saliency`, label-free, one
    box per image, the random-init CNN's or spectral-residual map (`saliency_method`) through
    `saliency_box`; or `annotations`, the tree's annotated boxes), at most `max_objects` per image, crops
    resized to `object_size` px. Object views: two of `transforms` (MoCo v2's augmentation); scenes: the
    photometric part of it on the whole image (`instance_transforms`: no crop, so the objects stay in)."""

    objects: str = "saliency"
    max_objects: int = 3
    object_size: int = 32
    synthetic: dict[str, int] = field(default_factory=lambda: {"train": 256, "val": 96})
    synthetic_objects: list[int] = field(
        default_factory=lambda: [1, 3]
    )  # objects per synthetic scene: min, max

    def __post_init__(self):
        super().__post_init__()
        if self.objects not in OBJECT_SOURCES:
            raise ValueError(f"data.objects must be one of {OBJECT_SOURCES}, got {self.objects!r}")


class ObjectBoxes:
    """`(path, pixels (H, W, 3) uint8) → [[x0, y0, x1, y1], …]` for the images of `root[/split]`: the
    annotated boxes (`annotations/<split>.json`, labelled object first) or one unsupervised saliency box
    (cached per path). Picklable for workers."""

    def __init__(
        self, source: str, root: str, split: str | None, method: str = "random_cnn", layer: str = ""
    ):
        if source not in OBJECT_SOURCES:
            raise ValueError(f"object boxes come from {OBJECT_SOURCES}, got {source!r}")
        self.source, self.method, self.layer = source, method, layer or "layer1"
        self.folder = Path(root) / split if split else Path(root)
        self.annotations = read_image_annotations(root, split) if source == "annotations" else None
        self._cache: dict[str, list[list[float]]] = {}

    def __call__(self, path: str, pixels) -> list[list[float]]:
        if self.annotations is not None:
            rel = Path(path).relative_to(self.folder).as_posix()
            return [list(map(float, o["box"])) for o in self.annotations.get(rel, {}).get("objects", [])]
        if path not in self._cache:
            kwargs = {"layer": self.layer} if self.method == "random_cnn" else {}
            maps = saliency(pixels.permute(2, 0, 1), self.method, **kwargs)
            self._cache[path] = [saliency_box(maps[0])]
        return self._cache[path]


def hcl_dataset(cfg: Any) -> ImageObjectsDataset:
    """The training scenes of `cfg.data` with two augmented views of each object crop."""
    data: HCLDataConfig = cfg.data
    items, _ = image_folder_items(data.root, data.split)
    boxes = ObjectBoxes(data.objects, data.root, data.split, data.saliency_method, data.saliency_layer)
    objects = sized_transforms(data.transforms, data.object_size)
    return ImageObjectsDataset(
        items,
        sized_transforms(instance_transforms(data.transforms), data.size),
        [objects, objects],
        boxes,
        data.object_size,
        data.max_objects,
        seed=cfg.train.seed,
        skip_bad=True,
    )


def scene_object_dataset(data: Any, split: str | None, max_objects: int = 16) -> ImageObjectsDataset:
    """Evaluation scenes of `split` (the data's evaluation transform) and one view of each annotated object
    crop (resized to `data.object_size`, else half the image size, then the evaluation transform)."""
    items, _ = image_folder_items(data.root, split)
    object_size = getattr(data, "object_size", max(2, data.size // 2))
    return ImageObjectsDataset(
        items,
        sized_transforms(data.eval_transforms, data.size),
        [sized_transforms(data.eval_transforms, object_size)],
        ObjectBoxes("annotations", data.root, split),
        object_size,
        max_objects,
    )


def synth_scenes(cfg: Any, run: Path) -> None:
    """With `data.root` empty, synthetic multi-object scenes (`data.synthetic_objects` objects each, exact
    boxes) in OUTPUT/synthetic become the data."""
    from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder

    if cfg.data.root:
        return
    root = run / "synthetic"
    if distributed.rank() == 0 and not (root / cfg.data.split).is_dir():
        spec = ImageSynthSpec(
            size=cfg.data.size, seed=cfg.train.seed, objects=tuple(cfg.data.synthetic_objects)
        )
        write_image_folder(root, cfg.data.synthetic, spec=spec)
    distributed.barrier()
    cfg.data.root = str(root)
