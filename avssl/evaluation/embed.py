"""Embeddings of a dataset (or of files) from a trained run, for retrieval and probes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avssl.config import from_dict
from avssl.data.datasets.base import ClipDataset, ClipItem
from avssl.data.loader import DataConfig, build_dataset, build_loader, clip_spec, data_transforms
from avssl.device import to_device


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


@torch.no_grad()
def compute_embeddings(
    task: torch.nn.Module,
    dataset,
    batch_size: int = 32,
    num_workers: int = 2,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """{"video": (N, D), "audio": (N, D), "ids": (N,), "labels": (N,) (-1 when unlabelled)} in dataset order."""
    loader = build_loader(dataset, batch_size, num_workers)
    video, audio, ids, labels = [], [], [], []
    for batch in tqdm(loader, desc="embed", leave=False):
        batch = to_device(batch, device)
        video.append(task.embed_video(batch).float().cpu())
        audio.append(task.embed_audio(batch).float().cpu())
        ids.extend(m["id"] for m in batch["meta"])
        labels.extend(batch["label"].tolist() if "label" in batch else [-1] * len(batch["meta"]))
    return {
        "video": torch.cat(video).numpy(),
        "audio": torch.cat(audio).numpy(),
        "ids": np.array(ids),
        "labels": np.array(labels, dtype=np.int64),
    }


def dataset_for_run(run_config: dict, root: str | None, layout: str | None, split: str | None):
    """The evaluation dataset (centre windows, eval transforms) of a run's data settings."""
    return build_dataset(eval_data_config(run_config, root, layout, split), train=False, seed=0)
