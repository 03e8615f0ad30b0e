"""Data of the SaDL-CD recipe (`avssl.tasks.sadl`): the single-date images of a bi-temporal tree (LEVIR-CD /
WHU-CD layout) with a semantic mask each — label PNGs from folders, or unsupervised saliency — as two views
with aligned class-balanced points (`avssl.data.datasets.semantic_points`); synthetic pairs with semantic
masks when `data.root` is empty."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avssl import distributed
from avssl.data.annotations import AnnotationError
from avssl.data.datasets.semantic_points import SemanticPointsDataset, semantic_items
from avssl.data.loader import sized_transforms
from avssl.runner.image_data import ImageDataConfig, ImageMasks

SEMANTIC_SOURCES = ("folders", "saliency")


def _photometric() -> list[dict]:
    """The release's photometric augmentation (its geometry — crop of 80–100 %, both flips — is the
    dataset's own, to keep the points aligned): colour jitter 0.4/0.4/0.4/0.1 (p 0.8), Gaussian blur with
    sigma ~ U[0.1, 2.0] (p 0.5), normalisation."""
    return [
        {"name": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8},
        {"name": "gaussian_blur", "sigma": [0.1, 2.0], "p": 0.5},
        {"name": "normalize"},
    ]


@dataclass
class SaDLDataConfig(ImageDataConfig):
    """`ImageDataConfig` (root: a LEVIR-CD / WHU-CD tree; `transforms`: photometric only) + the date folders
    whose images are the training images (`dates`), where their semantic masks come from (`semantic_masks`:
    `folders` — `mask_dirs`, date → folder relative to ROOT/<split> or absolute, label PNGs named as the
    images; `saliency` — unsupervised, the pixels above the mean of the saliency map `saliency_method`), the
    views' crop (`crop_scale`, fraction of the area) and points per class (`points_per_class`)."""

    layout: str = "levir-cd"
    transforms: list[dict] = field(default_factory=_photometric)
    dates: list[str] = field(default_factory=lambda: ["A", "B"])
    semantic_masks: str = "folders"
    mask_dirs: dict[str, str] = field(default_factory=lambda: {"A": "semantic/A", "B": "semantic/B"})
    crop_scale: list[float] = field(default_factory=lambda: [0.8, 1.0])
    points_per_class: int = 16
    synthetic: dict[str, int] = field(default_factory=lambda: {"train": 128, "val": 16, "test": 48})

    def __post_init__(self):
        super().__post_init__()
        if self.semantic_masks not in SEMANTIC_SOURCES:
            raise ValueError(
                f"data.semantic_masks must be one of {SEMANTIC_SOURCES}, got {self.semantic_masks!r}"
            )
        if not self.dates:
            raise ValueError("data.dates must name at least one date folder (A, B)")
        if self.points_per_class < 1:
            raise ValueError(f"data.points_per_class must be >= 1, got {self.points_per_class}")


def sadl_dataset(cfg: Any) -> SemanticPointsDataset:
    """The training images of `cfg.data` with two views and aligned points each. Errors (AnnotationError):
    no first-date folder, or (`folders`) a date's mask folder missing — naming the folder and the fix."""
    data: SaDLDataConfig = cfg.data
    folders = data.semantic_masks == "folders"
    if folders:
        base = Path(data.root) / data.split if data.split else Path(data.root)
        for date in data.dates:
            folder = Path(data.mask_dirs.get(date, ""))
            folder = folder if folder.is_absolute() else base / folder
            if date not in data.mask_dirs or not folder.is_dir():
                raise AnnotationError(
                    folder,
                    f"no semantic mask folder for date {date}: set data.mask_dirs (date -> folder of label "
                    "PNGs) or data.semantic_masks=saliency (unsupervised masks)",
                )
    items = semantic_items(data.root, data.split, data.dates, data.mask_dirs if folders else None)
    masks = None
    if not folders:
        masks = ImageMasks(
            "saliency", data.root, data.split, data.saliency_layer, method=data.saliency_method
        )
    return SemanticPointsDataset(
        items,
        sized_transforms(data.transforms, data.size),
        data.size,
        tuple(data.crop_scale),
        data.points_per_class,
        cfg.model.classes,
        masks,
        seed=cfg.train.seed,
        skip_bad=True,
    )


def synth_change_pairs(cfg: Any, run: Path) -> None:
    """With `data.root` empty, synthetic LEVIR-CD pairs (`data.synthetic` per split, `data.size` px) with
    each date's semantic masks in OUTPUT/synthetic become the data (pretraining and change detection)."""
    from avssl.data.synthetic.change import ChangeSynthSpec, write_change_detection

    if cfg.data.root:
        return
    root = run / "synthetic"
    if distributed.rank() == 0 and not (root / "synth_gt.json").is_file():
        write_change_detection(
            root, cfg.data.synthetic, ChangeSynthSpec(size=cfg.data.size, seed=cfg.train.seed)
        )
    distributed.barrier()
    cfg.data.root = str(root)
