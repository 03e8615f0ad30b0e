"""Embeddings of a dataset (or of files) from a trained run, for retrieval and probes: the one `embed` path,
driven by the modalities the task declares (`task.embeds`, `avssl.tasks.base`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avssl.config import from_dict
from avssl.data.datasets.base import ClipDataset, ClipItem
from avssl.data.datasets.image_folder import ImageViewsDataset, image_folder_items
from avssl.data.loader import (
    DataConfig,
    build_dataset,
    build_loader,
    clip_spec,
    data_transforms,
    sized_transforms,
)
from avssl.device import module_device, to_device
from avssl.tasks.base import CapabilityError, capabilities, check_modality


def eval_data_config(run_config: dict, root: str | None, layout: str | None, split: str | None) -> DataConfig:
    """The run's data settings (duration, fps, size, rates) pointed at another dataset / split."""
    cfg = from_dict(DataConfig, run_config.get("data", {}))
    cfg.root = root if root is not None else cfg.root
    cfg.layout = layout if layout is not None else cfg.layout
    cfg.split = split
    return cfg


def files_dataset(files: list[str], cfg: DataConfig) -> ClipDataset:
    """Centre windows of arbitrary video files, with the run's eval transforms."""
    items = [ClipItem(id=Path(f).stem, path=str(f)) for f in files]
    return ClipDataset(items, clip_spec(cfg, "centre"), data_transforms(cfg, train=False), mode="eval")


def _ids_and_labels(batch: dict) -> tuple[list, list[int]]:
    """Item ids (the layout's `meta["id"]`, else the dataset index) and labels (-1 when unlabelled)."""
    size = len(batch["meta"]) if "meta" in batch else len(batch["index"])
    ids = [m["id"] for m in batch["meta"]] if "meta" in batch else batch["index"].tolist()
    labels = batch["label"].tolist() if "label" in batch else [-1] * size
    return ids, labels


@torch.no_grad()
def embed(
    task: torch.nn.Module,
    dataset,
    batch_size: int = 32,
    num_workers: int = 2,
    device: str | torch.device | None = None,
    modalities: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """{modality: (N, D) float32, "ids": (N,), "labels": (N,) int64 (-1 when unlabelled)} in dataset order.

    `modalities` defaults to every modality the task declares in `embeds` (sorted); asking for one it does
    not embed is a CapabilityError naming what it does. The task is run in eval mode and put back as it was.
    Labels come from the dataset's items (the layout loaders). Batches go to `device` (None: the device
    the task's parameters are on)."""
    device = module_device(task) if device is None else device
    offered = capabilities(task).embeds
    wanted = sorted(offered) if modalities is None else list(modalities)
    for modality in wanted:
        check_modality(task, modality)
    if not wanted:
        raise CapabilityError(f"{type(task).__name__} embeds no modality (its `embeds` is empty)")
    was_training = task.training
    task.eval()
    feats: dict[str, list[torch.Tensor]] = {m: [] for m in wanted}
    ids, labels = [], []
    try:
        for batch in tqdm(build_loader(dataset, batch_size, num_workers), desc="embed", leave=False):
            batch = to_device(batch, device)
            for modality in wanted:
                feats[modality].append(task.embed(batch, modality).float().cpu())
            batch_ids, batch_labels = _ids_and_labels(batch)
            ids.extend(batch_ids)
            labels.extend(batch_labels)
    finally:
        task.train(was_training)
    return {
        **{m: torch.cat(v).numpy() for m, v in feats.items()},
        "ids": np.array(ids),
        "labels": np.array(labels, dtype=np.int64),
    }


def image_folder_dataset(data: dict, root: str | None, split: str | None) -> ImageViewsDataset:
    """One evaluation view per image of an ImageFolder tree (`root/<split>/<class>/*`; labels = class
    folders), with the run's `eval_transforms` at its `size`."""
    defaults = DataConfig()
    transform = sized_transforms(
        data.get("eval_transforms", defaults.eval_transforms), data.get("size", defaults.size)
    )
    items, _ = image_folder_items(root if root is not None else data.get("root", ""), split)
    return ImageViewsDataset(items, [transform])


# layouts whose items are not clips: name → builder(run's data dict, root, split)
EVAL_DATASETS = {"image_folder": image_folder_dataset}


def dataset_for_run(run_config: dict, root: str | None, layout: str | None, split: str | None):
    """The evaluation dataset of a run's data settings (centre windows and eval transforms for clip
    layouts; one eval view per image for "image_folder"), pointed at `root` / `layout` / `split` when given."""
    data = run_config.get("data", {})
    name = layout if layout is not None else data.get("layout")
    if name in EVAL_DATASETS:
        return EVAL_DATASETS[name](data, root, split)
    return build_dataset(eval_data_config(run_config, root, layout, split), train=False, seed=0)
