"""Predicted masks of a trained `avs` task on an AVSBench layout's test split, for
`avssl eval segmentation --run RUN` and for evaluation during and after training.

Each test video's frames are resized to the model's square input (`data.size`), its 5 s of audio read as
in training, and `task.segment(batch)` gives (T, size, size) probabilities per video id;
:func:`avssl.evaluation.segmentation.evaluate_segmentation` resizes them to the masks' size.
"""

from __future__ import annotations

import numpy as np
import torch

from avssl.config import from_dict
from avssl.data.datasets import load_index
from avssl.data.datasets.base import ClipDataset
from avssl.data.loader import DataConfig, build_loader, clip_spec
from avssl.train.loop import to_device
from avssl.transforms import build_transforms


def avsbench_test_dataset(benchmark: str, root: str, run_data: dict | DataConfig) -> ClipDataset:
    """The test videos of `root` (layout `benchmark`) with the run's audio settings and a square resize."""
    data = run_data if isinstance(run_data, DataConfig) else from_dict(DataConfig, run_data)
    spec = clip_spec(data, "centre")
    transform = build_transforms([{"name": "resize", "size": [data.size, data.size]}, {"name": "normalize"}])
    index = load_index(benchmark, root, "test")
    return ClipDataset(index.items, spec, transform, mode="eval")


@torch.no_grad()
def predict_segmentation(
    task: torch.nn.Module,
    dataset: ClipDataset,
    batch_size: int = 4,
    num_workers: int = 2,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """{video id: (T, H, W) float32 probabilities} from `task.segment` (task in eval mode, then restored)."""
    was_training = task.training
    task.eval()
    out: dict[str, np.ndarray] = {}
    try:
        for batch in build_loader(dataset, batch_size, num_workers):
            probs = task.segment(to_device(batch, device)).float().cpu().numpy()
            out.update({meta["id"]: p for meta, p in zip(batch["meta"], probs)})
    finally:
        task.train(was_training)
    return out
