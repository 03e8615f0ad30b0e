"""The image tasks' recipe declarations (`avssl.runner.specs.TaskRecipe` fields per task, assembled there):
their eval section, synthetic data and training sets."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avssl import distributed
from avssl.runner.cyborgs_data import CYBORGSDataConfig, cyborgs_dataset, synth_cyborgs
from avssl.runner.hcl_data import HCLDataConfig, hcl_dataset, synth_scenes
from avssl.runner.image_data import ImageDataConfig, image_dataset, image_ssl_presets
from avssl.runner.keep_best import KeepBest
from avssl.runner.sadl_data import SaDLDataConfig, sadl_dataset, synth_change_pairs


@dataclass
class ImageEvalConfig(KeepBest):
    """After training, on `split` (None = skip): probes of the frozen backbone, view retrieval (held-out
    pretext), the background / shift suites on masks `masks` (never the training's `data.masks`); `root`: a
    VOC tree (`dense_probe`, `voc_classification`), COCO tree (`detection`) or LEVIR-CD tree
    (`change_detection`), empty: data.root when it is one; the fine-tuning steps of the last two."""

    split: str | None = "val"
    root: str = ""
    view_seed: int = 12345
    every: int = 0
    evaluators: list[str] | None = None
    masks: str = ""  # background suite: annotations | saliency ("": the tree's masks, else saliency)
    shift_severity: int = 3  # shift suite: the corruptions' severity (1–5, ImageNet-C's scale)
    detection_steps: int = 300  # detection evaluator: SGD steps of Faster R-CNN fine-tuning
    detection_frozen: bool = (
        False  # detection evaluator: the backbone frozen (only the detector's heads train)
    )
    change_steps: int = 200  # change_detection evaluator: steps of the Siamese fine-tuning
    change_backbone_lr_scale: float = 1.0  # change_detection: backbone lr / decoder lr (0: frozen backbone)


@dataclass
class SaDLEvalConfig(ImageEvalConfig):
    """`ImageEvalConfig` scored on the change tree's `test` split (SaDL-CD: `change_detection`)."""

    split: str | None = "test"


def _synth_images(cfg: Any, run: Path) -> None:
    """With `data.root` empty, a synthetic ImageFolder tree (`data.synthetic` images per split); with a
    `synthetic_background_p` key (image_ssl), striped backgrounds with that class-background trap."""
    from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder

    if cfg.data.root:
        return
    root = run / "synthetic"
    if distributed.rank() == 0 and not (root / cfg.data.split).is_dir():
        trap = {}
        if hasattr(cfg, "synthetic_background_p"):
            trap = {"objects": (1, 2), "background": "stripes", "background_p": cfg.synthetic_background_p}
        write_image_folder(
            root, cfg.data.synthetic, spec=ImageSynthSpec(size=cfg.data.size, seed=cfg.train.seed, **trap)
        )
    distributed.barrier()
    cfg.data.root = str(root)


def views_dataset(cfg: Any):
    """Two augmented views per training image; warns when the MoCo queues hold every image several times."""
    dataset = image_dataset(cfg.data, cfg.data.split, train=True, seed=cfg.train.seed)
    queue = max(cfg.model.queue_size, getattr(cfg.model, "dense_queue_size", 0))
    if queue >= len(dataset) and distributed.rank() == 0:
        print(
            f"{cfg.task}: warning: a queue of {queue} keys for {len(dataset)} training images holds every "
            "image several times as a negative of itself; set model.queue_size / model.dense_queue_size below "
            "the number of images",
            file=sys.stderr,
        )
    return dataset


IMAGE_RECIPES: dict[str, dict[str, Any]] = {
    "image_multissl": dict(
        data=ImageDataConfig,
        eval=ImageEvalConfig,
        evaluators=("image_probe", "view_retrieval"),
        synthesize=_synth_images,
        dataset=views_dataset,
        stages=True,
        output_dir="runs/multissl_image",
    ),
    "image_ssl": dict(
        data=ImageDataConfig,
        eval=ImageEvalConfig,
        evaluators=("image_probe", "background_robustness", "shift_robustness"),
        synthesize=_synth_images,
        dataset=views_dataset,
        resolve=image_ssl_presets,
        extras=(("method", str, ""), ("views", str, ""), ("synthetic_background_p", float, 0.8)),
    ),
    "hcl": dict(
        data=HCLDataConfig,
        eval=ImageEvalConfig,
        evaluators=("image_probe", "scene_object_retrieval"),
        synthesize=synth_scenes,
        dataset=hcl_dataset,
    ),
    "cyborgs": dict(
        data=CYBORGSDataConfig,
        eval=ImageEvalConfig,
        evaluators=("segment_quality", "dense_probe", "image_probe"),
        synthesize=synth_cyborgs,
        dataset=cyborgs_dataset,
    ),
    "sadl": dict(
        data=SaDLDataConfig,
        eval=SaDLEvalConfig,
        evaluators=("change_detection",),
        synthesize=synth_change_pairs,
        dataset=sadl_dataset,
    ),
}
