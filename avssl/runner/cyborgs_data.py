"""Data and evaluation of the CYBORGS recipe: two augmented crops of each training image plus the whole
image resized to the segment bank's square (the masks' frame), synthetic multi-object scenes (an ImageFolder
tree with instance masks to train on and score segments against, and a Pascal VOC tree of the same
generator for the dense probe), and the `segment_quality` evaluator (`avssl.evaluation.segments`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from avssl import distributed
from avssl.data.datasets.image_folder import MASKS_DIR, ImageViewsDataset, image_folder_items
from avssl.data.decoding.images import read_image
from avssl.data.loader import sized_transforms
from avssl.runner.image_data import ImageDataConfig


@dataclass
class CYBORGSDataConfig(ImageDataConfig):
    """`ImageDataConfig` (views 0 and 1: two of `transforms`, MoCo v2's augmentation) + the synthetic
    scenes' objects per image (min, max) and the VOC tree's images per split written for the dense probe
    when `root` is empty."""

    synthetic: dict[str, int] = field(default_factory=lambda: {"train": 256, "val": 64})
    synthetic_objects: list[int] = field(default_factory=lambda: [1, 3])
    synthetic_voc: dict[str, int] = field(default_factory=lambda: {"train": 128, "val": 64})


def whole_image_transform(size: int):
    """View 2: the whole image resized to `size` × `size` (the bank's frame: crops map into it)."""
    return sized_transforms([{"name": "resize", "size": [size, size]}, {"name": "normalize"}], size)


def cyborgs_dataset(cfg: Any) -> ImageViewsDataset:
    """The training images of `cfg.data` as [crop, crop, whole image] views; sizes the model's bank
    (`model.bank_images`, when 0) to the training set."""
    data: CYBORGSDataConfig = cfg.data
    items, _ = image_folder_items(data.root, data.split)
    if not cfg.model.bank_images:
        cfg.model.bank_images = len(items)
    crops = sized_transforms(data.transforms, data.size)
    views = [crops, crops, whole_image_transform(cfg.model.mask_size)]
    return ImageViewsDataset(items, views, seed=cfg.train.seed, skip_bad=True)


def synth_cyborgs(cfg: Any, run: Path) -> None:
    """With `data.root` empty: synthetic scenes of `data.synthetic_objects` objects in OUTPUT/synthetic
    (ImageFolder with instance masks) and, with `eval.root` empty, a VOC tree of other scenes of the same
    generator in OUTPUT/synthetic_voc for the dense probe."""
    from avssl.data.synthetic.images import ImageSynthSpec, write_image_folder
    from avssl.data.synthetic.voc import write_voc

    if cfg.data.root:
        return
    root, voc = run / "synthetic", run / "synthetic_voc"
    spec = ImageSynthSpec(size=cfg.data.size, seed=cfg.train.seed, objects=tuple(cfg.data.synthetic_objects))
    if distributed.rank() == 0:
        if not (root / cfg.data.split).is_dir():
            write_image_folder(root, cfg.data.synthetic, spec=spec)
        if not cfg.eval.root and not (voc / "ImageSets").is_dir():
            voc_spec = ImageSynthSpec(size=spec.size, seed=spec.seed + 1, objects=spec.objects)
            write_voc(voc, cfg.data.synthetic_voc, spec=voc_spec)
    distributed.barrier()
    cfg.data.root = str(root)
    if not cfg.eval.root:
        cfg.eval.root = str(voc)


def _labels_at(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].long()


@torch.no_grad()
def segment_report(task: nn.Module, root: str, split: str, bank: bool = False, batch: int = 32) -> dict:
    """Best-overlap mIoU (`avssl.evaluation.segments`) of the images of `root/split` against their
    annotated instance masks: {"superpixels": the start, "bootstrapped": the momentum network's k-means
    segments now (as the bank would store them), "kmeans": the same without the superpixel vote (the
    paper's), "constant": one segment per image, "images"}; `bank`: also "bank", the task's stored
    segments of these images (the training split, in dataset order)."""
    from avssl.evaluation.segments import segment_miou

    items, _ = image_folder_items(root, split)
    folder, masks = Path(root) / split, Path(root) / MASKS_DIR / split
    transform = whole_image_transform(task.cfg.mask_size)
    targets, sp, boot, raw = [], [], [], []
    device = next(task.parameters()).device
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        images = []
        for path, _ in chunk:
            pixels = read_image(path)
            images.append(transform({"video": pixels.permute(2, 0, 1)[None]}, None)["video"][:, 0])
            targets.append(read_image(masks / Path(path).relative_to(folder))[..., 0].long())
        images = torch.stack(images).to(device)
        sp += list(task.superpixels(images).cpu())
        boot += list(task.segment_images(images).cpu())
        raw += list(task.segment_images(images, snap=False).cpu())

    def score(maps: list[torch.Tensor]) -> float:
        return segment_miou([_labels_at(x, tuple(t.shape)) for x, t in zip(maps, targets)], targets)

    report = {
        "superpixels": score(sp),
        "bootstrapped": score(boot),
        "kmeans": score(raw),
        "constant": score([torch.zeros_like(t) for t in targets]),
        "images": len(targets),
    }
    if bank and task.bank.shape[0] >= len(items) and bool((task.bank_round[: len(items)] >= 0).all()):
        report["bank"] = score(list(task.bank[: len(items)].cpu()))
        report["bank_round"] = int(task.bank_round[: len(items)].min())
    return report


def segment_quality(task: nn.Module, cfg: Any, run_dir: Path) -> dict | None:
    """{"segments": {"<split>": `segment_report`} for `eval.split` and (with the stored bank) the training
    split}: the masks CYBORGS trains with against the annotated instance masks of the ImageFolder tree at
    `data.root`; None without masks/ in the tree, a split, or a task with a segment bank."""
    root = cfg.data.root
    if cfg.eval.split is None or not hasattr(task, "bank") or not (Path(root) / MASKS_DIR).is_dir():
        return None
    was_training = task.training
    task.eval()
    try:
        out = {cfg.eval.split: segment_report(task, root, cfg.eval.split)}
        if cfg.data.split and (Path(root) / MASKS_DIR / cfg.data.split).is_dir():
            out[cfg.data.split] = segment_report(task, root, cfg.data.split, bank=True)
    finally:
        task.train(was_training)
    return {"segments": out}
